"""One scrubbing boundary that knows every secret of the run: the access token (also parsed from a body
with a BOM, and longer than an excerpt), the client assertions, the private key (PEM, DER, JWK members)
and the tenant file's secrets. Nothing of them reaches the exchange log, a cassette, or any string the
scrubber returns."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
from harness.auth import TokenProvider
from harness.cassettes import make_vcr
from harness.client import MAX_LOGGED_BODY, TenantClient
from harness.config import load_tenant
from harness.scrub import REDACTED, SecretRegistry, scrub_body
from tests.conftest import SANDBOX_TENANT

ROOT = "https://epic.example.org/interconnect"
FHIR = f"{ROOT}/api/FHIR/R4"
TOKEN_URL = f"{ROOT}/oauth2/token"
TENANT = load_tenant(SANDBOX_TENANT, base_url=ROOT)
LONG_TOKEN = "tok" + "".join(f"{i:05d}Q" for i in range(9000))  # 54 KB, not a JWT, never repeating


def b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode().rstrip("=")


PRIVATE = TENANT.auth.private_key.private_numbers()
PRIVATE_MEMBERS = {"d": b64(PRIVATE.d), "p": b64(PRIVATE.p), "q": b64(PRIVATE.q), "dp": b64(PRIVATE.dmp1),
                   "dq": b64(PRIVATE.dmq1), "qi": b64(PRIVATE.iqmp)}
PEM = SANDBOX_TENANT.with_name("keys").joinpath("sandbox-rs384.pem").read_text()


def hostile(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/oauth2/token"):
        body = json.dumps({"access_token": LONG_TOKEN, "token_type": "Bearer", "expires_in": 3600,
                           "scope": "system/Patient.rs"})
        return httpx.Response(200, content=("\ufeff" + body).encode(), headers={"Content-Type": "application/json"})
    if path.endswith("/jwks.json"):
        jwks = {"keys": [{"kty": "RSA", "kid": "k1", "n": b64(PRIVATE.public_numbers.n), "e": "AQAB",
                          **PRIVATE_MEMBERS}]}
        return httpx.Response(200, json=jwks)
    if path.endswith("/Binary/key"):
        return httpx.Response(200, text=f"debug dump:\n{PEM}", headers={"Content-Type": "text/plain"})
    outcome = {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "processing",
        "diagnostics": f"could not process {request.method} {path}; headers {dict(request.headers)}"}]}
    return httpx.Response(400, json=outcome, headers={"Content-Type": "application/fhir+json"})


def wired(handler=hostile) -> tuple[TenantClient, TokenProvider]:
    client = TenantClient(TENANT, transport=httpx.MockTransport(handler))
    provider = TokenProvider(TENANT.auth, lambda: TOKEN_URL,
                             lambda url, form: client.post(url, data=form, auth=False, accept="application/json"),
                             client.secrets)
    client.use_tokens(provider.token, provider.invalidate)
    return client, provider


def secrets_of_the_run(client: TenantClient) -> list[str]:
    assertions = [v for v in client.secrets if v.startswith("eyJ")]
    assert assertions, "no client assertion was registered"
    return [LONG_TOKEN, PEM.strip(), *PRIVATE_MEMBERS.values(), *assertions]


def fragments(secret: str, size: int = 24) -> list[str]:
    return [secret[i:i + size] for i in range(0, max(1, len(secret) - size), max(1, len(secret) // 50))]


def assert_clean(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret is in {where}"
        for piece in fragments(secret):
            assert piece not in text, f"a fragment of a secret is in {where}: {piece!r}"


def exercise(client: TenantClient) -> None:
    client.get(f"{FHIR}/Patient/p")  # answered with the request's headers echoed in diagnostics
    client.get("https://app.example.org/jwks.json", auth=False)  # a JWK Set leaking its private members
    client.get(f"{FHIR}/Binary/key")  # the private key in a body


def test_the_exchange_log_holds_no_secret(tmp_path: Path) -> None:
    client, provider = wired()
    exercise(client)
    assert provider.grant is not None and provider.grant.expires_in == 3600  # the BOM token was read
    logged = json.dumps([e.as_dict() for e in client.log], ensure_ascii=False)
    assert_clean(logged, secrets_of_the_run(client), "the exchange log")
    assert logged.count(REDACTED) >= 8
    assert all(len(e.response_body) < MAX_LOGGED_BODY + 200 for e in client.log)
    echo = client.log[1].response_body
    assert "could not process" in echo and REDACTED in echo  # the evidence is kept, the token is not


def test_cassettes_hold_no_secret(tmp_path: Path) -> None:
    client, _ = wired()
    cassette = tmp_path / "recorded.yaml"
    with make_vcr("record", client.secrets).use_cassette(str(cassette)):
        exercise(client)
    text = cassette.read_text("utf-8")
    assert "OperationOutcome" in text and "could not process" in text
    assert_clean(text, secrets_of_the_run(client), "the cassette")
    assert "authorization:" not in text.lower()


def test_strings_the_scrubber_returns_hold_no_secret() -> None:
    client, _ = wired()
    exercise(client)
    secrets = secrets_of_the_run(client)
    registry = client.secrets
    message = f"GET Patient/p: HTTP 400 (processing headers {{'authorization': 'Bearer {LONG_TOKEN}'}})"
    for out in (registry.scrub_text(message), registry.scrub_text(PEM), registry.scrub_text(json.dumps(PRIVATE_MEMBERS)),
                json.dumps(registry.scrub({"nested": [{"text": message}, ("x", LONG_TOKEN)],
                                           "jwk": {"kty": "RSA", **PRIVATE_MEMBERS}}))):
        assert_clean(out, secrets, "a scrubbed string")
        assert REDACTED in out
    assert registry.scrub(registry.scrub({"a": [message]})) == registry.scrub({"a": [message]})
    assert registry.scrub_text(registry.scrub_text(message)) == registry.scrub_text(message)


def test_a_token_is_learned_from_its_response_even_before_it_is_used() -> None:
    """A token response whose JSON starts with a BOM, or is longer than an excerpt, is scrubbed field
    by field, and the token becomes a known secret for every later echo."""
    from harness.scrub import scrubbed_excerpt

    registry = SecretRegistry()
    body = "\ufeff" + json.dumps({"access_token": LONG_TOKEN, "expires_in": 60})
    excerpt = scrubbed_excerpt(body, "application/json", registry, 20_000)
    assert LONG_TOKEN[:24] not in excerpt and REDACTED in excerpt
    assert registry.leaks(f"echo {LONG_TOKEN} echo") == [LONG_TOKEN]
    cut_short = SecretRegistry()  # cut before the token ends: the field is still recognised
    text = cut_short.scrub_text('{"access_token": "' + LONG_TOKEN[:30_000])
    assert LONG_TOKEN[:24] not in text


def test_tenant_secrets_and_key_forms_are_known_from_the_start() -> None:
    registry = SecretRegistry()
    registry.add_tenant(TENANT)
    pem_lines = [line for line in PEM.splitlines() if line and not line.startswith("-----")]
    der = base64.b64decode("".join(pem_lines))
    for form in (PEM, "".join(pem_lines), pem_lines[5], base64.urlsafe_b64encode(der).decode().rstrip("="),
                 *PRIVATE_MEMBERS.values(), json.dumps(PEM)):
        out = registry.scrub_text(f"leaked: {form} end")
        assert form not in out and pem_lines[5] not in out
    other = scrub_body("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----", "text/plain", registry)
    assert "MHcCAQEEIB" not in other  # any PEM private key, known or not


def test_an_assertion_sent_in_any_token_request_becomes_a_secret() -> None:
    client, _ = wired(lambda request: httpx.Response(400, json={"error": "invalid_client"}))
    assertion = "not-a-jwt-assertion-value-0123456789"
    client.post(TOKEN_URL, auth=False, content=f"grant_type=client_credentials&client_assertion={assertion}".encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert assertion not in json.dumps([e.as_dict() for e in client.log])
    assert client.secrets.leaks(assertion)


def test_scrubbing_a_large_text_with_many_secrets() -> None:
    """Correct at scale (how long it takes is printed by bench/memory_bench.py, not asserted)."""
    registry = SecretRegistry([f"secret-{i:04d}-" + "s" * 300 for i in range(300)])
    text = ('{"resourceType": "Patient", "name": "x"},' * 20_000) + f"secret-0007-{'s' * 300}"
    out = registry.scrub_text(text)
    assert out.endswith(REDACTED) and len(out) == len(text) - 312 + len(REDACTED)
