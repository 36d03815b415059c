"""Cached search results and the opaque page tokens of their ``next`` links.

Epic answers a search with its first page and, when more remain, a ``next`` link of the form
``{base}/{Type}?sessionID=<opaque>``: the query is never repeated. The sandbox does the same: a
search with more matches than fit one page keeps the matching ids in a :class:`SearchSession` and
hands out one opaque token per page (``<n>-<32 hex digits>``, like Epic's
``16-E90EE22641B311F1BE0E005056BECC4A``). A session lives a fixed time from the search that made
it; a token of an expired or unknown session is answered with Epic's 4113.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: How long the results of one search stay cached (seconds).
SESSION_LIFETIME = 600.0
#: How many sessions are kept at most (the oldest are dropped first).
MAX_SESSIONS = 512


@dataclass
class SearchSession:
    """The results of one search: ``(type, id)`` of each match, in order, and the page size."""

    version: str
    resource_type: str
    keys: Sequence[tuple[str, str]]
    page_size: int
    expires_at: float
    number: int = 0
    tokens: dict[int, str] = field(default_factory=dict)  # offset -> token
    pages: int | None = None  # at least this many pages, even past the matches (large-page faults)

    def page(self, offset: int) -> Sequence[tuple[str, str]]:
        return self.keys[offset : offset + self.page_size]

    def has_more(self, offset: int) -> bool:
        return has_more(len(self.keys), self.page_size, offset, self.pages)


def has_more(count: int, page_size: int, offset: int, pages: int | None = None) -> bool:
    """Is there a page after the one at ``offset``?"""
    if offset + page_size < count:
        return True
    return pages is not None and offset // page_size + 1 < pages


class SearchSessions:
    """Every open search session of one sandbox, and the page tokens that lead into them."""

    def __init__(
        self,
        lifetime: float = SESSION_LIFETIME,
        clock: Callable[[], float] = time.time,
        capacity: int = MAX_SESSIONS,
    ) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self.capacity = capacity
        self._sessions: OrderedDict[int, SearchSession] = OrderedDict()
        self._tokens: dict[str, tuple[int, int]] = {}  # token -> (session number, offset)
        self._numbers = itertools.count(16)
        self._lock = threading.Lock()

    def open(
        self, version: str, resource_type: str, keys: Sequence[tuple[str, str]], page_size: int,
        pages: int | None = None,
    ) -> SearchSession:
        now = self.clock()
        with self._lock:
            self._purge(now)
            number = next(self._numbers)
            session = SearchSession(
                version, resource_type, list(keys), page_size, now + self.lifetime, number, pages=pages
            )
            self._sessions[number] = session
            while len(self._sessions) > self.capacity:
                _, old = self._sessions.popitem(last=False)
                self._forget(old)
            return session

    def token(self, session: SearchSession, offset: int) -> str:
        """The page token of ``offset`` in ``session`` (the same token every time it is asked)."""
        with self._lock:
            existing = session.tokens.get(offset)
            if existing is not None:
                return existing
            token = f"{session.number}-{secrets.token_hex(16).upper()}"
            session.tokens[offset] = token
            self._tokens[token] = (session.number, offset)
            return token

    @staticmethod
    def dead_token() -> str:
        """A token in the right format that leads nowhere."""
        return f"{secrets.randbelow(90) + 10}-{secrets.token_hex(16).upper()}"

    def lookup(self, token: str) -> tuple[SearchSession, int] | None:
        """The session and offset ``token`` leads to, or None when unknown or expired."""
        now = self.clock()
        with self._lock:
            self._purge(now)
            found = self._tokens.get(token)
            if found is None:
                return None
            number, offset = found
            session = self._sessions.get(number)
            if session is None:
                return None
            return session, offset

    def __len__(self) -> int:
        return len(self._sessions)

    def _purge(self, now: float) -> None:
        expired = [number for number, session in self._sessions.items() if session.expires_at <= now]
        for number in expired:
            self._forget(self._sessions.pop(number))

    def _forget(self, session: SearchSession) -> None:
        for token in session.tokens.values():
            self._tokens.pop(token, None)
