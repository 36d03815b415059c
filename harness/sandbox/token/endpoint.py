"""SMART Backend Services token endpoint, as Epic runs it.

:class:`TokenService` checks a token request against the rules (``rules.py``) in the order and
with the rules its :class:`~harness.sandbox.faults.policies.TokenPolicy` says, grants scopes by
the policy's grant rule, and issues random opaque tokens kept in memory with their client,
scopes and expiry.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import documents
from ..clients import RegisteredClient
from ..faults import ActiveFaults, Hook
from ..faults.policies import TokenPolicy
from . import rules, scopes
from .keys import JwksCache
from .rules import TokenCheck, TokenRequest

#: Characters of an access token (``secrets.token_urlsafe(96)``).
TOKEN_LENGTH = 128
#: Resource types a scope may name: those any of the sandbox's CapabilityStatements declares.
KNOWN_TYPES: frozenset[str] = frozenset(
    t for version in ("R4", "STU3", "DSTU2") for t in documents.declared_interactions(version))


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
        return {"access_token": self.access_token, "token_type": "bearer", "expires_in": self.expires_in,
                "scope": self.scope}


class TokenService:
    """Validates client assertions, issues tokens, and answers whether a bearer token is valid."""

    def __init__(self, clients: Sequence[RegisteredClient], faults: ActiveFaults, lifetime: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.clients: dict[str, RegisteredClient] = {c.client_id: c for c in clients}
        #: the token hook point: rules, grant policy, answers (the app reads the answer fields)
        self.policy = policy = faults.policy(Hook.TOKEN, TokenPolicy)
        self.lifetime: int = policy.lifetime or lifetime
        self.clock = clock
        self.rules = rules.ordered(policy.first, frozenset(policy.skipped))
        self._jwks = JwksCache(lambda: self.clock())
        self._jtis = rules.JtiMemory()
        self._tokens: dict[str, IssuedToken] = {}
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
        for client in self.clients.values():
            seen.update(dict.fromkeys(client.scopes))
        return tuple(seen)

    # -- the token request --

    async def issue(self, request: TokenRequest) -> TokenGrant:
        """Run the rules on ``request``; a grant, or TokenError naming the rule that failed."""
        check = TokenCheck(request, self.clients, self._jwks, self._jtis, frozenset(self.policy.skipped),
                           self.policy.scope_grant, self.clock(),
                           unknown_granted=KNOWN_TYPES if self.policy.grant_unknown else None)
        for rule in self.rules:
            await rule.check(check)
        client = check.need_client()
        return self._store(client, self.grant(check, client), check.now)

    def grant(self, check: TokenCheck, client: RegisteredClient) -> tuple[str, ...]:
        """The scopes to grant, by the grant policy (the scope rule already refused what it refuses)."""
        asked = rules.requested_scopes(check)
        if not asked or self.policy.scope_grant == "registered":
            granted = list(client.scopes)
        elif check.off("scope"):
            granted = asked  # granted as asked, registered or not
        else:  # each scope asked as written where the registration covers it, else the registered part of it
            granted = list(dict.fromkeys(
                found for scope in asked
                for found in ([scope] if scopes.covered_by(client.scopes, scope) else
                              scopes.within_any(client.scopes, [scope]))))
        if self.policy.grant_unknown:
            granted = list(dict.fromkeys([*granted, *(s for s in asked if scopes.unknown_scope(s, KNOWN_TYPES))]))
        withheld = self.policy.withheld_resources
        return tuple(s for s in granted if scopes.scope_resource(s) not in withheld)

    def _store(self, client: RegisteredClient, granted: tuple[str, ...], now: float) -> TokenGrant:
        token = _new_token(self.policy.access_token_length or TOKEN_LENGTH)
        issued = IssuedToken(token, client.client_id, granted, now, now + self.lifetime)
        with self._lock:
            for key in [k for k, t in self._tokens.items() if not t.valid(now)]:
                del self._tokens[key]
            self._tokens[token] = issued
        return TokenGrant(token, self.lifetime, " ".join(granted))


def _new_token(length: int) -> str:
    token = secrets.token_urlsafe(max(96, length))
    while len(token) < length:
        token += secrets.token_urlsafe(length)
    return token[:length]
