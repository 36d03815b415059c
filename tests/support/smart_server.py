"""An independent SMART Backend Services server for tests: not the sandbox, not Epic-shaped.

It checks the token request's ``scope`` before anything else (refusing a request without one with
``invalid_scope``), then verifies the client assertion with the app's published JWK Set. Switches let
a test make it lax about one rule (``lax={"exp-max", "jti-missing", "jti-replay"}``), as a server
that does not enforce them. It serves a smart-configuration, a small R4 CapabilityStatement and a
Patient read behind the bearer token, so the harness can run its auth checks against it.
"""

from __future__ import annotations

import json
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import parse_qs

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import SANDBOX_TENANT

if TYPE_CHECKING:
    from harness.run.state import RunState

CLIENT_ID = "harness-sandbox-nonprod"
JWKS = json.loads((SANDBOX_TENANT.parent / "sandbox-app.jwks.json").read_text())


def _error(code: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


REGISTERED = {"system/Patient.rs"}  # what the app is registered for: read and search Patient
V1 = {"system/Patient.read": "system/Patient.rs"}


def _grant(requested: str, lax: frozenset[str]) -> str | None:
    """What a strict server grants: the registered scopes asked for (v1 read as v2); None refuses the request."""
    if not requested:
        return " ".join(sorted(REGISTERED))
    asked = [V1.get(s, s) for s in requested.split()]
    if "scopes" in lax:
        return " ".join(asked)  # a lax server grants whatever is asked
    if any(s not in REGISTERED for s in asked):
        return None
    return " ".join(dict.fromkeys(asked))


def smart_server(*, lax: frozenset[str] = frozenset(), scope_first: bool = True, software: str = "Independent FHIR",
                 patient_id: str = "p1") -> Starlette:
    used: set[str] = set()
    tokens: set[str] = set()

    def root(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def smart_configuration(request: Request) -> Response:
        return JSONResponse({
            "token_endpoint": f"{root(request)}/auth/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "scopes_supported": ["system/Patient.rs"],
            "capabilities": ["client-confidential-asymmetric", "permission-v2"],
            "code_challenge_methods_supported": ["S256"],
        })

    async def metadata(request: Request) -> Response:
        return JSONResponse({"resourceType": "CapabilityStatement", "status": "active", "date": "2026-01-01",
                             "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
                             "software": {"name": software, "version": "1.0"},
                             "rest": [{"mode": "server", "resource": [
                                 {"type": "Patient", "interaction": [{"code": "read"}, {"code": "search-type"}]}]}]},
                            media_type="application/fhir+json")

    async def token(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return _error("invalid_request", "the token request must be a form")
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}
        if scope_first and not form.get("scope"):
            return _error("invalid_scope", "a scope is required")
        granted_scope = _grant(str(form.get("scope") or ""), lax)
        if granted_scope is None:
            return _error("invalid_scope", "a requested scope is unknown or not registered for this client")
        if form.get("grant_type") != "client_credentials":
            return _error("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return _error("invalid_client", "client_assertion_type must be jwt-bearer")
        assertion = str(form.get("client_assertion") or "")
        try:
            header = jwt.get_unverified_header(assertion)
            key = next(k for k in JWKS["keys"] if k.get("kid") == header.get("kid"))
            claims = jwt.decode(assertion, jwt.PyJWK(key).key, algorithms=["RS384", "ES384"],
                                audience=f"{root(request)}/auth/token",
                                options={"require": ["iss", "sub", "aud", "exp"], "verify_iat": True})
        except (StopIteration, jwt.PyJWTError, ValueError) as exc:
            return _error("invalid_client", f"the client assertion was not accepted: {exc.__class__.__name__}", 401)
        if header.get("jku") and "jku" not in lax:
            return _error("invalid_client", "jku is not the registered JWK Set URL", 401)
        if claims.get("iss") != CLIENT_ID or claims.get("sub") != CLIENT_ID:
            return _error("invalid_client", "unknown client", 401)
        if "exp-max" not in lax and claims["exp"] - time.time() > 310:
            return _error("invalid_client", "exp is too far ahead", 401)
        jti = claims.get("jti")
        if "jti-missing" not in lax and not jti:
            return _error("invalid_client", "jti is required", 401)
        if jti and jti in used and "jti-replay" not in lax:
            return _error("invalid_client", "jti already used", 401)
        if jti:
            used.add(jti)
        issued = secrets.token_urlsafe(32)
        tokens.add(issued)
        return JSONResponse({"access_token": issued, "token_type": "Bearer", "expires_in": 300,
                             "scope": granted_scope},
                            headers={"cache-control": "no-store"})

    async def patient(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in tokens:
            return Response(status_code=401, headers={"www-authenticate": 'Bearer error="invalid_token"'})
        rid = request.path_params["rid"]
        if rid != patient_id:
            return JSONResponse({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-found", "diagnostics": "no such patient"}]}, status_code=404,
                media_type="application/fhir+json")
        return JSONResponse({"resourceType": "Patient", "id": rid, "name": [{"family": "Test", "given": ["Pat"]}],
                             "gender": "unknown", "birthDate": "1970"}, media_type="application/fhir+json")

    return Starlette(routes=[
        Route("/fhir/.well-known/smart-configuration", smart_configuration),
        Route("/fhir/metadata", metadata),
        Route("/auth/token", token, methods=["POST", "GET", "PUT"]),
        Route("/fhir/Patient/{rid}", patient),
    ])


def tenant_file(tmp_path: Path, base_url: str, *, scope: str | None = None, apis: str = "list = [\"Patient.Read (Demographics) (R4)\"]",
                extra: str = "") -> Path:
    keys = SANDBOX_TENANT.parent
    lines = [
        'name = "independent"', 'environment = "non-production"', f'base_url = "{base_url}"',
        "[fhir]", f'R4 = "{base_url}/fhir"',
        "[auth]", f'client_id = "{CLIENT_ID}"', f'private_key = "{keys}/keys/sandbox-rs384.pem"',
        'kid = "sandbox-rs384-1"', 'algorithm = "RS384"', f'jwks = "{keys}/sandbox-app.jwks.json"',
    ]
    if scope:
        lines.append(f'scope = "{scope}"')
    # a loopback server of the test's own: no need for the default politeness of 5 requests a second
    lines += ["[apis]", apis, "[test_data]", 'patient = "p1"', "[client]", 'rate_limit = "500/s"', extra]
    path = tmp_path / "independent.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def independent_state(tmp_path: Path, *, scope: str | None = None, **server: Any) -> Iterator[RunState]:
    """A run's state over this server in process (``tests/support/checks.py``), with the tenant file above."""
    from tests.support.checks import ROOT, tenant_state

    with tenant_state(app=smart_server(**server), tenant_file=tenant_file(tmp_path, ROOT, scope=scope),
                      tmp_path=tmp_path) as state:
        yield state
