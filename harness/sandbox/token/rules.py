"""The token endpoint's rules, each named, each one check of a token request.

A rule is a :class:`TokenRule`: its name, what the endpoint wrongly accepts when the rule is off,
and an async check of a :class:`TokenCheck` (one request, whose parameters, assertion, client and
keys are worked out when a rule first needs them). The endpoint runs :data:`RULES` in order;
the token policy may switch rules off, or move some to the front.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

from ..clients import RegisteredClient
from . import scopes
from .keys import ALLOWED_ALGS, JwksCache, JwksUnavailable, b64url_decode, key_fits, verifies

CLIENT_CREDENTIALS = "client_credentials"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = "application/x-www-form-urlencoded"
MAX_LIFETIME = 300  # seconds: exp at most 5 minutes ahead, exp-nbf and exp-iat at most 5 minutes
LEEWAY = 5  # seconds of clock skew allowed on exp, nbf and iat
MAX_JTI_LENGTH = 151


class TokenError(Exception):
    """A refused token request: RFC 6749 section 5.2 error code, a description, the rule."""

    def __init__(self, error: str, description: str, rule: str | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.rule = rule


@dataclass(frozen=True)
class TokenRequest:
    """What arrived at the token endpoint, before any rule looked at it."""

    method: str
    content_type: str
    body: bytes
    query: tuple[tuple[str, str], ...]
    token_url: str


@dataclass(frozen=True)
class Assertion:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


class JtiMemory:
    """The jtis each client used, kept until their assertion's exp."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def fresh(self, client_id: str, jti: str, until: float, now: float) -> bool:
        """Remember ``jti``; False if the client already used it (and it has not expired)."""
        with self._lock:
            for key in [k for k, expiry in self._seen.items() if expiry < now]:
                del self._seen[key]
            if (client_id, jti) in self._seen:
                return False
            self._seen[(client_id, jti)] = max(until, now)
            return True


