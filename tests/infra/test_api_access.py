"""How clients reach the deployed API: the templates, azure.yaml and the page copy that
scripts/build_web.py writes say what docs/deploy.md ("Reaching the API", "Regions")
says. One way in for every client: the function app's URL with an API key; the web UI's
origin allowed by CORS; no Static Web Apps linked backend; Flex Consumption regions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra" / "bicep"
DOCS = (ROOT / "docs" / "deploy.md").read_text()
API_URL = "https://func-dtq-abc123.azurewebsites.net"


@cache
def parsed(name: str) -> dict[str, Any]:
    return dict(BicepParser().parse(file_path=BICEP / f"{name}.bicep"))


def resource(tree: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r["config"] for r in tree.get("resources", {}).values() if r["type"] == type_]


def module_params(name: str) -> dict[str, Any]:
    return dict(parsed("main")["modules"][name]["config"]["params"])


def dotted(node: Any) -> str:
    """``a.b.c`` for a parsed property-accessor chain (pycep nests it either way)."""
    if isinstance(node, str):
        return node
    operands = node["operator"]["operands"]
    assert node["operator"]["type"] == "property_accessor", node
    return f"{dotted(operands['operand_1'])}.{dotted(operands['operand_2'])}"


def decorator(param: dict[str, Any], kind: str) -> Any:
    return next((d["argument"] for d in param.get("decorators", []) if d["type"] == kind), None)


def test_the_static_web_app_has_no_linked_backend() -> None:
    web = parsed("modules/staticwebapp")
    assert not resource(web, "Microsoft.Web/staticSites/linkedBackends")
    assert not resource(web, "Microsoft.Web/staticSites/userProvidedFunctionApps")
    assert not {"functionAppId", "functionAppLocation"} & set(web["parameters"])


def test_cors_allows_exactly_the_static_web_apps_origin() -> None:
    site = resource(parsed("modules/functionapp"), "Microsoft.Web/sites")[0]
    cors = site["properties"]["siteConfig"]["cors"]
    assert cors == {"allowedOrigins": "allowedOrigins", "supportCredentials": False}
    given = module_params("api")["allowedOrigins"]
    assert [dotted(o) for o in given] == ["web.outputs.uri"], (
        "the function app's CORS origin is the web module's uri output, and nothing else"
    )
    # ... and that output is the site's own hostname, scheme included, no path.
    uri = parsed("modules/staticwebapp")["outputs"]["uri"]["value"]
    assert uri == "https://${site.properties.defaultHostname}"
    assert "WEB_URL" in DOCS and "allows exactly one browser origin, `WEB_URL`" in DOCS


def test_every_caller_needs_a_key_and_no_sign_in_header_is_trusted() -> None:
    settings = parsed("main")["variables"]["appSettings"]["value"]
    assert settings["DTQ_REQUIRE_API_KEYS"] == "true"
    assert settings["DTQ_TRUST_CLIENT_PRINCIPAL"] == "false"
    assert "trustClientPrincipal" not in parsed("main")["parameters"]


def test_the_location_is_limited_to_the_documented_flex_consumption_regions() -> None:
    location = parsed("main")["parameters"]["location"]
    allowed = decorator(location, "allowed")
    assert allowed, "location has an @allowed list"
    listed = re.search(r"<!-- flex-regions -->(.*?)<!-- /flex-regions -->", DOCS, re.S)
    assert listed, "docs/deploy.md lists the regions"
    documented = [r.strip() for r in listed.group(1).replace("\n", " ").split(",")]
    assert allowed == documented
    assert len(set(allowed)) == len(allowed) and all(re.fullmatch(r"[a-z0-9]+", r) for r in allowed)
    assert "functions-quickstart-python-http-azd" in decorator(location, "description")
    assert {"westeurope", "eastus", "swedencentral"} <= set(allowed)
    assert not any(r.endswith("euap") for r in allowed), "no early-access regions"


def test_the_docs_show_a_key_holding_client_the_function_app_url() -> None:
    assert "export DTQ_URL=$(azd env get-value API_URL) DTQ_API_KEY=dtq_..." in DOCS
    assert 'curl -H "Authorization: Bearer $DTQ_API_KEY" "$DTQ_URL/api/v1/' in DOCS
    outputs = parsed("main")["outputs"]
    assert outputs["API_URL"]["value"] == "https://${api.outputs.defaultHostName}"
    assert "linked as its `/api` backend" not in DOCS


def test_azd_deploys_the_page_copy_that_names_the_api() -> None:
    web = yaml.safe_load((ROOT / "azure.yaml").read_text())["services"]["web"]
    assert web["project"] == "static-web" and web["dist"] == "dist"
    hook = web["hooks"]["prepackage"]
    assert hook["posix"]["run"] == "python3 ../scripts/build_web.py"
    assert hook["windows"]["run"] == "python ../scripts/build_web.py"
    assert (ROOT / "static-web" / hook["posix"]["run"].split()[-1]).resolve() == (
        ROOT / "scripts" / "build_web.py"
    )


def _csp(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (d.split() for d in policy.split(";") if d.strip())}


def test_the_page_copy_calls_the_function_app_and_the_sources_stay_same_origin(
    tmp_path: Path,
) -> None:
    source_html = (ROOT / "static-web" / "index.html").read_text()
    source_config = (ROOT / "static-web" / "staticwebapp.config.json").read_text()
    out = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "scripts/build_web.py", "--out", str(out)],
        capture_output=True,
        text=True,
        env={"API_URL": API_URL, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    html = (out / "index.html").read_text()
    assert f'<meta name="dtq-api-base" content="{API_URL}/api">' in html
    meta = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert meta is not None
    served = _csp(
        json.loads((out / "staticwebapp.config.json").read_text())["globalHeaders"][
            "Content-Security-Policy"
        ]
    )
    page = _csp(meta.group(1))
    assert API_URL in page["connect-src"] and API_URL in served["connect-src"]
    served.pop("frame-ancestors")
    assert page == served
    assert (out / "js" / "api.js").is_file() and (out / "vendor").is_dir()
    # The sources (served by the local host, same origin) are untouched.
    assert '<meta name="dtq-api-base" content="/api">' in source_html
    assert (ROOT / "static-web" / "index.html").read_text() == source_html
    assert (ROOT / "static-web" / "staticwebapp.config.json").read_text() == source_config
    assert "dist/" in (ROOT / ".gitignore").read_text().split(), "the copy is not committed"


def test_the_page_copy_refuses_an_api_url_it_cannot_use(tmp_path: Path) -> None:
    for bad in ("http://func.azurewebsites.net", "https://func.azurewebsites.net/api", ""):
        done = subprocess.run(
            [sys.executable, "scripts/build_web.py", "--out", str(tmp_path / "d")],
            capture_output=True,
            text=True,
            env={"API_URL": bad, "PATH": "/usr/bin:/bin"},
            cwd=ROOT,
            timeout=60,
        )
        assert done.returncode == 1 and "build_web:" in done.stderr, bad
