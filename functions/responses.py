"""JSON responses, and conditional ones: a strong ETag of the content, 304 when the
caller's copy is current."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import azure.functions as func


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers=headers or {},
        mimetype="application/json",
    )


def not_modified(headers: dict[str, str]) -> func.HttpResponse:
    """304: the caller's copy is current. Described as the JSON it stands for, not the
    library's text/plain default."""
    return func.HttpResponse(status_code=304, headers=headers, mimetype="application/json")


def conditional_json(req: func.HttpRequest, body: Any, basis: Any = None) -> func.HttpResponse:
    """``body`` with a strong ETag of its content (or of ``basis``, the part whose change
    matters); 304 with no body when the caller's If-None-Match already holds it. Pollers
    (the web UI) back off while they get 304s."""
    text = json.dumps(body, separators=(",", ":"))  # serialized once: hashed and sent
    tagged = text if basis is None else json.dumps(basis, sort_keys=True, separators=(",", ":"))
    etag = f'"{hashlib.sha256(tagged.encode()).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag_matches(req, etag):
        return not_modified(headers)
    return func.HttpResponse(text, status_code=200, headers=headers, mimetype="application/json")


def etag_matches(req: func.HttpRequest, etag: str) -> bool:
    header = req.headers.get("If-None-Match")
    if not header:
        return False
    tags = {t.strip() for t in header.split(",")}
    return "*" in tags or etag in tags or f"W/{etag}" in tags
