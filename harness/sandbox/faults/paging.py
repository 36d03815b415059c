"""Faults of searchset paging: where next links lead, what Bundle.total counts, how big pages are.

Hook point: ``fhir.paging.Pager`` reads a :class:`PagingPolicy` per resource type.
"""

from __future__ import annotations

from . import args
from .core import Arg, FaultKind, Hook, sets, sets_arg
from .policies import PagingPolicy


def _standard(policy: PagingPolicy) -> None:
    policy.total = "all"
    policy.next_style = "query"


TYPE = args.TYPE

KINDS: tuple[FaultKind, ...] = (
    FaultKind("fhir-looping-next", Hook.PAGING, "TYPE searches have a next link that leads back to the same page, "
              "forever", (TYPE,), effect=sets("loop"), keyed=True),
    FaultKind("fhir-missing-page", Hook.PAGING, "TYPE searches have a next link that answers 404 with Epic's 4113 "
              "(expired session)", (TYPE,), effect=sets("dead_next"), keyed=True),
    FaultKind("fhir-duplicate-entries", Hook.PAGING, "page 2 of TYPE searches repeats the resources of page 1",
              (TYPE,), effect=sets("duplicate"), keyed=True),
    FaultKind("fhir-standard-paging", Hook.PAGING, "searches (of TYPE, or of every type) page as many non-Epic "
              "servers do: Bundle.total counts every match on every page, and next links repeat the query with "
              "_getpagesoffset instead of Epic's opaque sessionID", (TYPE,), effect=_standard, keyed=True,
              optional_key=True, setting=True),
    FaultKind("fhir-next-origin", Hook.PAGING, "TYPE searches have next links on ORIGIN (an absolute URL on "
              "another origin, e.g. https://elsewhere.example)", (TYPE, Arg("ORIGIN", args.origin)),
              effect=sets_arg("next_origin"), keyed=True),
    FaultKind("fhir-large-pages", Hook.PAGING, "TYPE searches have PAGES pages of about MB megabytes each "
              "(PAGESxMB, e.g. 4x8), padded with Basic entries", (TYPE, Arg("PAGESxMB", args.pages_by_size)),
              effect=sets_arg("large_pages"), keyed=True),
)
