"""The app's JWK Set checked from its URL, as Epic fetches it: unauthenticated, its Cache-Control reported."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import SANDBOX_TENANT, tenant_variant
from tests.support.served import Served

PUBLISHED = json.loads((SANDBOX_TENANT.parent / "sandbox-app.jwks.json").read_text())


def jwks_app(jwks: dict) -> Starlette:
    async def serve(request):  # type: ignore[no-untyped-def]
        return JSONResponse(jwks, headers={"Cache-Control": "max-age=3600"})

    return Starlette(routes=[Route("/epic/jwks", serve)])


def _run(sandbox_run, tmp_path: Path, jwks: dict):
    with Served(jwks_app(jwks)) as url:
        tenant = tenant_variant(tmp_path, replace={'jwks = "sandbox-app.jwks.json"': f'jwks_url = "{url}/epic/jwks"'})
        return sandbox_run(tenant=tenant, pytest_args=["-k", "jwks"])


def test_jwks_url_fetched_and_cache_control_reported(sandbox_run, tmp_path: Path) -> None:
    run = _run(sandbox_run, tmp_path, PUBLISHED)
    check = run.check("auth.jwks.matches-key")
    assert check["outcome"] == "warning" and "not https" in check["message"]
    assert any("Cache-Control: max-age=3600" in n for n in check["notes"])


def test_jwks_url_publishing_a_private_member_fails(sandbox_run, tmp_path: Path) -> None:
    leaked = {"keys": [dict(PUBLISHED["keys"][0], d="c2VjcmV0")] + PUBLISHED["keys"][1:]}
    run = _run(sandbox_run, tmp_path, leaked)
    check = run.check("auth.jwks.matches-key")
    assert check["outcome"] == "failed" and "private members d" in check["message"]
    assert run.exit_code == 1
