"""The sandbox's token endpoint: SMART Backend Services as Epic runs it, and token-skip faults."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sandbox_helpers import (
    CLIENT_ID,
    DROP,
    ES_KID,
    RS_KID,
    assertion,
    claims,
    ec_pem,
    private_key,
    raw_jwt,
    TestClient,
    rsa_pem,
    sandbox_client,
    token_form,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.sandbox import EmbeddedSandbox, RegisteredClient, SandboxSettings, create_app, load_clients
from harness.sandbox.token.rules import TOKEN_RULES


def _registered_scopes() -> tuple[str, ...]:
    return load_clients()[0].scopes


def _post(client: TestClient, client_assertion: str, **form: str) -> httpx.Response:
    return client.post("/oauth2/token", data=token_form(client_assertion, **form))


def _assert_refused(response: httpx.Response, error: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]


# --- good assertions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "kid", "key"),
    [("RS384", RS_KID, rsa_pem), ("ES384", ES_KID, ec_pem), ("RS256", RS_KID, rsa_pem)],
)
def test_good_assertion_gets_a_token_with_the_registered_scopes(alg, kid, key) -> None:
    response = _post(sandbox_client(), assertion(key(), alg=alg, kid=kid))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 64
    assert tuple(body["scope"].split(" ")) == _registered_scopes()
    assert "system/Schedule.r" in body["scope"].split()


def test_tokens_are_distinct() -> None:
    client = sandbox_client()
    tokens = {_post(client, assertion()).json()["access_token"] for _ in range(3)}
    assert len(tokens) == 3


def test_kid_may_be_left_out_when_one_key_fits_the_alg() -> None:
    assert _post(sandbox_client(), assertion(kid=DROP)).status_code == 200
    assert _post(sandbox_client(), assertion(ec_pem(), alg="ES384", kid=DROP)).status_code == 200


def test_like_epic_every_registered_scope_is_granted_whatever_is_asked() -> None:
    client = sandbox_client()
    for asked in ("system/Patient.r", "system/Nope.r", "system/Patient.rs system/Slot.read"):
        assert tuple(_post(client, assertion(), scope=asked).json()["scope"].split()) == _registered_scopes()


def test_requested_scopes_are_intersected_with_the_registered_ones_where_narrowing_is_honoured() -> None:
    client = sandbox_client(["token-scope-grant:requested"])
    body = _post(client, assertion(), scope="system/Patient.rs system/Slot.read system/Nope.r").json()
    # as asked where the registration covers it; else the registered part of it (Slot is read-only)
    assert body["scope"].split() == ["system/Patient.rs", "system/Slot.r"]
    exact = _post(client, assertion(), scope="system/Patient.r").json()
    assert exact["scope"] == "system/Patient.r"
    assert tuple(_post(client, assertion()).json()["scope"].split()) == _registered_scopes()


def test_scopes_nothing_registered_is_invalid_scope_where_narrowing_is_honoured() -> None:
    _assert_refused(_post(sandbox_client(["token-scope-grant:requested"]), assertion(), scope="system/Nope.r"),
                    "invalid_scope")


def test_a_strict_grant_refuses_any_unknown_scope() -> None:
    client = sandbox_client(["token-scope-grant:strict"])
    refused = _post(client, assertion(), scope="system/Patient.r system/Nope.r")
    _assert_refused(refused, "invalid_scope")
    assert "system/Nope.r" in refused.json()["error_description"]
    assert _post(client, assertion(), scope="system/Patient.r").json()["scope"] == "system/Patient.r"


def test_token_lifetime_setting_and_fault() -> None:
    settings = SandboxSettings(token_lifetime=120)
    assert _post(TestClient(create_app(settings)), assertion()).json()["expires_in"] == 120
    faulty = sandbox_client(["token-lifetime:30"])
    assert _post(faulty, assertion()).json()["expires_in"] == 30


def test_grant_fewer_scopes_leaves_the_resource_out() -> None:
    body = _post(sandbox_client(["grant-fewer-scopes:Patient"]), assertion()).json()
    granted = body["scope"].split()
    assert not [s for s in granted if s.startswith("system/Patient.")]
    assert "system/Practitioner.r" in granted


def test_token_500_is_an_html_page() -> None:
    response = _post(sandbox_client(["token-500"]), assertion())
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "500 - Internal server error." in response.text


# --- refusals -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _other_rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem_of_sandbox_rsa() -> bytes:
    return private_key(rsa_pem()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _alg_none() -> str:
    return raw_jwt({"alg": "none", "typ": "JWT", "kid": RS_KID}, claims(), lambda _: b"")


def _hs256_with_public_key() -> str:
    secret = _public_pem_of_sandbox_rsa()
    return raw_jwt(
        {"alg": "HS256", "typ": "JWT", "kid": RS_KID},
        claims(),
        lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
    )


def _form_post(build: Callable[[], str], **form: str) -> Callable[[TestClient], httpx.Response]:
    return lambda client: _post(client, build(), **form)


def _replay(client: TestClient) -> httpx.Response:
    reused = assertion(jti="used-once")
    first = _post(client, reused)
    assert first.status_code == 200, first.text
    return _post(client, reused)


def _json_body(client: TestClient) -> httpx.Response:
    return client.post("/oauth2/token", json=token_form(assertion()))


@dataclass(frozen=True)
class Case:
    rule: str
    label: str
    send: Callable[[TestClient], httpx.Response]
    error: str = "invalid_client"
    base: tuple[str, ...] = ()  # faults or settings of the sandbox whose rule refuses


NOW = int(time.time())

CASES: list[Case] = [
    Case("form-body", "JSON body", _json_body, "invalid_request"),
    Case("grant-type", "wrong grant_type", _form_post(assertion, grant_type="password"), "unsupported_grant_type"),
    Case(
        "assertion-type",
        "wrong client_assertion_type",
        _form_post(assertion, client_assertion_type="urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
        "invalid_request",
    ),
    Case("typ", "typ at+jwt", _form_post(lambda: assertion(typ="at+jwt"))),
    Case("alg", "alg none", _form_post(_alg_none)),
    Case("alg", "HS256 keyed with the public key", _form_post(_hs256_with_public_key)),
    Case("client", "unknown client", _form_post(lambda: assertion(iss="not-registered", sub="not-registered"))),
    Case("iss-sub", "iss differs from sub", _form_post(lambda: assertion(sub="someone-else"))),
    Case("jku", "unregistered jku", _form_post(lambda: assertion(headers={"jku": "https://keys.example/jwks"}))),
    Case("kid", "unknown kid", _form_post(lambda: assertion(kid="unknown-kid"))),
    Case("signature", "unregistered signing key", _form_post(lambda: assertion(_other_rsa_pem()))),
    Case("aud", "wrong aud", _form_post(lambda: assertion(aud="https://fhir.epic.com/interconnect-fhir-oauth/oauth2/token"))),
    Case("exp-missing", "no exp", _form_post(lambda: assertion(exp=DROP))),
    Case("exp-expired", "expired exp", _form_post(lambda: assertion(exp=int(time.time()) - 60, iat=int(time.time()) - 120, nbf=DROP))),
    Case("exp-max", "exp 10 minutes ahead", _form_post(lambda: assertion(exp=int(time.time()) + 600, iat=DROP, nbf=DROP))),
    Case("nbf-future", "nbf in the future", _form_post(lambda: assertion(nbf=int(time.time()) + 120, iat=DROP))),
    Case("iat-future", "iat in the future", _form_post(lambda: assertion(iat=int(time.time()) + 120, nbf=DROP))),
    Case("exp-nbf", "exp - nbf over 5 minutes", _form_post(lambda: assertion(nbf=int(time.time()) - 400, iat=DROP, exp=int(time.time()) + 60))),
    Case("exp-iat", "exp - iat over 5 minutes", _form_post(lambda: assertion(iat=int(time.time()) - 400, nbf=DROP, exp=int(time.time()) + 60))),
    Case("jti-missing", "no jti", _form_post(lambda: assertion(jti=DROP))),
    Case("jti-type", "numeric jti", _form_post(lambda: assertion(jti=12345))),
    Case("jti-length", "152-character jti", _form_post(lambda: assertion(jti="j" * 152))),
    Case("jti-replay", "reused jti", _replay),
    Case("scope", "unregistered scope", _form_post(assertion, scope="system/Nope.r"), "invalid_scope",
         ("token-scope-grant:requested",)),
]


def test_every_token_rule_has_a_case() -> None:
    assert {case.rule for case in CASES} == set(TOKEN_RULES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.rule}:{case.label}")
def test_rule_refuses_and_its_fault_accepts(case: Case) -> None:
    _assert_refused(case.send(sandbox_client(case.base)), case.error)
    accepted = case.send(sandbox_client([*case.base, f"token-skip:{case.rule}"]))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["token_type"] == "bearer"


def test_jti_151_characters_is_fine() -> None:
    assert _post(sandbox_client(), assertion(jti="j" * 151)).status_code == 200


def test_same_jti_from_fresh_sandbox_is_fine_and_replay_is_per_client() -> None:
    assert _post(sandbox_client(), assertion(jti="x")).status_code == 200
    assert _post(sandbox_client(), assertion(jti="x")).status_code == 200


def test_es256_cannot_use_the_p384_key() -> None:
    es256 = raw_jwt(
        {"alg": "ES256", "typ": "JWT", "kid": ES_KID}, claims(), lambda _: b"\x00" * 64
    )
    _assert_refused(_post(sandbox_client(), es256), "invalid_client")


def test_es384_needs_a_jku_or_an_ec_key_for_the_client() -> None:
    sandbox = load_clients()[0]
    rsa_only = RegisteredClient(
        client_id="rsa-only",
        name="RSA only",
        jwks={"keys": [k for k in sandbox.jwks["keys"] if k["kty"] == "RSA"]},
        jku=None,
        scopes=("system/Patient.r",),
    )
    client = TestClient(create_app(SandboxSettings(clients=(rsa_only,))))
    response = _post(client, assertion(ec_pem(), alg="ES384", kid=ES_KID, iss="rsa-only", sub="rsa-only"))
    _assert_refused(response, "invalid_client")
    assert "JWK Set URL" in response.json()["error_description"]


def test_client_registered_with_a_jku_has_its_keys_fetched() -> None:
    sandbox = load_clients()[0]
    served: list[str] = []

    async def jwks(request: Request) -> JSONResponse:
        served.append(request.url.path)
        return JSONResponse(sandbox.jwks)

    keys_host = EmbeddedSandbox()
    keys_host.app = Starlette(routes=[Route("/jwks", jwks)])  # serve only a JWK Set
    with keys_host:
        jku = f"{keys_host.base_url}/jwks"
        with_jku = RegisteredClient("jku-client", "JKU client", {"keys": []}, jku, ("system/Patient.r",))
        with EmbeddedSandbox(SandboxSettings(clients=(with_jku,))) as tenant:
            signed = assertion(
                ec_pem(),
                alg="ES384",
                kid=ES_KID,
                aud=tenant.token_url,
                iss="jku-client",
                sub="jku-client",
                headers={"jku": jku},
            )
            response = httpx.post(tenant.token_url, data=token_form(signed))
            wrong_jku = assertion(
                ec_pem(),
                alg="ES384",
                kid=ES_KID,
                aud=tenant.token_url,
                iss="jku-client",
                sub="jku-client",
                headers={"jku": jku + "-elsewhere"},
            )
            refused = httpx.post(tenant.token_url, data=token_form(wrong_jku))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "system/Patient.r"
    assert served == ["/jwks"]
    _assert_refused(refused, "invalid_client")


def test_wrong_verb_content_type_and_query_string_are_invalid_request() -> None:
    client = sandbox_client()
    _assert_refused(client.get("/oauth2/token"), "invalid_request")
    _assert_refused(
        client.post("/oauth2/token", content=json.dumps(token_form(assertion())), headers={"content-type": "text/plain"}),
        "invalid_request",
    )
    _assert_refused(client.post("/oauth2/token?grant_type=client_credentials", data=token_form(assertion())), "invalid_request")
    _assert_refused(
        client.post(
            "/oauth2/token",
            content="grant_type=client_credentials&grant_type=client_credentials",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        "invalid_request",
    )


def test_missing_assertion_and_malformed_jwt() -> None:
    client = sandbox_client()
    form = token_form("x")
    del form["client_assertion"]
    _assert_refused(client.post("/oauth2/token", data=form), "invalid_request")
    _assert_refused(_post(client, "not.a-jwt"), "invalid_client")
    _assert_refused(_post(client, "a.b"), "invalid_client")


def test_token_error_description_names_the_rule() -> None:
    response = _post(sandbox_client(), assertion(aud="https://elsewhere.example/token"))
    assert "aud" in response.json()["error_description"]


def test_ec_key_generated_elsewhere_does_not_verify() -> None:
    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _assert_refused(_post(sandbox_client(), assertion(other, alg="ES384", kid=ES_KID)), "invalid_client")


def test_client_id_constant_matches_registration() -> None:
    assert load_clients()[0].client_id == CLIENT_ID
