"""The static web UI's files hold together: every module and asset the page names
exists, the Static Web Apps config protects the API and matches the page's CSP, and the
vendored SignalR client is the one its README names."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "static-web"


def _csp(policy: str) -> dict[str, set[str]]:
    directives = (d.split() for d in policy.split(";") if d.strip())
    return {name: set(values) for name, *values in directives}


def test_every_file_the_page_and_its_modules_name_exists() -> None:
    html = (ROOT / "index.html").read_text()
    named = re.findall(r'(?:src|href)="([^"#:]+)"', html)
    assert {"app.js", "style.css", "favicon.svg"} <= set(named)
    modules = [ROOT / "app.js", *sorted((ROOT / "js").glob("*.js"))]
    for module in modules:
        for target in re.findall(r'^import .*? from "(\./[^"]+)";', module.read_text(), re.M):
            assert (module.parent / target).resolve().is_file(), f"{module.name} imports {target}"
    for name in named:
        assert (ROOT / name).is_file(), name
    assert (ROOT / "vendor/signalr/signalr.min.js").is_file()


def test_the_page_makes_no_request_to_another_site() -> None:
    for path in [
        ROOT / "index.html",
        ROOT / "style.css",
        ROOT / "app.js",
        *(ROOT / "js").glob("*.js"),
    ]:
        text = path.read_text()
        # The only absolute URL allowed is the SVG namespace, which is not fetched.
        urls = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls - {"https://*.service.signalr.net"}, f"{path.name}: {urls}"


def test_static_web_apps_config_guards_the_api_and_falls_back_to_the_page() -> None:
    config = json.loads((ROOT / "staticwebapp.config.json").read_text())
    routes = {r["route"]: r for r in config["routes"]}
    assert routes["/api/*"]["allowedRoles"] == ["authenticated"]
    assert routes["/api/v1/healthz"]["allowedRoles"] == ["anonymous"]
    order = [r["route"] for r in config["routes"]]
    assert order.index("/api/v1/healthz") < order.index("/api/*"), "first match wins"
    fallback = config["navigationFallback"]
    assert fallback["rewrite"] == "/index.html"
    assert {"/api/*", "/.auth/*", "/js/*", "/vendor/*"} <= set(fallback["exclude"])
    assert config["responseOverrides"]["401"]["redirect"].startswith("/.auth/login/")


def test_the_page_csp_and_the_served_csp_agree() -> None:
    config = json.loads((ROOT / "staticwebapp.config.json").read_text())
    served = _csp(config["globalHeaders"]["Content-Security-Policy"])
    meta = re.search(
        r'http-equiv="Content-Security-Policy" content="([^"]+)"', (ROOT / "index.html").read_text()
    )
    assert meta is not None
    page = _csp(meta.group(1))
    # A header-only directive: no other site may frame the page (its purge buttons).
    assert served.pop("frame-ancestors") == {"'none'"}
    assert page == served
    headers = config["globalHeaders"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "'unsafe-inline'" not in page["script-src"] | page["style-src"]
    assert {"wss://*.service.signalr.net", "https://*.service.signalr.net"} <= page["connect-src"]


def test_the_vendored_signalr_client_is_the_one_its_readme_names() -> None:
    folder = ROOT / "vendor" / "signalr"
    readme = (folder / "README.md").read_text()
    named = re.search(r"sha256 `([0-9a-f]{64})`", readme)
    assert named is not None
    assert hashlib.sha256((folder / "signalr.min.js").read_bytes()).hexdigest() == named.group(1)
