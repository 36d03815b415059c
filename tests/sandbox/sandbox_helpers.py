"""Helpers for the sandbox's own tests: its keys, a client-assertion builder, test clients."""

from __future__ import annotations

import base64
import json
import ssl
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
with warnings.catch_warnings():  # starlette announces a future test-client transport
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from harness.sandbox import EmbeddedSandbox, create_app, default_settings

KEYS = Path(__file__).resolve().parents[2] / "harness" / "sandbox" / "tenant" / "keys"
CLIENT_ID = "harness-sandbox-nonprod"
RS_KID = "sandbox-rs384-1"
ES_KID = "sandbox-es384-1"
TESTSERVER = "http://testserver"
TOKEN_URL = f"{TESTSERVER}/oauth2/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
INVALID_TOKEN = 'Bearer error="invalid_token", error_description="The access token provided is not valid"'

#: leave a claim or header member out
DROP = object()


def rsa_pem() -> bytes:
    return (KEYS / "sandbox-rs384.pem").read_bytes()


def ec_pem() -> bytes:
    return (KEYS / "sandbox-es384.pem").read_bytes()


@lru_cache(maxsize=16)
def private_key(pem: bytes) -> Any:
    """A PEM private key loaded once (loading an RSA key checks it, which is slow)."""
    return serialization.load_pem_private_key(pem, password=None)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims(aud: str = TOKEN_URL, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": aud,
        "jti": str(uuid.uuid4()),
        "exp": now + 240,
        "nbf": now,
        "iat": now,
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not DROP}


def assertion(
    key: bytes | None = None,
    alg: str = "RS384",
    kid: Any = RS_KID,
    typ: Any = "JWT",
    aud: str = TOKEN_URL,
    headers: dict[str, Any] | None = None,
    **claim_overrides: Any,
) -> str:
    """A client assertion signed with pyjwt (the sandbox's RSA key unless told otherwise)."""
    header = {"kid": kid, "typ": typ, **(headers or {})}
    header = {k: v for k, v in header.items() if v is not DROP}
    return jwt.encode(
        claims(aud, **claim_overrides),
        private_key(key if key is not None else rsa_pem()),
        algorithm=alg,
        headers=header,
    )


def raw_jwt(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A JWT built by hand (for algorithms pyjwt refuses to produce with these keys)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode('ascii')))}"


def token_form(client_assertion: str, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": client_assertion,
    }
    form.update(overrides)
    return form


def sandbox_client(faults: Iterable[str] = (), **kwargs: Any) -> TestClient:
    return TestClient(create_app(default_settings(faults)), **kwargs)


def get_token(client: TestClient, **form: str) -> dict[str, Any]:
    response = client.post("/oauth2/token", data=token_form(assertion(), **form))
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "accept": "application/fhir+json"}


@contextmanager
def served(*faults: str, **options: Any) -> Iterator[tuple[EmbeddedSandbox, httpx.Client]]:
    """A sandbox with ``faults`` on a free loopback port (``options`` go to EmbeddedSandbox), and an
    httpx client at its root carrying a fresh access token (``scope`` asks for those scopes)."""
    scope = options.pop("scope", None)
    settings = options.pop("settings", None) or default_settings(faults)
    with EmbeddedSandbox(settings, **options) as sandbox, \
            httpx.Client(base_url=sandbox.base_url, timeout=10, verify=ssl.create_default_context(
                cafile=str(sandbox.ca_file)) if sandbox.ca_file else True) as http:
        form = token_form(assertion(aud=sandbox.token_url), **({"scope": scope} if scope else {}))
        answer = http.post("/oauth2/token", data=form)
        assert answer.status_code == 200, answer.text
        http.headers.update(bearer(answer.json()["access_token"]))
        yield sandbox, http