class TokenCheck:
    """One token request as the rules see it."""

    def __init__(self, request: TokenRequest, clients: Mapping[str, RegisteredClient], jwks: JwksCache,
                 jtis: JtiMemory, skipped: frozenset[str], scope_grant: str, now: float,
                 unknown_granted: frozenset[str] | None = None) -> None:
        self.request = request
        self.clients = clients
        self.jwks = jwks
        self.jtis = jtis
        self.skipped = skipped
        self.scope_grant = scope_grant
        self.now = now
        #: when set, scopes unknown to these resource types are granted (not refused) by the endpoint
        self.unknown_granted = unknown_granted

    def off(self, rule: str) -> bool:
        return rule in self.skipped

    # -- the form --

    @cached_property
    def _media(self) -> str:
        return self.request.content_type.split(";")[0].strip().lower()

    @cached_property
    def _form_pairs(self) -> list[tuple[str, str]] | None:
        if self._media != FORM:
            return None
        try:
            return parse_qsl(self.request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return None

    @cached_property
    def form_ok(self) -> bool:
        """A POST with a form-encoded body, no query string, each parameter once."""
        pairs = self._form_pairs
        names = [name for name, _ in pairs or ()]
        return (self.request.method == "POST" and pairs is not None and not self.request.query
                and len(names) == len(set(names)))

    @cached_property
    def params(self) -> dict[str, str]:
        """The form's parameters; for a request that is no proper form, what a lenient server
        reads: a JSON object body, a form body of any content type, or the query string."""
        if self._form_pairs:
            return dict(self._form_pairs)
        try:
            data = json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
        try:
            pairs = parse_qsl(self.request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            pairs = []
        return dict(pairs or self.request.query)

    # -- the assertion --

    @cached_property
    def assertion(self) -> Assertion:
        text = self.params.get("client_assertion", "")
        if not text:
            raise TokenError("invalid_request", "client_assertion is required")
        parts = text.split(".")
        try:
            if len(parts) != 3:
                raise ValueError("not three segments")
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError("not JSON objects")
        except (ValueError, TypeError, UnicodeDecodeError):
            raise TokenError("invalid_client", "client_assertion is not a well-formed JWT") from None
        return Assertion(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)

    @property
    def header(self) -> dict[str, Any]:
        return self.assertion.header

    @property
    def claims(self) -> dict[str, Any]:
        return self.assertion.claims

    @property
    def alg(self) -> str:
        return str(self.header.get("alg"))

    # -- the client and its keys --

    @cached_property
    def client(self) -> RegisteredClient | None:
        """The registered client ``iss`` names; with the client rule off, one found by its kid."""
        iss = self.claims.get("iss")
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None and self.off("client"):
            kid = self.header.get("kid")
            client = next((c for c in self.clients.values()
                           if any(k.get("kid") == kid for k in c.jwks.get("keys", ()))), None)
            client = client or next(iter(self.clients.values()), None)
        return client

    def need_client(self) -> RegisteredClient:
        if self.client is None:
            raise TokenError("invalid_client", "no client is registered with this tenant", "client")
        return self.client

    def fits(self, jwk: Mapping[str, Any]) -> bool:
        return True if self.off("alg") else key_fits(jwk, self.alg)

    async def keys(self) -> list[dict[str, Any]]:
        client = self.need_client()
        keys = list(client.jwks.get("keys", ()))
        if keys or not client.jku:
            return keys
        kid = self.header.get("kid")
        try:
            keys = await self.jwks.keys(client.jku)
            if kid is not None and not any(k.get("kid") == kid for k in keys):
                keys = await self.jwks.keys(client.jku, refresh=True)
        except JwksUnavailable as exc:
            raise TokenError("invalid_client", str(exc), "jku") from None
        return keys

    async def candidates(self) -> list[dict[str, Any]]:
        """The keys the signature is tried with."""
        keys = await self.keys()
        kid = self.header.get("kid")
        if kid is not None and not self.off("kid"):
            return [k for k in keys if k.get("kid") == kid]
        return [k for k in keys if self.fits(k)]


# --- the rules ----------------------------------------------------------------------------------

Check = Callable[[TokenCheck], Awaitable[None]]


@dataclass(frozen=True)
class TokenRule:
    name: str
    accepts_when_off: str  # what the endpoint wrongly accepts when this rule is switched off
    check: Check


def _refuse(rule: str, description: str, error: str = "invalid_client") -> TokenError:
    return TokenError(error, description, rule)


async def _form_body(c: TokenCheck) -> None:
    if not c.form_ok:
        raise _refuse("form-body", "the token request must be a POST with a form-encoded body, each parameter once",
                      "invalid_request")


async def _grant_type(c: TokenCheck) -> None:
    if "grant_type" not in c.params:
        raise _refuse("grant-type", "grant_type is required", "invalid_request")
    if c.params["grant_type"] != CLIENT_CREDENTIALS:
        raise _refuse("grant-type", "grant_type must be client_credentials", "unsupported_grant_type")


async def _assertion_type(c: TokenCheck) -> None:
    if c.params.get("client_assertion_type") != JWT_BEARER:
        raise _refuse("assertion-type", f"client_assertion_type must be {JWT_BEARER}", "invalid_request")


async def _typ(c: TokenCheck) -> None:
    typ = c.header.get("typ")
    if typ is not None and str(typ).upper() != "JWT":
        raise _refuse("typ", "header typ must be JWT")


async def _alg(c: TokenCheck) -> None:
    alg = c.header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGS:
        raise _refuse("alg", f"alg {alg!r} is not accepted")
    client = c.client
    if alg.startswith("ES") and client is not None and client.jku is None \
            and not any(k.get("kty") == "EC" for k in client.jwks.get("keys", ())):
        raise _refuse("alg", f"{alg} is accepted only for clients that registered a JWK Set URL")


async def _client(c: TokenCheck) -> None:
    if c.client is None:
        raise _refuse("client", "iss is not a registered client")


async def _iss_sub(c: TokenCheck) -> None:
    if c.claims.get("iss") != c.claims.get("sub"):
        raise _refuse("iss-sub", "sub must equal iss")


async def _jku(c: TokenCheck) -> None:
    jku = c.header.get("jku")
    client = c.client
    if jku is not None and (client is None or jku != client.jku):
        raise _refuse("jku", "jku does not match the client's registered JWK Set URL")


async def _kid(c: TokenCheck) -> None:
    if c.client is None:
        return  # the client rule judges
    keys = await c.keys()
    kid = c.header.get("kid")
    if kid is not None:
        matching = [k for k in keys if k.get("kid") == kid]
        if not matching:
            raise _refuse("kid", f"kid {kid!r} is not a registered key")
        if len(matching) != 1 or not all(c.fits(k) for k in matching):
            raise _refuse("kid", f"the key {kid!r} cannot be used with alg {c.alg}")
    elif len([k for k in keys if c.fits(k)]) != 1:
        raise _refuse("kid", "kid is required to choose among the registered keys")


async def _signature(c: TokenCheck) -> None:
    a = c.assertion
    for jwk in await c.candidates():
        if verifies(c.alg, jwk, a.signing_input, a.signature, trust_header_alg=c.off("alg")):
            return
    raise _refuse("signature", "the signature does not verify")


async def _aud(c: TokenCheck) -> None:
    aud, url = c.claims.get("aud"), c.request.token_url
    if not (aud == url or (isinstance(aud, list) and url in aud)):
        raise _refuse("aud", "aud must be this token endpoint's URL")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


async def _exp_missing(c: TokenCheck) -> None:
    if not _number(c.claims.get("exp")):
        raise _refuse("exp-missing", "exp is required (a number of seconds)")


async def _exp_expired(c: TokenCheck) -> None:
    exp = c.claims.get("exp")
    if _number(exp) and exp <= c.now - LEEWAY:
        raise _refuse("exp-expired", "the assertion has expired")


async def _exp_max(c: TokenCheck) -> None:
    exp = c.claims.get("exp")
    if _number(exp) and exp > c.now + MAX_LIFETIME + LEEWAY:
        raise _refuse("exp-max", "exp is more than 5 minutes in the future")


def _future(claim: str) -> Check:
    async def check(c: TokenCheck) -> None:
        value = c.claims.get(claim)
        if value is not None and not (_number(value) and value <= c.now + LEEWAY):
            raise _refuse(f"{claim}-future", f"{claim} is in the future")

    return check


def _window(claim: str) -> Check:
    async def check(c: TokenCheck) -> None:
        exp, value = c.claims.get("exp"), c.claims.get(claim)
        if _number(exp) and _number(value) and exp - value > MAX_LIFETIME:
            raise _refuse(f"exp-{claim}", f"exp - {claim} is longer than 5 minutes")

    return check


async def _jti_missing(c: TokenCheck) -> None:
    if c.claims.get("jti") is None:
        raise _refuse("jti-missing", "jti is required")


async def _jti_type(c: TokenCheck) -> None:
    jti = c.claims.get("jti")
    if jti is not None and not isinstance(jti, str):
        raise _refuse("jti-type", "jti must be a string")


async def _jti_length(c: TokenCheck) -> None:
    jti = c.claims.get("jti")
    if jti is not None and len(str(jti)) > MAX_JTI_LENGTH:
        raise _refuse("jti-length", f"jti is longer than {MAX_JTI_LENGTH} characters")


async def _jti_replay(c: TokenCheck) -> None:
    jti, exp = c.claims.get("jti"), c.claims.get("exp")
    if jti is None or c.client is None:
        return
    until = float(exp) if _number(exp) else c.now + MAX_LIFETIME
    if not c.jtis.fresh(c.client.client_id, str(jti), until, c.now):
        raise _refuse("jti-replay", "jti has already been used")


def requested_scopes(c: TokenCheck) -> list[str]:
    return list(dict.fromkeys((c.params.get("scope") or "").split()))


async def _scope(c: TokenCheck) -> None:
    asked, policy = requested_scopes(c), c.scope_grant
    if policy == "required" and not asked:
        raise _refuse("scope", "scope is required", "invalid_scope")
    if c.unknown_granted is not None:
        granted_anyway = [s for s in asked if scopes.unknown_scope(s, c.unknown_granted)]
        asked = [s for s in asked if s not in granted_anyway]
        if granted_anyway and not asked:
            return
    if policy == "registered" or not asked or c.client is None:
        return  # nothing to refuse (an unknown client is the client rule's to refuse)
    registered = c.client.scopes
    if policy == "strict":
        unknown = [s for s in asked if not scopes.within_any(registered, [s])]
        if unknown:
            raise _refuse("scope", f"scope {unknown[0]} is not registered for this client", "invalid_scope")
    if not scopes.within_any(registered, asked):
        raise _refuse("scope", "none of the requested scopes is registered for this client", "invalid_scope")


RULES: tuple[TokenRule, ...] = (
    TokenRule("form-body", "a token request that is not a form-encoded POST (JSON body, other content type, "
              "query string parameters, repeated parameters)", _form_body),
    TokenRule("grant-type", "a grant_type other than client_credentials", _grant_type),
    TokenRule("assertion-type", "a client_assertion_type other than the jwt-bearer URN", _assertion_type),
    TokenRule("typ", "a JWT header typ other than JWT", _typ),
    TokenRule("alg", "any header alg (none, HS256 keyed with the public key, ES* for clients without a JWK Set "
              "URL or EC key)", _alg),
    TokenRule("client", "an iss that is no registered client (the client is then found by its key)", _client),
    TokenRule("iss-sub", "an assertion whose sub differs from iss", _iss_sub),
    TokenRule("jku", "a header jku that differs from the client's registered JWK Set URL", _jku),
    TokenRule("kid", "an unknown or missing kid (every key that fits the alg is tried)", _kid),
    TokenRule("signature", "an assertion whose signature does not verify", _signature),
    TokenRule("aud", "an aud other than this token endpoint's URL", _aud),
    TokenRule("exp-missing", "an assertion without exp", _exp_missing),
    TokenRule("exp-expired", "an assertion whose exp has passed", _exp_expired),
    TokenRule("exp-max", "an exp more than 5 minutes ahead", _exp_max),
    TokenRule("nbf-future", "an nbf in the future", _future("nbf")),
    TokenRule("iat-future", "an iat in the future", _future("iat")),
    TokenRule("exp-nbf", "exp - nbf longer than 5 minutes", _window("nbf")),
    TokenRule("exp-iat", "exp - iat longer than 5 minutes", _window("iat")),
    TokenRule("jti-missing", "an assertion without jti", _jti_missing),
    TokenRule("jti-type", "a jti that is not a string", _jti_type),
    TokenRule("jti-length", "a jti longer than 151 characters", _jti_length),
    TokenRule("jti-replay", "a jti already used by the same client before its exp", _jti_replay),
    TokenRule("scope", "requested scopes the grant policy refuses (they are granted as asked)", _scope),
)
#: Rule name -> what the endpoint accepts when it is off.
TOKEN_RULES: dict[str, str] = {rule.name: rule.accepts_when_off for rule in RULES}
BY_NAME: dict[str, TokenRule] = {rule.name: rule for rule in RULES}


def ordered(first: tuple[str, ...], skipped: frozenset[str]) -> list[TokenRule]:
    """The rules to run: ``first`` in that order, then the others in their usual order."""
    chosen = [BY_NAME[name] for name in first] + [rule for rule in RULES if rule.name not in first]
    return [rule for rule in chosen if rule.name not in skipped]
