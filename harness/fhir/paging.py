"""Following a search through its pages: opaque next links, loops, duplicates, outcome entries, Bundle.total."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from harness.client import TenantClient
from harness.errors import HarnessError, OriginError, TenantError
from harness.fhir.responses import expect_fhir, outcome_codes

DEFAULT_MAX_PAGES = 20
DEFAULT_MAX_ENTRIES = 5_000  # resources kept per search
DEFAULT_MAX_BYTES = 25_000_000  # bytes of pages read per search


@dataclass(frozen=True)
class PagingLimits:
    """How much of one search is read and kept: the harness judges paging, it does not copy data."""

    max_pages: int = DEFAULT_MAX_PAGES
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class SearchResult:
    resources: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # Epic codes from search.mode outcome entries
    pages: int = 0
    problems: list[str] = field(default_factory=list)  # what the tenant got wrong
    quirks: list[str] = field(default_factory=list)  # Epic behaviour worth knowing, never a failure
    truncated: bool = False
    bytes_read: int = 0
    entries_seen: int = 0  # entries offered, kept or not

    @property
    def ids(self) -> list[str]:
        return [str(r.get("id")) for r in self.resources if r.get("id")]


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def _page(client: TenantClient, method: str, url: str, kwargs: dict[str, Any],
          what: str) -> tuple[Any, int, HarnessError | None]:
    """One page: its JSON, its size, or the error to report. The error is a new one made of text,
    so that nothing that holds it (a cache of failed searches, Hypothesis) holds the page too."""
    try:
        response = client.request(method, url, **kwargs)
    except OriginError as exc:
        return None, 0, OriginError(str(exc))
    size = len(response.content)
    try:
        return expect_fhir(response, what), size, None
    except TenantError as exc:
        message, category = str(exc), exc.category
    del response
    return None, size, TenantError(message, category=category)


def follow_search(client: TenantClient, url: str, *, params: dict[str, str] | None = None,
                  resource_type: str | None = None, max_pages: int = DEFAULT_MAX_PAGES,
                  on_page: Callable[[dict[str, Any]], None] | None = None,
                  method: str = "GET", what: str = "search", max_entries: int = DEFAULT_MAX_ENTRIES,
                  max_bytes: int = DEFAULT_MAX_BYTES, limits: PagingLimits | None = None) -> SearchResult:
    """Every page of a search, following each ``next`` link exactly as given (never rebuilt), up to
    ``max_pages`` pages, ``max_bytes`` bytes of pages and ``max_entries`` resources kept (``limits``,
    when given, sets all three). Stopping at a limit is noted as a quirk and sets ``truncated``."""
    if limits is not None:
        max_pages, max_entries, max_bytes = limits.max_pages, limits.max_entries, limits.max_bytes
    result = SearchResult()
    seen_urls: set[str] = set()
    seen_ids: set[str] = set()
    totals: list[int] = []
    duplicates: list[str] = []
    next_url: str | None = url
    kwargs: dict[str, Any] = {"params": params} if params else {}
    if method == "POST":
        kwargs = {"data": params or {}}
    while next_url is not None:
        if result.pages >= max_pages:
            result.truncated = True
            result.quirks.append(f"stopped after {max_pages} pages; more were offered")
            break
        if result.bytes_read >= max_bytes:
            result.truncated = True
            result.quirks.append(f"stopped after {result.bytes_read:,} bytes over {result.pages} pages "
                                 f"(the harness reads at most {max_bytes:,} bytes of one search); more were offered")
            break
        if len(result.resources) >= max_entries:
            result.truncated = True
            result.quirks.append(f"stopped after {len(result.resources):,} entries over {result.pages} pages "
                                 f"(the harness keeps at most {max_entries:,} of one search); more were offered")
            break
        if next_url in seen_urls:
            result.problems.append(f"the next link of page {result.pages} points back to a page already read "
                                   f"({next_url}): a paging loop")
            break
        seen_urls.add(next_url)
        page_what = f"{what}, page {result.pages + 1}"
        bundle, size, failure = _page(client, method if result.pages == 0 else "GET", next_url, kwargs, page_what)
        kwargs = {}
        if isinstance(failure, OriginError):
            result.problems.append(f"the next link of page {result.pages} leaves the tenant: {failure}; not followed")
            break
        result.bytes_read += size
        if failure is not None:
            if result.pages == 0:
                raise failure
            result.problems.append(f"a next link given by the tenant fails: {failure}")
            break
        result.pages += 1
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise TenantError(f"{page_what}: expected a Bundle, got {bundle.get('resourceType') if isinstance(bundle, dict) else type(bundle).__name__}",
                              category="tenant-fault")
        if bundle.get("type") != "searchset":
            result.problems.append(f"page {result.pages} is a Bundle of type {bundle.get('type')!r}, not searchset")
        if on_page:
            on_page(bundle)
        on_this_page = 0
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                result.problems.append(f"page {result.pages} has an entry without a resource")
                continue
            mode = (entry.get("search") or {}).get("mode")
            if mode == "outcome" or (resource.get("resourceType") == "OperationOutcome" and mode != "match"):
                result.outcomes.extend(outcome_codes(resource))
                continue
            on_this_page += 1
            result.entries_seen += 1
            rid = f"{resource.get('resourceType')}/{resource.get('id')}"
            if rid in seen_ids:
                duplicates.append(rid)
            seen_ids.add(rid)
            if resource_type and resource.get("resourceType") not in (resource_type, "OperationOutcome") \
                    and mode != "include":
                result.problems.append(f"page {result.pages} holds a {resource.get('resourceType')} in a "
                                       f"{resource_type} search without search.mode include")
            if len(result.resources) < max_entries:
                result.resources.append(resource)
            elif not result.truncated:
                result.truncated = True
                result.quirks.append(f"kept the first {max_entries:,} entries of the search; the rest were not kept")
        if isinstance(bundle.get("total"), int):
            totals.append(bundle["total"])
            if bundle["total"] != on_this_page and result.pages == 1 and _next_link(bundle) is None:
                result.quirks.append(f"Bundle.total is {bundle['total']} but the page has {on_this_page} entries")
        next_url = _next_link(bundle)
        del bundle  # nothing of a page is held but the resources kept
    if duplicates:
        result.problems.append(f"{len(duplicates)} entries appear on more than one page (first: {duplicates[0]})")
    if totals and result.pages > 1 and totals[0] != len(result.resources):
        result.quirks.append(f"Bundle.total is {totals[0]} on page 1 but {len(result.resources)} entries came "
                             f"over {result.pages} pages (Epic's total counts the page, not the matches)")
    return result
