#!/usr/bin/env python3
"""Write the copy of the web UI that azd deploys to the static web app.

The UI finds its API in ``<meta name="dtq-api-base">`` (static-web/js/api.js): "/api" on
the local host, where page and API share one origin. In Azure the page is served by the
static web app and the API by the function app, so this copy names the function app's
URL there, and adds that one origin to ``connect-src`` of both Content-Security-Policies
(the page's meta tag and the header staticwebapp.config.json serves). The sources stay
as they are.

azd runs it before packaging the web service (azure.yaml, ``prepackage``), with the
provisioned outputs in the environment; run by hand:

    API_URL=https://func-dtq-x.azurewebsites.net python3 scripts/build_web.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "static-web"
OUT = SOURCE / "dist"  # azure.yaml: services.web.dist (ignored by git: `dist/`)
META = re.compile(r'(<meta name="dtq-api-base" content=")([^"]*)(">)')
CSP_META = re.compile(r'(http-equiv="Content-Security-Policy" content=")([^"]+)(")')


def origin_of(api_url: str) -> str:
    """``https://host[:port]`` of the API URL, refusing anything else (a path, http)."""
    parts = urlsplit(api_url.strip())
    if parts.scheme != "https" or not parts.hostname or parts.path.strip("/") or parts.query:
        raise ValueError(f"API_URL must be https://HOST with no path, not {api_url!r}")
    return f"https://{parts.netloc}"


def allow_connect(policy: str, origin: str) -> str:
    """The policy with ``origin`` added to connect-src (once)."""
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    for i, directive in enumerate(directives):
        name, *values = directive.split()
        if name == "connect-src":
            if origin not in values:
                values.append(origin)
            directives[i] = " ".join([name, *values])
            return "; ".join(directives)
    raise ValueError("the policy has no connect-src directive")


def build(api_url: str, source: Path = SOURCE, out: Path = OUT) -> Path:
    origin = origin_of(api_url)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(source, out, ignore=shutil.ignore_patterns(out.name, "__pycache__"))

    page = out / "index.html"
    html = page.read_text()
    html, found = META.subn(lambda m: f"{m.group(1)}{origin}/api{m.group(3)}", html)
    if found != 1:
        raise ValueError(f"{page}: expected one dtq-api-base meta tag, found {found}")
    html, found = CSP_META.subn(
        lambda m: f"{m.group(1)}{allow_connect(m.group(2), origin)}{m.group(3)}", html
    )
    if found != 1:
        raise ValueError(f"{page}: expected one Content-Security-Policy meta tag, found {found}")
    page.write_text(html)

    config_path = out / "staticwebapp.config.json"
    config = json.loads(config_path.read_text())
    headers = config["globalHeaders"]
    headers["Content-Security-Policy"] = allow_connect(headers["Content-Security-Policy"], origin)
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", default=os.environ.get("API_URL"), help="default: $API_URL")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not args.api_url:
        print("build_web: API_URL is not set (run `azd provision` first)", file=sys.stderr)
        return 1
    try:
        out = build(args.api_url, out=args.out)
    except ValueError as exc:
        print(f"build_web: {exc}", file=sys.stderr)
        return 1
    print(f"build_web: {out} calls {origin_of(args.api_url)}/api")
    return 0


if __name__ == "__main__":
    sys.exit(main())
