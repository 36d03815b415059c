"""SMART Backend Services on the app's side: the client assertion and the access token."""

from __future__ import annotations

import secrets as _random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import jwt

from harness.config import AuthConfig
from harness.errors import AuthError, TenantError
from harness.scrub import SecretRegistry, parse_json_body

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300  # SMART and Epic: exp at most 5 minutes ahead
REFRESH_MARGIN = 60  # seconds before expiry at which a cached token is renewed
MIN_REUSE = 1.0  # a token is reused at least this long (unless refused), whatever expires_in says


def new_jti() -> str:
    """A unique assertion id: 64 hex characters, well under Epic's 151-character limit."""
    return _random.token_hex(32)


@dataclass(frozen=True)
class AssertionSpec:
    """What goes into one client assertion. Negative checks change one field at a time."""

    issuer: str
    subject: str
    audience: str
    kid: str | None
    algorithm: str
    lifetime: int = 240
    jti: str | None = None
    jku: str | None = None
    issued_at: float | None = None
    extra_claims: dict[str, Any] = field(default_factory=dict)
    drop_claims: tuple[str, ...] = ()
    extra_headers: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_client(cls, auth: AuthConfig, audience: str) -> "AssertionSpec":
        return cls(issuer=auth.client_id, subject=auth.client_id, audience=audience, kid=auth.kid or None,
                   algorithm=auth.algorithm, jku=auth.jku)

    def claims(self, now: float | None = None) -> dict[str, Any]:
        now = int(self.issued_at if self.issued_at is not None else (now or time.time()))
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": self.subject, "aud": self.audience,
            "jti": self.jti or new_jti(), "iat": now, "nbf": now, "exp": now + self.lifetime,
        }
        claims.update(self.extra_claims)
        for name in self.drop_claims:
            claims.pop(name, None)
        return claims

    def headers(self) -> dict[str, Any]:
        headers: dict[str, Any] = {"typ": "JWT"}
        if self.kid:
            headers["kid"] = self.kid
        if self.jku:
            headers["jku"] = self.jku
        headers.update(self.extra_headers)
        return headers


def sign_assertion(spec: AssertionSpec, key: Any, now: float | None = None) -> str:
    if spec.lifetime > MAX_ASSERTION_LIFETIME and "exp" not in spec.extra_claims:
        raise ValueError("a client assertion may live at most 300 seconds")
    return jwt.encode(spec.claims(now), key, algorithm=spec.algorithm, headers=spec.headers())


@dataclass(frozen=True)
class TokenGrant:
    """A token response, without the token itself (which only TokenProvider holds)."""

    token_type: str
    expires_in: Any
    scope: str | None
    status: int
    fields: tuple[str, ...]


class TokenProvider:
    """One token per run (per scope set), kept in memory only, renewed before it expires."""

    def __init__(self, auth: AuthConfig, token_endpoint: Callable[[], str],
                 post: Callable[[str, dict[str, str]], httpx.Response], secrets: SecretRegistry) -> None:
        self._auth = auth
        self._token_endpoint = token_endpoint
        self._post = post
        self._secrets = secrets
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.grant: TokenGrant | None = None
        self.requests_sent = 0
        self.refusal: AuthError | None = None

    def form(self, assertion: str) -> dict[str, str]:
        form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion}
        if self._auth.scope:
            form["scope"] = self._auth.scope
        return form

    def token(self) -> str:
        with self._lock:
            if self.refusal is not None:  # asked once per run: a broken tenant is not hammered
                raise self.refusal
            if self._token is None or time.time() >= self._refresh_at:
                try:
                    self._request()
                except AuthError as exc:
                    self.refusal = exc
                    raise
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _request(self) -> None:
        endpoint = self._token_endpoint()
        assertion = sign_assertion(AssertionSpec.for_client(self._auth, endpoint), self._auth.private_key)
        self._secrets.add(assertion)
        self.requests_sent += 1
        try:
            response = self._post(endpoint, self.form(assertion))
        except TenantError as exc:
            raise AuthError(self._secrets.scrub_text(f"token endpoint could not be reached: {exc}"),
                            category="tenant-fault") from None
        body: Any = None
        try:
            body = parse_json_body(response.text)  # a UTF-8 BOM is tolerated
        except ValueError:
            pass
        if isinstance(body, dict) and isinstance(body.get("access_token"), str):
            self._secrets.add(body["access_token"])  # a secret from now on, whatever else is wrong
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            raise AuthError(self._secrets.scrub_text(describe_token_refusal(response.status_code, body, response.text)))
        token = str(body["access_token"])
        self._secrets.add(token)
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) else 300.0
        self._token = token
        self._refresh_at = time.time() + max(MIN_REUSE, lifetime - min(REFRESH_MARGIN, lifetime / 4))
        self.grant = TokenGrant(token_type=str(body.get("token_type", "")), expires_in=expires_in,
                                scope=body.get("scope") if isinstance(body.get("scope"), str) else None,
                                status=response.status_code, fields=tuple(sorted(body)))


def describe_token_refusal(status: int, body: Any, text: str) -> str:
    if isinstance(body, dict) and body.get("error"):
        error = body["error"]
        description = body.get("error_description")
        hint = {
            "invalid_client": "the tenant did not accept the client assertion: check that the client id is "
                              "registered in this environment, that the public key (JWK Set) is registered "
                              "with it, and that the token endpoint is the assertion's aud",
            "unauthorized_client": "the client is known but not allowed this grant: the customer's Epic team "
                                   "must map the backend client to a user and activate it for client_credentials",
            "invalid_scope": "a requested scope is not registered for this client",
        }.get(error, "")
        detail = f" ({description})" if description else " (no error_description given)"
        return f"token request refused with HTTP {status}: {error}{detail}" + (f"; {hint}" if hint else "")
    return f"token request failed with HTTP {status} and a body that is not an OAuth error: {text[:120]!r}"
