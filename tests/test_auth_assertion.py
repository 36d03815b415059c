"""The app's side of SMART Backend Services: assertions, the token cache, re-authentication, keys and JWK Sets."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.auth import AssertionSpec, TokenProvider, sign_assertion
from harness.client import TenantClient
from harness.config import load_tenant
from harness.keys import check_jwks, public_jwk
from tests.conftest import SANDBOX_TENANT

TENANT = load_tenant(SANDBOX_TENANT, base_url="https://epic.example.org/interconnect")
TOKEN_URL = "https://epic.example.org/interconnect/oauth2/token"

client_ids = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=60)


@settings(max_examples=40, deadline=None, database=None)
@given(client_id=client_ids, lifetime=st.integers(min_value=1, max_value=300), jku=st.none() | st.just("https://app.example/jwks"))
def test_assertion_follows_the_rules(client_id: str, lifetime: int, jku: str | None) -> None:
    spec = AssertionSpec(issuer=client_id, subject=client_id, audience=TOKEN_URL, kid="k1", algorithm="RS384",
                         lifetime=lifetime, jku=jku)
    token = sign_assertion(spec, TENANT.auth.private_key)
    header = jwt.get_unverified_header(token)
    # leeway: a 1-second assertion may expire before a loaded machine decodes it; exp is checked below
    claims = jwt.decode(token, TENANT.auth.private_key.public_key(), algorithms=["RS384"], audience=TOKEN_URL,
                        leeway=60)
    assert header["alg"] == "RS384" and header["typ"] == "JWT" and header["kid"] == "k1"
    assert header.get("jku") == jku
    assert claims["iss"] == claims["sub"] == client_id
    assert isinstance(claims["jti"], str) and len(claims["jti"]) <= 151
    assert 0 < claims["exp"] - claims["iat"] <= 300 and claims["nbf"] <= time.time() + 1


def test_jti_unique_and_lifetime_capped() -> None:
    spec = AssertionSpec.for_client(TENANT.auth, TOKEN_URL)
    jtis = {jwt.decode(sign_assertion(spec, TENANT.auth.private_key), options={"verify_signature": False})["jti"]
            for _ in range(50)}
    assert len(jtis) == 50
    with pytest.raises(ValueError):
        sign_assertion(AssertionSpec.for_client(TENANT.auth, TOKEN_URL).__class__(
            issuer="a", subject="a", audience=TOKEN_URL, kid="k", algorithm="RS384", lifetime=301), TENANT.auth.private_key)


def _token_server(lifetimes: list[int], fhir_401_once: bool = False):
    calls = {"token": 0, "fhir": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            calls["token"] += 1
            return httpx.Response(200, json={"access_token": f"token-{calls['token']}-xxxxxxxx", "token_type": "bearer",
                                             "expires_in": lifetimes[min(calls["token"], len(lifetimes)) - 1],
                                             "scope": "system/Patient.rs"})
        calls["fhir"] += 1
        if fhir_401_once and calls["fhir"] == 1:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return httpx.Response(200, headers={"Content-Type": "application/fhir+json"},
                              json={"resourceType": "Patient", "id": "p", "_seen": request.headers["authorization"]})

    return handler, calls


def _wired(handler) -> tuple[TenantClient, TokenProvider]:
    client = TenantClient(TENANT, transport=httpx.MockTransport(handler))
    provider = TokenProvider(TENANT.auth, lambda: TOKEN_URL,
                             lambda url, form: client.post(url, data=form, auth=False), client.secrets)
    client.use_tokens(provider.token, provider.invalidate)
    return client, provider


def test_one_token_per_run_and_renewal_before_expiry() -> None:
    handler, calls = _token_server([3600])
    client, _ = _wired(handler)
    for _ in range(5):
        client.get(client.url("R4", "Patient/p"))
    assert calls == {"token": 1, "fhir": 5}
    handler, calls = _token_server([1, 3600])
    client, _ = _wired(handler)
    client.get(client.url("R4", "Patient/p"))
    time.sleep(1.1)
    client.get(client.url("R4", "Patient/p"))
    assert calls["token"] == 2


def test_one_reauthentication_on_invalid_token() -> None:
    handler, calls = _token_server([3600], fhir_401_once=True)
    client, _ = _wired(handler)
    response = client.get(client.url("R4", "Patient/p"))
    assert response.status_code == 200 and calls == {"token": 2, "fhir": 2}
    assert response.json()["_seen"] == "Bearer token-2-xxxxxxxx"
    logged = json.dumps([e.as_dict() for e in client.log])
    assert "token-1-xxxxxxxx" not in logged and "token-2-xxxxxxxx" not in logged


def test_check_jwks_finds_each_problem() -> None:
    key = TENANT.auth.private_key
    good = {"keys": [public_jwk(key, kid="sandbox-rs384-1", algorithm="RS384")]}
    assert check_jwks(good, key, kid="sandbox-rs384-1", algorithm="RS384").problems == ()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = {"keys": [public_jwk(other, kid="sandbox-rs384-1", algorithm="RS384")]}
    assert "not the public half" in check_jwks(wrong, key, kid="sandbox-rs384-1", algorithm="RS384").problems[0]
    leaked = {"keys": [dict(good["keys"][0], d="secret")]}
    assert any("private members d" in p for p in check_jwks(leaked, key, kid="sandbox-rs384-1", algorithm="RS384").problems)
    twice = {"keys": good["keys"] * 2}
    assert any("more than once" in p for p in check_jwks(twice, key, kid="sandbox-rs384-1", algorithm="RS384").problems)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak = {"keys": [public_jwk(small, kid="weak", algorithm="RS384"), good["keys"][0]]}
    assert any("1024 bits" in p for p in check_jwks(weak, key, kid="sandbox-rs384-1", algorithm="RS384").problems)
    p256 = {"keys": [dict(public_jwk(ec.generate_private_key(ec.SECP256R1()), kid="e", algorithm="ES384")), good["keys"][0]]}
    assert any("curve is P-256" in p for p in check_jwks(p256, key, kid="sandbox-rs384-1", algorithm="RS384").problems)
    assert "no key with kid" in check_jwks(good, key, kid="other", algorithm="RS384").problems[0]


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_keys_new_writes_a_usable_pair(tmp_path: Path, alg: str) -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "keys", "new", "--alg", alg, "--out", str(tmp_path),
                           "--name", "app"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    jwks = json.loads((tmp_path / "app.jwks.json").read_text())
    assert "BEGIN PRIVATE KEY" not in done.stdout and "d" not in jwks["keys"][0]
    pem = (tmp_path / "app.pem").read_bytes()
    from harness.keys import load_private_key

    key = load_private_key(pem, file=None, field="k")
    kid = jwks["keys"][0]["kid"]
    assert check_jwks(jwks, key, kid=kid, algorithm=alg).problems == ()
    assert (tmp_path / "app.pem").stat().st_mode & 0o077 == 0
    again = subprocess.run([sys.executable, "-m", "harness", "keys", "new", "--out", str(tmp_path), "--name", "app"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "never overwritten" in again.stderr


NOT_PEM = [
    (b"", "an empty file"),
    (json.dumps({"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "c2VjcmV0LWQtdmFsdWU"}).encode(), "a JWK (JSON, with private members)"),
    (json.dumps({"keys": []}).encode(), "a JWK Set"),
    (b"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----\n", "PEM block 'PUBLIC KEY', which is not a private key"),
    (b"-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----\n", "PEM block 'CERTIFICATE'"),
    (b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "an OpenSSH private key"),
    (b"\x30\x82\x04\xbd\x02\x01\x00\x30\x0d\x06\x09", "looks like DER"),
    (b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7", "base64 text without the -----BEGIN"),
    (b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhk\n-----END PRIVATE KEY-----\n", "cannot be read (damaged or cut short?)"),
]


@pytest.mark.parametrize(("content", "found"), NOT_PEM, ids=[f for _, f in NOT_PEM])
def test_a_private_key_that_is_not_pem_gets_one_clear_message(tmp_path: Path, content: bytes, found: str) -> None:
    from harness.errors import ConfigError
    from tests.conftest import tenant_variant

    (tmp_path / "bad.key").write_bytes(content)
    tenant = tenant_variant(tmp_path, replace={'private_key = "keys/sandbox-rs384.pem"': f'private_key = "{tmp_path}/bad.key"'})
    with pytest.raises(ConfigError) as raised:
        load_tenant(tenant)
    message = str(raised.value)
    assert raised.value.field == "auth.private_key" and found in message, message
    assert "(ValueError)" not in message and "PKCS#8" in message
    assert "c2VjcmV0LWQtdmFsdWU" not in message and "MIIE" not in message  # never the key's content
