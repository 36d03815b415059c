"""What each hook point reads: one policy object per hook, with Epic's behaviour as defaults.

A fault's effect changes fields of its hook's policy; the hook point reads the fields and never
asks which fault set them. A new behaviour is a new field here, read at its hook point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Edit = Callable[[dict[str, Any]], None]


@dataclass
class DocumentPolicy:
    """How one discovery document is served: smart-configuration, or /metadata of one version."""

    edits: list[Edit] = field(default_factory=list)  # changes to the document, in order
    content_type: str | None = None  # None: Epic's (smart: JSON; /metadata: negotiated)
    page: str | None = None  # an HTML page answered instead (outcomes.PAGES)
    page_status: int | None = None  # its status, when not the page's usual one
    force_xml: bool = False  # FHIR XML whatever Accept asks
    live_date: bool = False  # ``date`` is the time of each request
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # never answer
    first_request_fails: bool = False  # the first request answers 503, the next ones work
    gzip_bomb: bool = False  # Content-Encoding: gzip, about 1 MB that decodes to 1 GiB of zeros
    double_gzip: bool = False  # Content-Encoding: gzip, gzip, about 10 KB that decode to 4 GiB of zeros
    endless: bool = False  # a 200 whose body never ends
    redirect: str | None = None  # 302 to this URL ({host}: the request's Host, {path}: its path and query)


#: Scope grant policies: how the token endpoint turns a request's ``scope`` into granted scopes.
SCOPE_GRANTS: dict[str, str] = {
    "registered": "every scope registered for the client, whatever the request asks (Epic)",
    "requested": "the scopes asked, as written where the registration covers them, else the registered scopes "
                 "within them; none of them registered is invalid_scope",
    "strict": "the scopes asked, each of which must be registered (otherwise invalid_scope)",
    "required": "as requested, and a request without scope is refused with invalid_scope",
}


@dataclass
class TokenPolicy:
    """The token endpoint's rule book and the shape of its answers."""

    skipped: set[str] = field(default_factory=set)  # rules switched off
    first: tuple[str, ...] = ()  # rules checked before all others, in this order
    scope_grant: str = "registered"  # a key of SCOPE_GRANTS
    lifetime: int | None = None  # seconds; None: the sandbox's setting
    access_token_length: int | None = None  # characters; None: 128
    withheld_resources: set[str] = field(default_factory=set)  # their scopes are never granted
    page: str | None = None  # an HTML page answered to every token request
    response_set: list[tuple[str, Any]] = field(default_factory=list)  # successful body: field -> value (None drops)
    bom: bool = False  # a UTF-8 byte order mark before the JSON
    error_description: str | None = None  # every refusal's error_description
    grant_unknown: bool = False  # requested scopes of unknown resource types or permissions are granted as asked


@dataclass
class GuardPolicy:
    """The bearer-token check in front of the FHIR API."""

    ignore_token: bool = False  # serve without looking at the token
    reject_every_token: bool = False  # 401 invalid_token even for a valid token


@dataclass
class FhirPolicy:
    """How requests about one resource type are answered."""

    status: int | None = None  # every request answered with this status and an OperationOutcome
    page: str | None = None  # every request answered with this HTML page
    not_served: bool = False  # the type's paths are not routed: Epic's IIS 404 page, before any scope check
    echo_authorization: bool = False  # answered 500 with the Authorization header in diagnostics
    content_type: str | None = None  # every answer carries this Content-Type
    invalid: bool = False  # resources break the FHIR schema
    empty: bool = False  # searches find nothing
    not_authorized: bool = False  # searches drop every entry and add a 59204
    suppressed_contexts: list[str] = field(default_factory=list)  # 59204 for each, entries kept
    diagnostics: str | None = None  # every OperationOutcome issue's diagnostics
    malformed_is_500: bool = False  # a malformed search value crashes (IIS 500) instead of 4100
    wrong_patient: bool = False  # searches naming a patient answer another patient's resources
    ignore_patient: bool = False  # searches drop the parameters that restrict the patient
    ignored_params: set[str] = field(default_factory=set)  # search parameters dropped (still in the self link)
    date_prefix_as_eq: bool = False  # every date prefix (ge, le, gt, lt, ne, sa, eb, ap) is read as eq
    post_search_drops_last: bool = False  # POST _search leaves out the last match
    ignore_count: bool = False  # _count is ignored: pages of up to 1000 entries
    unscoped_writes: bool = False  # creates and updates are accepted whatever the token's scopes
    edits: list[Edit] = field(default_factory=list)  # changes to every resource served, in order


@dataclass
class PagingPolicy:
    """How searchsets of one type are paged."""

    loop: bool = False  # the next link leads back to the first page, forever
    dead_next: bool = False  # a next link whose session does not exist (4113)
    duplicate: bool = False  # page 2 repeats page 1
    total: str = "page"  # "page": entries of this page (Epic); "all": every match
    next_style: str = "session"  # "session": Epic's opaque sessionID; "query": the query repeated
    next_origin: str | None = None  # next links under this origin instead of the tenant's
    large_pages: tuple[int, int] | None = None  # (pages, MB): every search has that many pages that big


@dataclass
class SchedulingPolicy:
    """Appointment $find's Scheduling Decision Support set-up."""

    visit_types_exposed: bool = True  # otherwise 59200 for every serviceType
    provider_rules: bool = True  # otherwise 59134 for a request naming a provider
    open_slots: bool = True  # otherwise nothing is found (4101)
    provider_honoured: bool = True  # otherwise the named provider is ignored (other providers' slots)


@dataclass
class TransportPolicy:
    """What happens on the wire to requests and answers about one type."""

    hang: bool = False
    every_429: int | None = None  # every Nth request answers 429 (1: every request)
    first_503: bool = False  # the first request of each URL answers 503
    reset: bool = False
    truncate: bool = False
    huge: bool = False
    drip: bool = False
    gzip_bomb: bool = False  # ``Content-Encoding: gzip, gzip``: a few KB that decode to GBs
    gzip_large: bool = False  # one gzip layer of about 2 MB that decodes to about 70 MB

    @property
    def active(self) -> bool:
        return any((self.hang, self.every_429, self.first_503, self.reset, self.truncate, self.huge,
                    self.drip, self.gzip_bomb, self.gzip_large))
