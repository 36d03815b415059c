"""Bad token requests, one per rule a SMART Backend Services token endpoint must enforce, and their control.

The control is the valid request, built exactly as the probes are (with ``scope`` when the tenant
file sets one, as SMART Backend Services expects). Each probe changes exactly one thing in it. So
once the control is accepted, a tenant that accepts a probe has shown that it does not enforce that
rule, and a refusal of a probe for that one respect shows that it does. Without an accepted control
a refusal proves nothing.
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
    about: tuple[str, ...] = ()  # words an error_description about this probe's rule would use


#: Words by which an error_description names the rule it refused for.
RULE_WORDS: dict[str, tuple[str, ...]] = {
    "scope": ("scope",), "jti": ("jti", "replay"), "exp": ("exp", "expir", "lifetime"), "iat": ("iat", "nbf"),
    "aud": ("aud", "audience"), "iss": ("iss", "issuer", "sub", "subject", "client"),
    "signature": ("signature", "verify", "key"), "kid": ("kid", "key"), "jku": ("jku", "jwk"),
    "alg": ("alg", "algorithm", "hs256", "none", "unsigned"), "grant": ("grant",),
    "assertion": ("assertion", "client_assertion_type", "jwt"), "form": ("content", "form", "json", "body"),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def form_fields(auth: AuthConfig, assertion: str | None) -> dict[str, str | None]:
    """The fields of a valid token request: the control, and what every probe starts from."""
    fields: dict[str, str | None] = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                                     "client_assertion": assertion}
    if auth.scope:
        fields["scope"] = auth.scope
    return fields


def _form(auth: AuthConfig, assertion: str | None, **overrides: str | None) -> BadTokenRequest:
    from urllib.parse import urlencode

    fields = form_fields(auth, assertion)
    fields.update(overrides)
    body = urlencode({k: v for k, v in fields.items() if v is not None})
    return BadTokenRequest(body.encode(), "application/x-www-form-urlencoded")


def _signed(auth: AuthConfig, audience: str, **changes: Any) -> str:
    spec = replace(AssertionSpec.for_client(auth, audience), **changes)
    return sign_assertion(spec, auth.private_key)


def _with_spec(**changes: Any) -> Callable[[AuthConfig, str], BadTokenRequest]:
    return lambda auth, aud: _form(auth, _signed(auth, aud, **changes))


def control(auth: AuthConfig, aud: str) -> BadTokenRequest:
    """The valid token request, built exactly as the probes are."""
    return _form(auth, _signed(auth, aud))


def scoped(auth: AuthConfig, aud: str, scope: str) -> BadTokenRequest:
    """A valid token request asking for ``scope`` (the scope-negotiation checks)."""
    return _form(auth, _signed(auth, aud), scope=scope)


def _alg_none(auth: AuthConfig, aud: str) -> BadTokenRequest:
    spec = AssertionSpec.for_client(auth, aud)
    header = {"alg": "none", "typ": "JWT", "kid": auth.kid}
    token = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(spec.claims()).encode())}."
    return _form(auth, token)


def _hs256_with_public_key(auth: AuthConfig, aud: str) -> BadTokenRequest:
    spec = AssertionSpec.for_client(auth, aud)
    public_pem = auth.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": auth.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(spec.claims()).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return _form(auth, f"{signing_input}.{_b64(signature)}")


def _unregistered_key(auth: AuthConfig, aud: str) -> BadTokenRequest:
    stranger = (ec.generate_private_key(ec.SECP384R1()) if auth.algorithm.startswith("ES")
                else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _form(auth, sign_assertion(AssertionSpec.for_client(auth, aud), stranger))


def _json_body(auth: AuthConfig, aud: str) -> BadTokenRequest:
    body = form_fields(auth, _signed(auth, aud))
    return BadTokenRequest(json.dumps(body).encode(), "application/json")


def _expired(auth: AuthConfig, aud: str) -> BadTokenRequest:
    return _form(auth, _signed(auth, aud, issued_at=time.time() - 300, lifetime=240))


def _too_long(auth: AuthConfig, aud: str) -> BadTokenRequest:
    now = int(time.time())
    return _form(auth, _signed(auth, aud, extra_claims={"exp": now + 900}))


def _future_iat(auth: AuthConfig, aud: str) -> BadTokenRequest:
    return _form(auth, _signed(auth, aud, issued_at=time.time() + 180, lifetime=60))


PROBES: tuple[TokenProbe, ...] = (
    TokenProbe("grant-type", "wrong grant_type", "unsupported_grant_type",
               lambda auth, aud: _form(auth, _signed(auth, aud), grant_type="password"), ("grant",)),
    TokenProbe("assertion-type", "wrong client_assertion_type", None,
               lambda auth, aud: _form(auth, _signed(auth, aud), client_assertion_type="urn:example:not-jwt-bearer"),
               ("assertion",)),
    TokenProbe("json-body", "a JSON body instead of a form", "invalid_request", _json_body, ("form",)),
    TokenProbe("missing-assertion", "no client_assertion", None, lambda auth, aud: _form(auth, None), ("assertion",)),
    TokenProbe("aud", "an aud that is not the token endpoint", "invalid_client",
               lambda auth, aud: _form(auth, _signed(auth, "https://not-the-token-endpoint.example/oauth2/token")),
               ("aud",)),
    TokenProbe("iss", "an iss that is another client", "invalid_client", _with_spec(issuer="not-this-client"), ("iss",)),
    TokenProbe("iss-sub", "a sub that differs from iss", "invalid_client", _with_spec(subject="someone-else"), ("iss",)),
    TokenProbe("unknown-client", "an iss and sub naming an unregistered client", "invalid_client",
               _with_spec(issuer="unregistered-client-0000", subject="unregistered-client-0000"), ("iss",)),
    TokenProbe("exp-missing", "no exp claim", "invalid_client", _with_spec(drop_claims=("exp",)), ("exp",)),
    TokenProbe("exp-expired", "an exp already passed", "invalid_client", _expired, ("exp",)),
    TokenProbe("exp-max", "an exp more than 5 minutes ahead", "invalid_client", _too_long, ("exp",)),
    TokenProbe("iat-future", "an iat and nbf in the future", "invalid_client", _future_iat, ("iat", "exp")),
    TokenProbe("jti-missing", "no jti claim", "invalid_client", _with_spec(drop_claims=("jti",)), ("jti",)),
    TokenProbe("alg-none", "alg none (unsigned)", "invalid_client", _alg_none, ("alg", "signature")),
    TokenProbe("hs256-public-key", "HS256 signed with the public key as secret", "invalid_client",
               _hs256_with_public_key, ("alg", "signature")),
    TokenProbe("signature", "a signature by an unregistered key", "invalid_client", _unregistered_key,
               ("signature", "kid")),
    TokenProbe("kid", "a kid naming no registered key", "invalid_client", _with_spec(kid="no-such-key-id"),
               ("kid", "signature")),
    TokenProbe("jku", "a jku that is not the registered JWK Set URL", "invalid_client",
               _with_spec(jku="https://attacker.example/.well-known/jwks.json"), ("jku", "kid", "signature")),
)


def refusal_elsewhere(probe_about: tuple[str, ...], error: str | None, description: str | None) -> str | None:
    """Why a refusal is about another problem than the probe's rule, or None if it may be about that rule.

    ``invalid_scope`` and ``unauthorized_client`` are about the request's scope or the client's
    registration, never about a forged assertion; an error_description that names another rule and
    not this one says so too.
    """
    if error in ("invalid_scope", "unauthorized_client") and "scope" not in probe_about:
        return f"{error}: a refusal about the client's scope or registration, not about this probe"
    text = (description or "").lower()
    if not text:
        return None
    own = {w for rule in probe_about for w in RULE_WORDS.get(rule, ())}
    if any(w in text for w in own):
        return None
    for rule, words in RULE_WORDS.items():
        if rule not in probe_about and any(w in text for w in words) and rule not in ("iss", "signature", "assertion"):
            return f"the error_description names {rule} ({description!r}), not this probe's rule"
    return None


def replayed_jti(auth: AuthConfig, aud: str) -> tuple[BadTokenRequest, BadTokenRequest]:
    """Two valid assertions with the same jti: the first must succeed, the second must not."""
    jti = new_jti()
    return _form(auth, _signed(auth, aud, jti=jti)), _form(auth, _signed(auth, aud, jti=jti))


@dataclass(frozen=True)
class ControlResult:
    """What the tenant answered to the control: accepted (a token issued) or refused, and why."""

    accepted: bool
    status: int | None
    error: str | None
    detail: str

    def line(self) -> str:
        return self.detail
