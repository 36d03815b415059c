"""Search semantics: the entries every requested search API returns satisfy the parameters the search sent.

Each check is one rule of ``harness.fhir.search_semantics`` applied to one API: it starts from the
API's probe search (``harness/catalog/data/probes.toml``, answered once per run through the search
cache of ``suites/conftest.py``, so ``exercise.search`` and these checks send it once) and adds a few
variants whose values come from the tenant's own entries. What a parameter means is FHIR R4's SearchParameter
definition (the shipped table ``harness/fhir/searchparameters/``), so nothing here differs per API.

The patient restriction is a required check (a failure is a data-protection problem); the
narrowing rules are advisory (``required=False``): a failure fails the gate, but a rule the
tenant's data cannot decide does not leave the gate incomplete.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from harness.catalog import Api
from harness.catalog.probes import search_params
from harness.checks import CAPABILITY, DECLARED, EXERCISED, TOKEN, CheckContext, CheckFailed, Inconclusive, check
from harness.client import TenantClient
from harness.config import Tenant
from harness.discovery import Discovery
from harness.fhir import search_semantics as rules
from harness.fhir.search_parameters import r4_table
from harness.fhir.search_semantics import CONTROL_PARAMS, SearchContext, Searcher, Verdict, restricting_params
from suites.exercise import SearchCache, probe_params

AREA = "Search semantics"
FHIR_SEARCH = "FHIR R4 Search (search.html), SearchParameter definitions"
FHIR_SEARCH_URL = "https://hl7.org/fhir/R4/search.html"
US_CORE_SERVER = "US Core 6.1.0 Server CapabilityStatement (search parameters)"
US_CORE_SERVER_URL = "https://hl7.org/fhir/us/core/STU6.1/CapabilityStatement-us-core-server.html"
NEEDS = (TOKEN, CAPABILITY, DECLARED, EXERCISED)


class _Placeholder(Mapping[str, Any]):
    """Fills every test_data placeholder of the probe data, to read which parameters a probe sends."""

    def __getitem__(self, key: str) -> str:
        return "x"

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _probe(api: Api) -> dict[str, str] | None:
    if not (api.kind == "rest" and api.version is not None and api.interaction == "search" and api.resource):
        return None
    return search_params(api, _Placeholder())


def _searches(api: Api) -> bool:
    return _probe(api) is not None


def _r4(api: Api) -> bool:
    return api.version == "R4" and _searches(api)


def _restricts_patient(api: Api) -> bool:
    probe = _probe(api)
    return probe is not None and bool(restricting_params(str(api.resource), probe))


def _narrows(api: Api) -> bool:
    probe = _probe(api)
    if probe is None or api.version != "R4":
        return False
    restricting = restricting_params(str(api.resource), probe)
    return any(name not in CONTROL_PARAMS and name not in restricting for name in probe)


def _defines(*, kind: str | None = None, name: str | None = None, own: bool = False):
    """An R4 search API whose resource FHIR R4 gives a parameter of that type (or that name)."""
    def applies(api: Api) -> bool:
        if not _r4(api):
            return False
        table = r4_table().of(str(api.resource))
        if name is not None:
            return name in table
        return any(spec.type == kind and spec.expression and not n.startswith("_")
                   and not (own and n in ("identifier", "category")) for n, spec in table.items())
    return applies


def _context(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery, cache: SearchCache,
             mode: str) -> tuple[SearchContext, Searcher]:
    params = probe_params(api, tenant)
    base = cache.search(client, api, params)  # failed in exercise.search already: blocked by it (EXERCISED)
    capability = discovery.capability(str(api.version)).body
    scrubbed = mode != "live" and tenant.cassettes.scrub_patient_data
    ctx = SearchContext(str(api.version), str(api.resource), params, base,
                        rules.declared_params(capability, str(api.resource)),
                        pseudonymized=scrubbed)
    return ctx, Searcher(client, str(api.version), str(api.resource))


def _report(found: Verdict, verdict: CheckContext) -> None:
    if found.queries:
        verdict.attach("queries", found.queries)
    for message in found.warnings:
        verdict.warn(message)
    for message in found.notes:
        verdict.note(message)
    if found.failures:
        raise CheckFailed("; ".join(found.failures), category="tenant-fault")
    if found.skip:
        pytest.skip(found.skip)
    if found.inconclusive:
        raise Inconclusive(found.inconclusive)


def _run(rule: str, context: tuple[SearchContext, Searcher], verdict: CheckContext) -> None:
    _report(rules.RULES[rule](*context), verdict)


@check("search.patient-restriction", title="every entry belongs to the patient the search names",
       why="A search for one patient's resources that answers another patient's is a data-protection problem: "
           "the app files them under the wrong person.",
       source=f"{FHIR_SEARCH}; {US_CORE_SERVER}", source_url=FHIR_SEARCH_URL, group="exercise", area=AREA,
       applies_to=_restricts_patient, needs=NEEDS)
def test_patient_restriction(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery,
                             search_cache: SearchCache, cassette_mode: str, verdict: CheckContext) -> None:
    _run("patient-restriction", _context(api, tenant, client, discovery, search_cache, cassette_mode), verdict)


@check("search.ignored-parameters", title="the probe search's narrowing parameters are applied",
       why="Epic answers 200 to a parameter it ignores and still echoes it in the self link: only the entries "
           "show whether the search was narrowed.",
       source=f"{FHIR_SEARCH}; Epic, Specifications (4122, unknown parameters ignored)", source_url=FHIR_SEARCH_URL,
       group="exercise", area=AREA, severity="normal", applies_to=_narrows, needs=NEEDS, required=False)
def test_ignored_parameters(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery,
                            search_cache: SearchCache, cassette_mode: str, verdict: CheckContext) -> None:
    _run("ignored-parameters", _context(api, tenant, client, discovery, search_cache, cassette_mode), verdict)


@check("search.date-prefixes", title="a date parameter honours gt, ge, lt, le and eq",
       why="An app that asks for what happened since a date and gets every date, or loses the entries at the "
           "edge, shows or misses clinical history.",
       source=f"{FHIR_SEARCH} (date, prefixes); {US_CORE_SERVER}", source_url=f"{FHIR_SEARCH_URL}#prefix",
       group="exercise", area=AREA, severity="normal", applies_to=_defines(kind="date"), needs=NEEDS,
       required=False)
def test_date_prefixes(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery,
                       search_cache: SearchCache, cassette_mode: str, verdict: CheckContext) -> None:
    _run("date-prefixes", _context(api, tenant, client, discovery, search_cache, cassette_mode), verdict)


@check("search.token", title="a token parameter matches system|code",
       why="Codes are how an app selects what it needs; a token the server reads wrongly narrows nothing or drops "
           "matching resources.",
       source=f"{FHIR_SEARCH} (token); {US_CORE_SERVER}", source_url=f"{FHIR_SEARCH_URL}#token", group="exercise",
       area=AREA, severity="normal", applies_to=_defines(kind="token", own=True), needs=NEEDS, required=False)
def test_token(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery,
               search_cache: SearchCache, cassette_mode: str, verdict: CheckContext) -> None:
    _run("token", _context(api, tenant, client, discovery, search_cache, cassette_mode), verdict)


@check("search.identifier", title="identifier=system|value finds the resource that carries it",
       why="Apps match records across systems by identifier; a miss duplicates a record, a loose match merges two.",
       source=f"{FHIR_SEARCH} (token: Identifier); {US_CORE_SERVER}", source_url=f"{FHIR_SEARCH_URL}#token",
       group="exercise", area=AREA, severity="normal", applies_to=_defines(name="identifier"), needs=NEEDS,
       required=False)
def test_identifier(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery,
                    search_cache: SearchCache, cassette_mode: str, verdict: CheckContext) -> None:
    _run("identifier", _context(api, tenant, client, discovery, search_cache, cassette_mode), verdict)


@check("search.category", title="category=system|code selects by the category the entries carry",
       why="Epic selects API contexts by category; the system|code form must select the same resources.",
       source=f"{FHIR_SEARCH} (token); {US_CORE_SERVER}", source_url=f"{FHIR_SEARCH_URL}#token", group="exercise",
       area=AREA, severity="normal", applies_to=_defines(name="category"), needs=NEEDS, required=False)
def test_category(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery,
                  search_cache: SearchCache, cassette_mode: str, verdict: CheckContext) -> None:
    _run("category", _context(api, tenant, client, discovery, search_cache, cassette_mode), verdict)


@check("search.or-list", title="a comma-separated list of values matches any of them",
       why="Apps fetch several codes or ids in one search; a server that ANDs or ignores the list loses data.",
       source=f"{FHIR_SEARCH} (composite searches: OR)", source_url=f"{FHIR_SEARCH_URL}#combining",
       group="exercise", area=AREA, severity="normal", applies_to=_r4, needs=NEEDS, required=False)
def test_or_list(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery,
                 search_cache: SearchCache, cassette_mode: str, verdict: CheckContext) -> None:
    _run("or-list", _context(api, tenant, client, discovery, search_cache, cassette_mode), verdict)


@check("search.count", title="_count is honoured: no page larger, and a next link when more match",
       why="An app sizes its pages with _count; a larger page breaks its memory budget, a missing next link loses "
           "the rest.",
       source=f"{FHIR_SEARCH} (_count)", source_url=f"{FHIR_SEARCH_URL}#count", group="exercise", area=AREA,
       severity="normal", applies_to=_searches, needs=NEEDS, required=False)
def test_count(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery,
               search_cache: SearchCache, cassette_mode: str, verdict: CheckContext) -> None:
    _run("count", _context(api, tenant, client, discovery, search_cache, cassette_mode), verdict)


@check("search.post-equivalence", title="POST _search answers the same entries as the GET search",
       why="Apps and proxies send long or sensitive queries as POST _search (form-encoded); it must mean the same.",
       source="FHIR R4 RESTful API (http.html#search)", source_url="https://hl7.org/fhir/R4/http.html#search",
       group="exercise", area=AREA, severity="normal", applies_to=_searches, needs=NEEDS, required=False)
def test_post_equivalence(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery,
                          search_cache: SearchCache, cassette_mode: str, verdict: CheckContext) -> None:
    _run("post-equivalence", _context(api, tenant, client, discovery, search_cache, cassette_mode), verdict)
