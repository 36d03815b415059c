"""Bad token requests, one per rule a SMART Backend Services token endpoint must enforce.

Each probe changes exactly one thing in an otherwise valid request, so a tenant that accepts it
has shown that it does not enforce that rule.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.auth import ASSERTION_TYPE, AssertionSpec, new_jti, sign_assertion
from harness.config import AuthConfig

OAUTH_ERRORS = frozenset({"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                          "unsupported_grant_type", "invalid_scope"})


@dataclass(frozen=True)
class BadTokenRequest:
    content: bytes
    content_type: str


@dataclass(frozen=True)
class TokenProbe:
    id: str
    title: str
    expect_error: str | None  # the RFC 6749 error a careful server gives; None when several are right
    build: Callable[[AuthConfig, str], BadTokenRequest]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _form(assertion: str | None, **overrides: str | None) -> BadTokenRequest:
    from urllib.parse import urlencode

    fields: dict[str, str | None] = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                                     "client_assertion": assertion}
    fields.update(overrides)
    body = urlencode({k: v for k, v in fields.items() if v is not None})
    return BadTokenRequest(body.encode(), "application/x-www-form-urlencoded")


def _signed(auth: AuthConfig, audience: str, **changes: Any) -> str:
    spec = replace(AssertionSpec.for_client(auth, audience), **changes)
    return sign_assertion(spec, auth.private_key)


def _with_spec(**changes: Any) -> Callable[[AuthConfig, str], BadTokenRequest]:
    return lambda auth, aud: _form(_signed(auth, aud, **changes))


def _alg_none(auth: AuthConfig, aud: str) -> BadTokenRequest:
    spec = AssertionSpec.for_client(auth, aud)
    header = {"alg": "none", "typ": "JWT", "kid": auth.kid}
    token = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(spec.claims()).encode())}."
    return _form(token)


def _hs256_with_public_key(auth: AuthConfig, aud: str) -> BadTokenRequest:
    spec = AssertionSpec.for_client(auth, aud)
    public_pem = auth.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": auth.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(spec.claims()).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return _form(f"{signing_input}.{_b64(signature)}")


def _unregistered_key(auth: AuthConfig, aud: str) -> BadTokenRequest:
    stranger = (ec.generate_private_key(ec.SECP384R1()) if auth.algorithm.startswith("ES")
                else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _form(sign_assertion(AssertionSpec.for_client(auth, aud), stranger))


def _json_body(auth: AuthConfig, aud: str) -> BadTokenRequest:
    body = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _signed(auth, aud)}
    return BadTokenRequest(json.dumps(body).encode(), "application/json")


def _expired(auth: AuthConfig, aud: str) -> BadTokenRequest:
    return _form(_signed(auth, aud, issued_at=time.time() - 300, lifetime=240))


def _too_long(auth: AuthConfig, aud: str) -> BadTokenRequest:
    now = int(time.time())
    return _form(_signed(auth, aud, extra_claims={"exp": now + 900}))


def _future_iat(auth: AuthConfig, aud: str) -> BadTokenRequest:
    return _form(_signed(auth, aud, issued_at=time.time() + 180, lifetime=60))


PROBES: tuple[TokenProbe, ...] = (
    TokenProbe("grant-type", "wrong grant_type", "unsupported_grant_type",
               lambda auth, aud: _form(_signed(auth, aud), grant_type="password")),
    TokenProbe("assertion-type", "wrong client_assertion_type", None,
               lambda auth, aud: _form(_signed(auth, aud), client_assertion_type="urn:example:not-jwt-bearer")),
    TokenProbe("json-body", "JSON body instead of a form", "invalid_request", _json_body),
    TokenProbe("missing-assertion", "no client_assertion", None, lambda auth, aud: _form(None)),
    TokenProbe("aud", "aud is not the token endpoint", "invalid_client",
               lambda auth, aud: _form(_signed(auth, "https://not-the-token-endpoint.example/oauth2/token"))),
    TokenProbe("iss", "iss is another client", "invalid_client", _with_spec(issuer="not-this-client")),
    TokenProbe("iss-sub", "sub differs from iss", "invalid_client", _with_spec(subject="someone-else")),
    TokenProbe("unknown-client", "iss and sub name an unregistered client", "invalid_client",
               _with_spec(issuer="unregistered-client-0000", subject="unregistered-client-0000")),
    TokenProbe("exp-missing", "no exp claim", "invalid_client", _with_spec(drop_claims=("exp",))),
    TokenProbe("exp-expired", "exp already passed", "invalid_client", _expired),
    TokenProbe("exp-max", "exp more than 5 minutes ahead", "invalid_client", _too_long),
    TokenProbe("iat-future", "iat and nbf in the future", "invalid_client", _future_iat),
    TokenProbe("jti-missing", "no jti claim", "invalid_client", _with_spec(drop_claims=("jti",))),
    TokenProbe("alg-none", "alg none (unsigned)", "invalid_client", _alg_none),
    TokenProbe("hs256-public-key", "HS256 signed with the public key as secret", "invalid_client",
               _hs256_with_public_key),
    TokenProbe("signature", "signed by an unregistered key", "invalid_client", _unregistered_key),
    TokenProbe("kid", "kid names no registered key", "invalid_client", _with_spec(kid="no-such-key-id")),
    TokenProbe("jku", "jku is not the registered JWK Set URL", "invalid_client",
               _with_spec(jku="https://attacker.example/.well-known/jwks.json")),
)


def replayed_jti(auth: AuthConfig, aud: str) -> tuple[BadTokenRequest, BadTokenRequest]:
    """Two valid assertions with the same jti: the first must succeed, the second must not."""
    jti = new_jti()
    return _form(_signed(auth, aud, jti=jti)), _form(_signed(auth, aud, jti=jti))
