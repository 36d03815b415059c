"""The search interaction: a Bundle of type searchset, as Epic builds it.

``total`` counts the entries of this page (Epic's quirk, unless the paging policy says
otherwise), entries carry ``fullUrl`` and ``search.mode: match``, links are ``next`` (opaque
``{base}/{Type}?sessionID=...``, see ``paging.py``) then ``self``; when nothing matches, a total of
0 and one ``search.mode: outcome`` entry with Epic's 4101. Pages hold 1000 entries unless
``_count`` says otherwise. Unknown parameters are ignored, except on Patient and Observation (400,
59100); parameters the CapabilityStatement lists are never unknown. A Patient search needs
demographics, ``_id`` or ``identifier`` (400, 59159). A date that is no date is refused (400,
4100). The type's FHIR policy may empty the results or add Epic's 59204 warnings, or misread the search:
drop parameters (those that restrict the patient, or named ones), read every date prefix as
``eq``, leave the last match out of a POST ``_search``, ignore ``_count``. A token narrowed to
categories (Epic's qualified scopes) finds only those, with a 59204 for what it left out.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

from .. import documents, outcomes, payloads
from ..faults.policies import FhirPolicy
from ..outcomes import FhirError
from ..token.scopes import scope_queries
from . import dates, params
from .paging import OFFSET_PARAM, Page, Pager
from .present import Presenter
from .request import Answer, FhirRequest, param
from .routing import Route
from .store import ResourceStore

#: Entries per page when the search has no ``_count``.
DEFAULT_PAGE_SIZE = 1000
#: Resource types whose searches refuse unknown parameters (400, 59100) instead of ignoring them.
STRICT_PARAMETER_TYPES = frozenset({"Patient", "Observation"})
#: What a Patient search must carry one of (otherwise 400, 59159).
PATIENT_SEARCH_ANCHORS = frozenset({
    "_id", "identifier", "family", "given", "name", "own-name", "birthdate", "telecom", "phone",
    "email", "address", "address-city", "address-state", "address-postalcode",
})
#: Search parameters that restrict a search to one patient (with every reference to a Patient).
PATIENT_PARAMS = frozenset({"patient", "subject"})
#: Search parameters whose value names the API context of a search (for 59204's diagnostics).
CONTEXT_PARAMS = ("category", "code", "service-category")


def search(request: FhirRequest, route: Route, store: ResourceStore, pager: Pager, policy: FhirPolicy,
           present: Presenter) -> Answer:
    query = route.params
    token = param(query, "sessionID")
    if token is not None:
        page = pager.from_session(request, route, token)
        return Answer(_bundle(request, route, store, present, page, []))
    parsed = _parse(request, _other_patient(route, store, request.version) if policy.wrong_patient else route, policy)
    parsed = _misread(parsed, policy)
    found = [] if policy.empty else [
        resource for resource in store.of_type(request.version, route.resource_type)
        if params.matches(resource, parsed)
    ]
    if policy.post_search_drops_last and request.method == "POST":
        found = found[:-1]
    issues: list[dict[str, Any]] = []
    allowed = scope_filter(request.scopes, route.resource_type, "s")
    if allowed is not None:
        kept = [resource for resource in found if allowed(resource)]
        if len(kept) < len(found):
            issues.append(outcomes.not_authorized(route.resource_type, "Outside Record"))
        found = kept
    if policy.not_authorized:
        found = []
        issues.append(outcomes.not_authorized(route.resource_type, context_of(query)))
    issues += [outcomes.not_authorized(route.resource_type, context) for context in policy.suppressed_contexts]
    if not found:
        issues.append(outcomes.no_results())
    if param(query, "_summary") == "count":
        bundle = searchset(self_link(request, route), [])
        bundle["total"] = len(found)
        bundle.pop("entry")
        return Answer(bundle)
    keys = [(resource["resourceType"], resource["id"]) for resource in found]
    page_size = DEFAULT_PAGE_SIZE if policy.ignore_count else page_size_of(query)
    offset = _offset(query) if pager.policy(route.resource_type).next_style == "query" else 0
    page = pager.at_offset(request, route, keys, page_size, offset) if offset else \
        pager.first(request, route, keys, page_size)
    return Answer(_bundle(request, route, store, present, page, issues))


def _parse(request: FhirRequest, route: Route, policy: FhirPolicy) -> params.Query:
    declared = documents.declared_search_params(request.version).get(route.resource_type, frozenset())
    parsed = params.parse(route.resource_type, route.params, declared)
    if parsed.invalid and policy.malformed_is_500:
        raise FhirError(500, page="iis-500")  # a tenant that crashes on a value it cannot parse
    issues = [outcomes.invalid_parameter(name, value) for name, value in parsed.invalid]
    if route.resource_type in STRICT_PARAMETER_TYPES:
        issues += [outcomes.unknown_parameter(name) for name in parsed.unknown]
    if route.resource_type == "Patient" and not (parsed.names & PATIENT_SEARCH_ANCHORS):
        issues.append(outcomes.demographics_required())
    if issues:
        raise FhirError(400, *issues)
    return parsed


def scope_filter(scopes: tuple[str, ...], resource_type: str, letter: str) -> Callable[[dict[str, Any]], bool] | None:
    """Which resources of ``resource_type`` a token narrowed by Epic's category-qualified scopes
    (``system/Condition.s?category=...``) may see with interaction ``letter``; None: all of them."""
    queries = scope_queries(scopes, resource_type, letter)
    if queries is None:
        return None
    narrowed = [params.parse(resource_type, parse_qsl(query)) for query in queries]
    return lambda resource: any(params.matches(resource, query) for query in narrowed)


def _misread(query: params.Query, policy: FhirPolicy) -> params.Query:
    """``query`` as a faulty server applies it: parameters it drops, date prefixes it reads as eq."""
    filters = []
    for name, modifier, definition, values in query.filters:
        if name in policy.ignored_params:
            continue
        if policy.ignore_patient and (name in PATIENT_PARAMS or definition.target == "Patient"):
            continue
        if policy.date_prefix_as_eq and definition.kind == "date":
            values = ["eq" + dates.split_prefix(value)[1] for value in values]
        filters.append((name, modifier, definition, values))
    return dataclasses.replace(query, filters=filters)


def _other_patient(route: Route, store: ResourceStore, version: str) -> Route:
    """``route`` with every patient it names replaced by the next patient of the tenant."""
    ids = [patient["id"] for patient in store.of_type(version, "Patient")]

    def other(value: str) -> str:
        wanted = value.rsplit("/", 1)[-1]
        return ids[(ids.index(wanted) + 1) % len(ids)] if wanted in ids else value
    params = tuple((name, other(value) if name.split(":")[0] in ("patient", "subject") else value)
                   for name, value in route.params)
    return dataclasses.replace(route, params=params)


def _bundle(request: FhirRequest, route: Route, store: ResourceStore, present: Presenter, page: Page,
            issues: list[dict[str, Any]]) -> dict[str, Any]:
    entries = []
    for resource_type, resource_id in page.keys:
        resource = store.get(request.version, resource_type, resource_id)
        if resource is not None:
            entries.append(present.entry(resource))
    bundle = searchset(page.self_url or self_link(request, route), entries, *issues, next_url=page.next_url)
    bundle["total"] = page.total
    if page.padding_bytes:
        bundle["entry"] += payloads.padding_entries(page.padding_bytes, start=len(entries))
    return bundle


def searchset(self_url: str, matches: list[dict[str, Any]], *outcome_issues: dict[str, Any],
              next_url: str | None = None) -> dict[str, Any]:
    """A searchset Bundle as Epic builds it: ``total`` counts the match entries, the links are
    ``next`` (when more pages remain) then ``self``, and an OperationOutcome entry
    (``search.mode: outcome``) comes last when there are issues."""
    entries = list(matches)
    if outcome_issues:
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": outcomes.operation_outcome(*outcome_issues),
                        "search": {"mode": "outcome"}})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "link": ([{"relation": "next", "url": next_url}] if next_url else []) + [{"relation": "self", "url": self_url}],
        "entry": entries,
    }


def self_link(request: FhirRequest, route: Route) -> str:
    """Epic's ``self`` link: the search parameters sorted by their upper-cased names."""
    url = f"{request.base_url}/{route.resource_type}"
    ordered = sorted(route.params, key=lambda pair: pair[0].upper())
    return f"{url}?{urlencode(ordered, safe=':/|,')}" if ordered else url


def context_of(query: tuple[tuple[str, str], ...]) -> str:
    """The API context a search names (its category or code), in Epic's words."""
    for name in CONTEXT_PARAMS:
        value = param(query, name)
        if value:
            code = value.split("|")[-1]
            return " ".join(part.capitalize() for part in code.replace("_", "-").split("-"))
    return "Outside Record"


def page_size_of(query: tuple[tuple[str, str], ...]) -> int:
    raw = param(query, "_count")
    try:
        size = int(raw) if raw is not None else DEFAULT_PAGE_SIZE
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size > 0 else DEFAULT_PAGE_SIZE


def _offset(query: tuple[tuple[str, str], ...]) -> int:
    try:
        return max(0, int(param(query, OFFSET_PARAM) or 0))
    except ValueError:
        return 0
