"""Absolute URLs of the sandbox, built from the request that asks for them.

The Interconnect root is ``{scheme}://{host}{root_path}``: the scheme honours
``X-Forwarded-Proto``, the host is the request's ``Host`` header, and ``root_path`` is where the
application is mounted. Every URL the sandbox hands out hangs off that root, as Epic's do off
``https://fhir.epic.com/interconnect-fhir-oauth``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

#: The Interconnect root of Epic's public sandbox, as it appears in the saved documents.
EPIC_SANDBOX_ROOT = "https://fhir.epic.com/interconnect-fhir-oauth"

TOKEN_PATH = "/oauth2/token"
AUTHORIZE_PATH = "/oauth2/authorize"
ISSUER_PATH = "/oauth2"
OIDC_JWKS_PATH = "/api/epic/2019/Security/Open/PublicKeys/530027/OIDC"


def interconnect_root(conn: HTTPConnection) -> str:
    """``scheme://host/root_path`` of this request, with no trailing slash."""
    forwarded = conn.headers.get("x-forwarded-proto", "")
    scheme = forwarded.split(",")[0].strip().lower() or conn.url.scheme
    host = conn.headers.get("host")
    if not host:
        server = conn.scope.get("server")
        if server:
            name, port = server
            name = f"[{name}]" if ":" in str(name) else str(name)
            host = name if port in (None, 80, 443) else f"{name}:{port}"
        else:
            host = "localhost"
    root_path = str(conn.scope.get("root_path", "")).rstrip("/")
    return f"{scheme}://{host}{root_path}"


def token_url(root: str) -> str:
    return root + TOKEN_PATH


def fhir_base(root: str, version: str) -> str:
    return f"{root}/api/FHIR/{version}"


def rewrite(document: Any, root: str) -> Any:
    """A copy of ``document`` with Epic's sandbox root replaced by ``root`` in every string."""
    if isinstance(document, str):
        if document.startswith(EPIC_SANDBOX_ROOT):
            return root + document[len(EPIC_SANDBOX_ROOT) :]
        return document
    if isinstance(document, dict):
        return {key: rewrite(value, root) for key, value in document.items()}
    if isinstance(document, list):
        return [rewrite(value, root) for value in document]
    return document
