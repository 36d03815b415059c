"""SMART Backend Services token endpoint, as Epic runs it.

Every check of a token request is a named rule (see ``faults.TOKEN_RULES``); the fault
``token-skip:<rule>`` switches that one rule off so the sandbox accepts what it must refuse.
Issued tokens are random opaque strings kept in memory with their client, scopes and expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .faults import ActiveFaults
from .settings import RegisteredClient, SandboxSettings

CLIENT_CREDENTIALS = "client_credentials"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = "application/x-www-form-urlencoded"

ALLOWED_ALGS: frozenset[str] = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384"})
EC_CURVE_FOR_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MAX_LIFETIME = 300  # seconds: exp at most 5 minutes ahead, exp-nbf and exp-iat at most 5 minutes
LEEWAY = 5  # seconds of clock skew allowed on exp, nbf and iat
MAX_JTI_LENGTH = 151
JKU_CACHE_SECONDS = 29 * 3600


class TokenError(Exception):
    """A refused token request: RFC 6749 section 5.2 error code and a short description."""

    def __init__(self, error: str, description: str, rule: str | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.rule = rule


@dataclass(frozen=True)
class IssuedToken:
    token: str
    client_id: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float

    def valid(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at


@dataclass(frozen=True)
class TokenGrant:
    """A successful token response."""

    access_token: str
    expires_in: int
    scope: str

    def body(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class TokenRequest:
    """What arrived at the token endpoint, before any rule looked at it."""

    method: str
    content_type: str
    body: bytes
    query: tuple[tuple[str, str], ...]
    token_url: str


# --- scopes ---------------------------------------------------------------------------------

_SCOPE = re.compile(r"^(?P<context>patient|user|system)/(?P<resource>\*|[A-Za-z]+)\.(?P<perms>[^?]+)(?:\?(?P<query>.*))?$")
_V1_PERMS = {"read": "rs", "write": "cud", "*": "cruds"}


def _scope_parts(scope: str) -> tuple[str, str, frozenset[str], str | None] | None:
    match = _SCOPE.match(scope)
    if not match:
        return None
    perms = _V1_PERMS.get(match["perms"], match["perms"])
    if not set(perms) <= set("cruds"):
        return None
    return match["context"], match["resource"], frozenset(perms), match["query"]


def scope_within(registered: str, requested: str) -> bool:
    """Is ``registered`` no broader than ``requested`` (SMART v1 or v2 grammar)?"""
    if registered == requested:
        return True
    have, want = _scope_parts(registered), _scope_parts(requested)
    if have is None or want is None:
        return False
    return (
        have[0] == want[0]
        and want[1] in ("*", have[1])
        and have[2] <= want[2]
        and (want[3] is None or have[3] == want[3])
    )


def scope_resource(scope: str) -> str | None:
    parts = _scope_parts(scope)
    return parts[1] if parts else None


def permits(scopes: Sequence[str], resource: str, letter: str) -> bool:
    """Does any granted scope allow interaction ``letter`` (c r u d s) on ``resource``?
    Category-qualified scopes count: Epic then filters the results (59204)."""
    for scope in scopes:
        parts = _scope_parts(scope)
        if parts and parts[1] in ("*", resource) and letter in parts[2]:
            return True
    return False


# --- keys -----------------------------------------------------------------------------------


def _jwk_to_key(jwk: Mapping[str, Any]) -> Any:
    return jwt.PyJWK(dict(jwk)).key


def _key_fits(jwk: Mapping[str, Any], alg: str) -> bool:
    kty = jwk.get("kty")
    if alg.startswith(("RS", "PS")):
        return kty == "RSA"
    if alg.startswith("ES"):
        return kty == "EC" and jwk.get("crv") == EC_CURVE_FOR_ALG.get(alg)
    return False


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _public_pem(key: Any) -> bytes:
    if isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return b""


# --- the service ----------------------------------------------------------------------------


class TokenService:
    """Validates client assertions, issues tokens, and answers whether a bearer token is valid."""

    def __init__(
        self,
        settings: SandboxSettings,
        faults: ActiveFaults,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.faults = faults
        self.clock = clock
        self.clients: dict[str, RegisteredClient] = {c.client_id: c for c in settings.clients}
        self.lifetime: int = faults.last("token-lifetime") or settings.token_lifetime
        self._tokens: dict[str, IssuedToken] = {}
        self._seen_jti: dict[tuple[str, str], float] = {}
        self._jku_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # -- bearer tokens --

    def lookup(self, token: str) -> IssuedToken | None:
        """The issued token, if it exists and has not expired."""
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None or not issued.valid(self.clock()):
            return None
        return issued

    def all_registered_scopes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for client in self.settings.clients:
            seen.update(dict.fromkeys(client.scopes))
        return tuple(seen)

    # -- the token request --

    async def issue(self, request: TokenRequest) -> TokenGrant:
        """Run every rule on ``request``; a grant, or TokenError naming the rule that failed."""
        params = self._params(request)
        self._rule(
            "grant-type",
            "grant_type" in params,
            "invalid_request",
            "grant_type is required",
        )
        self._rule(
            "grant-type",
            params.get("grant_type", CLIENT_CREDENTIALS) == CLIENT_CREDENTIALS,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        )
        self._rule(
            "assertion-type",
            params.get("client_assertion_type") == JWT_BEARER,
            "invalid_request",
            f"client_assertion_type must be {JWT_BEARER}",
        )
        assertion = params.get("client_assertion", "")
        if not assertion:
            raise TokenError("invalid_request", "client_assertion is required")
        header, claims, signing_input, signature = self._decode(assertion)
        now = self.clock()

        typ = header.get("typ")
        self._auth("typ", typ is None or str(typ).upper() == "JWT", "header typ must be JWT")
        alg = header.get("alg")
        self._auth(
            "alg", isinstance(alg, str) and alg in ALLOWED_ALGS, f"alg {alg!r} is not accepted"
        )

        iss, sub = claims.get("iss"), claims.get("sub")
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None and self.faults.skip("client"):
            client = self._client_by_kid(header.get("kid"))
        if client is None:
            if not self.faults.skip("client"):
                raise TokenError("invalid_client", "iss is not a registered client", "client")
            raise TokenError("invalid_client", "no client is registered with this tenant", "client")
        self._auth("iss-sub", iss == sub, "sub must equal iss")
        if isinstance(alg, str) and alg.startswith("ES"):
            self._auth(
                "alg",
                client.jku is not None or any(k.get("kty") == "EC" for k in client.jwks.get("keys", ())),
                f"{alg} is accepted only for clients that registered a JWK Set URL",
            )
        jku = header.get("jku")
        self._auth(
            "jku",
            jku is None or jku == client.jku,
            "jku does not match the client's registered JWK Set URL",
        )

        candidates = await self._candidate_keys(client, header)
        self._verify_signature(alg, candidates, signing_input, signature)

        aud = claims.get("aud")
        aud_ok = aud == request.token_url or (isinstance(aud, list) and request.token_url in aud)
        self._auth("aud", aud_ok, "aud must be this token endpoint's URL")

        exp = claims.get("exp")
        has_exp = isinstance(exp, (int, float)) and not isinstance(exp, bool)
        self._auth("exp-missing", has_exp, "exp is required (a number of seconds)")
        if has_exp:
            self._auth("exp-expired", exp > now - LEEWAY, "the assertion has expired")
            self._auth(
                "exp-max",
                exp <= now + MAX_LIFETIME + LEEWAY,
                "exp is more than 5 minutes in the future",
            )
        for name, future_rule, window_rule in (("nbf", "nbf-future", "exp-nbf"), ("iat", "iat-future", "exp-iat")):
            value = claims.get(name)
            if value is None:
                continue
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            self._auth(future_rule, numeric and value <= now + LEEWAY, f"{name} is in the future")
            if has_exp and numeric:
                self._auth(
                    window_rule,
                    exp - value <= MAX_LIFETIME,
                    f"exp - {name} is longer than 5 minutes",
                )

        jti = claims.get("jti")
        self._auth("jti-missing", jti is not None, "jti is required")
        if jti is not None:
            self._auth("jti-type", isinstance(jti, str), "jti must be a string")
            self._auth(
                "jti-length",
                len(str(jti)) <= MAX_JTI_LENGTH,
                f"jti is longer than {MAX_JTI_LENGTH} characters",
            )
            until = float(exp) if has_exp else now + MAX_LIFETIME
            fresh = self._remember_jti(client.client_id, str(jti), until, now)
            self._auth("jti-replay", fresh, "jti has already been used")

        scopes = self._grant_scopes(client, params.get("scope"))
        return self._store(client, scopes, now)

    # -- steps --

    def _rule(self, rule: str, ok: bool, error: str, description: str) -> None:
        if not ok and not self.faults.skip(rule):
            raise TokenError(error, description, rule)

    def _auth(self, rule: str, ok: bool, description: str) -> None:
        self._rule(rule, ok, "invalid_client", description)

    def _params(self, request: TokenRequest) -> dict[str, str]:
        media = request.content_type.split(";")[0].strip().lower()
        pairs: list[tuple[str, str]] = []
        decodable = True
        if media == FORM:
            try:
                pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                decodable = False
        names = [name for name, _ in pairs]
        if (
            request.method == "POST"
            and media == FORM
            and decodable
            and not request.query
            and len(names) == len(set(names))
        ):
            return dict(pairs)
        self._rule(
            "form-body",
            False,
            "invalid_request",
            "the token request must be a POST with a form-encoded body, each parameter once",
        )
        return dict(pairs or self._lenient_pairs(request))

    @staticmethod
    def _lenient_pairs(request: TokenRequest) -> list[tuple[str, str]]:
        """Parameters from a JSON object body, a form body of any content type, or the query."""
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict):
            return [(str(k), str(v)) for k, v in data.items()]
        try:
            pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            pairs = []
        return pairs or list(request.query)

    @staticmethod
    def _decode(assertion: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
        parts = assertion.split(".")
        try:
            if len(parts) != 3:
                raise ValueError("not three segments")
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError("not JSON objects")
        except (ValueError, TypeError, UnicodeDecodeError):
            raise TokenError("invalid_client", "client_assertion is not a well-formed JWT") from None
        return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature

    def _client_by_kid(self, kid: Any) -> RegisteredClient | None:
        for client in self.settings.clients:
            if any(k.get("kid") == kid for k in client.jwks.get("keys", ())):
                return client
        return self.settings.clients[0] if self.settings.clients else None

    async def _client_jwks(self, client: RegisteredClient, refresh: bool = False) -> list[dict[str, Any]]:
        keys = list(client.jwks.get("keys", ()))
        if keys or not client.jku:
            return keys
        cached = self._jku_cache.get(client.jku)
        if cached and not refresh and self.clock() - cached[0] < JKU_CACHE_SECONDS:
            return list(cached[1].get("keys", ()))
        try:
            async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as http:
                response = await http.get(client.jku, headers={"accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            raise TokenError("invalid_client", "the client's JWK Set URL could not be fetched", "jku") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise TokenError("invalid_client", "the client's JWK Set URL is not a JWK Set", "jku")
        self._jku_cache[client.jku] = (self.clock(), document)
        return list(document["keys"])

    async def _candidate_keys(self, client: RegisteredClient, header: Mapping[str, Any]) -> list[dict[str, Any]]:
        alg = str(header.get("alg"))
        kid = header.get("kid")
        fits = (lambda jwk: True) if self.faults.skip("alg") else (lambda jwk: _key_fits(jwk, alg))
        keys = await self._client_jwks(client)
        if kid is not None and client.jku and not any(k.get("kid") == kid for k in keys):
            keys = await self._client_jwks(client, refresh=True)
        if self.faults.skip("kid"):
            candidates = [k for k in keys if fits(k)]
            self._auth("kid", bool(candidates), f"no registered key fits alg {alg}")
            return candidates
        if kid is not None:
            matching = [k for k in keys if k.get("kid") == kid]
            self._auth("kid", bool(matching), f"kid {kid!r} is not a registered key")
            self._auth("kid", all(fits(k) for k in matching) and len(matching) == 1,
                       f"the key {kid!r} cannot be used with alg {alg}")
            return matching
        candidates = [k for k in keys if fits(k)]
        self._auth("kid", len(candidates) == 1, "kid is required to choose among the registered keys")
        return candidates

    def _verify_signature(
        self, alg: Any, candidates: list[dict[str, Any]], signing_input: bytes, signature: bytes
    ) -> None:
        if self.faults.skip("signature"):
            return
        alg = str(alg)
        for jwk in candidates:
            if self._signature_ok(alg, jwk, signing_input, signature):
                return
        raise TokenError("invalid_client", "the signature does not verify", "signature")

    def _signature_ok(self, alg: str, jwk: Mapping[str, Any], signing_input: bytes, signature: bytes) -> bool:
        try:
            key = _jwk_to_key(jwk)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, KeyError):
            return False
        if alg in ALLOWED_ALGS:
            algorithm = jwt.get_algorithm_by_name(alg)
            try:
                return bool(algorithm.verify(signing_input, key, signature))
            except (ValueError, TypeError, jwt.InvalidKeyError):
                return False
        if not self.faults.skip("alg"):
            return False
        # What a server that trusts the header's alg does: 'none' needs no signature, and HS*
        # is keyed with the public key's PEM text.
        if alg.lower() == "none":
            return signature == b""
        digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
        if alg in digests:
            expected = hmac.new(_public_pem(key), signing_input, digests[alg]).digest()
            return hmac.compare_digest(expected, signature)
        return False

    def _remember_jti(self, client_id: str, jti: str, until: float, now: float) -> bool:
        with self._lock:
            for key in [k for k, expiry in self._seen_jti.items() if expiry < now]:
                del self._seen_jti[key]
            if (client_id, jti) in self._seen_jti:
                return False
            self._seen_jti[(client_id, jti)] = max(until, now)
            return True

    def _grant_scopes(self, client: RegisteredClient, requested: str | None) -> tuple[str, ...]:
        registered = client.scopes
        wanted = (requested or "").split()
        if not wanted:
            granted = list(registered)
        elif self.faults.skip("scope"):
            granted = list(dict.fromkeys(wanted))
        else:
            granted = [s for s in registered if any(scope_within(s, w) for w in wanted)]
            if not granted:
                raise TokenError("invalid_scope", "none of the requested scopes is registered for this client")
        dropped = set(self.faults.args("grant-fewer-scopes"))
        if dropped:
            granted = [s for s in granted if scope_resource(s) not in dropped]
        return tuple(granted)

    def _store(self, client: RegisteredClient, scopes: tuple[str, ...], now: float) -> TokenGrant:
        token = secrets.token_urlsafe(96)
        issued = IssuedToken(token, client.client_id, scopes, now, now + self.lifetime)
        with self._lock:
            for key in [k for k, t in self._tokens.items() if not t.valid(now)]:
                del self._tokens[key]
            self._tokens[token] = issued
        return TokenGrant(token, self.lifetime, " ".join(scopes))
