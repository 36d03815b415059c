"""Pages of a search and the next links between them: the paging hook point.

Epic pages with an opaque ``{base}/{Type}?sessionID=<token>`` next link and a ``Bundle.total``
that counts the entries of this page (``sessions.py`` keeps the results). A type's
:class:`PagingPolicy` may change that: next links that loop, lead nowhere, repeat page 1, live
on another origin, or repeat the query with ``_getpagesoffset`` and a total of every match (as
many other servers page); or pages padded to a size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from .. import outcomes
from ..faults import ActiveFaults, Hook
from ..faults.policies import PagingPolicy
from ..outcomes import FhirError
from .request import FhirRequest
from .routing import Route
from .sessions import SearchSession, SearchSessions, has_more

Key = tuple[str, str]  # (resource type, id)
OFFSET_PARAM = "_getpagesoffset"


@dataclass
class Page:
    """One page of a search: its matches, ``Bundle.total``, its links, and padding to add."""

    keys: Sequence[Key]
    total: int
    next_url: str | None
    self_url: str | None = None  # None: the search's own self link
    padding_bytes: int = 0


class Pager:
    def __init__(self, faults: ActiveFaults, sessions: SearchSessions) -> None:
        self.faults = faults
        self.sessions = sessions

    def policy(self, resource_type: str) -> PagingPolicy:
        return self.faults.policy(Hook.PAGING, PagingPolicy, resource_type)

    # -- pages --

    def first(self, request: FhirRequest, route: Route, keys: Sequence[Key], page_size: int) -> Page:
        """The first page of a search that matched ``keys``."""
        return self.at_offset(request, route, keys, page_size, 0)

    def at_offset(self, request: FhirRequest, route: Route, keys: Sequence[Key], page_size: int,
                  offset: int) -> Page:
        policy = self.policy(route.resource_type)
        matches = len(keys)
        if policy.duplicate and keys:
            page_size = min(page_size, len(keys))  # page 2 repeats page 1, even when all fit on one page
            keys = list(keys[:page_size]) + list(keys)
        pages = policy.large_pages[0] if policy.large_pages else None
        forced = policy.loop or policy.dead_next or policy.duplicate
        next_url = None
        if keys and (forced or has_more(len(keys), page_size, offset, pages)):
            if policy.next_style == "query" and not policy.dead_next:
                next_url = self._query_next(request, route, len(keys), page_size, offset, pages, policy)
            else:
                session = self.sessions.open(request.version, route.resource_type, keys, page_size, pages)
                next_url = self._session_next(request, route.resource_type, session, offset, policy)
        shown = keys[offset: offset + page_size]
        return Page(shown, matches if policy.total == "all" else len(shown), next_url,
                    padding_bytes=self._padding(policy))

    def from_session(self, request: FhirRequest, route: Route, token: str) -> Page:
        """The page a ``sessionID`` token leads to (Epic's 4113 when it leads nowhere)."""
        found = self.sessions.lookup(token)
        if found is None:
            raise FhirError(404, outcomes.session_expired())
        session, offset = found
        if session.resource_type != route.resource_type or session.version != request.version:
            raise FhirError(404, outcomes.session_expired())
        policy = self.policy(route.resource_type)
        shown = session.page(offset)
        return Page(shown, len(session.keys) if policy.total == "all" else len(shown),
                    self._session_next(request, route.resource_type, session, offset, policy),
                    self_url=self._on_origin(session_url(request, route.resource_type, token), policy),
                    padding_bytes=self._padding(policy))

    # -- links --

    def _next_offset(self, offset: int, page_size: int, policy: PagingPolicy) -> int:
        return 0 if policy.loop else offset + page_size

    def _session_next(self, request: FhirRequest, resource_type: str, session: SearchSession, offset: int,
                      policy: PagingPolicy) -> str | None:
        if policy.dead_next:
            token = self.sessions.dead_token()
        elif policy.loop:
            token = self.sessions.token(session, 0)
        elif session.has_more(offset):
            token = self.sessions.token(session, offset + session.page_size)
        else:
            return None
        return self._on_origin(session_url(request, resource_type, token), policy)

    def _query_next(self, request: FhirRequest, route: Route, count: int, page_size: int, offset: int,
                    pages: int | None, policy: PagingPolicy) -> str | None:
        if not (policy.loop or has_more(count, page_size, offset, pages)):
            return None
        params = [(k, v) for k, v in route.params if k not in (OFFSET_PARAM, "sessionID")]
        params.append((OFFSET_PARAM, str(self._next_offset(offset, page_size, policy))))
        url = f"{request.base_url}/{route.resource_type}?{urlencode(params, safe=':/|,')}"
        return self._on_origin(url, policy)

    @staticmethod
    def _on_origin(url: str, policy: PagingPolicy) -> str:
        if policy.next_origin is None:
            return url
        parts = urlsplit(url)
        return policy.next_origin + url[len(f"{parts.scheme}://{parts.netloc}"):]

    @staticmethod
    def _padding(policy: PagingPolicy) -> int:
        return policy.large_pages[1] * 1_000_000 if policy.large_pages else 0


def session_url(request: FhirRequest, resource_type: str, token: str) -> str:
    return f"{request.base_url}/{resource_type}?sessionID={token}"
