"""What the exercise checks share: the id to read, the searches (run once per run), schema validation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.catalog import Api
from harness.catalog.probes import MissingTestData, read_id, search_params
from harness.checks import CheckContext, CheckFailed
from harness.client import TenantClient
from harness.config import Tenant
from harness.errors import TenantError
from harness.fhir.paging import SearchResult, follow_search
from harness.fhir.validation import validator_for

NOT_AUTHORIZED = "59204"
NO_RESULTS = "4101"
HARNESS_TAG = {"system": "urn:epic-fhir-harness", "code": "conformance-test",
               "display": "Created by epic-fhir-harness; safe to delete"}


@dataclass
class SearchCache:
    """One search per (version, resource, query) per run, shared by the search and read checks."""

    results: dict[tuple[str, str, tuple[tuple[str, str], ...]], SearchResult | TenantError] = field(default_factory=dict)

    def search(self, client: TenantClient, api: Api, params: dict[str, str]) -> SearchResult:
        """A failed search is remembered too: a broken tenant is asked once, not once per check."""
        key = (str(api.version), str(api.resource), tuple(sorted(params.items())))
        if key not in self.results:
            try:
                self.results[key] = follow_search(
                    client, client.url(str(api.version), str(api.resource)), params=params,
                    resource_type=api.resource, what=f"GET {api.resource}?{'&'.join(f'{k}={v}' for k, v in params.items())}")
            except TenantError as exc:
                self.results[key] = exc
        found = self.results[key]
        if isinstance(found, TenantError):
            raise found
        return found

    def trim(self, keep: int = 200) -> None:
        """Keep only a sample of each search's resources once judged: a run holds one search's answer at a time."""
        for found in self.results.values():
            if not isinstance(found, TenantError) and len(found.resources) > keep:
                found.resources = found.resources[:keep]


def probe_params(api: Api, tenant: Tenant) -> dict[str, str]:
    try:
        params = search_params(api, tenant.test_data)
    except MissingTestData as exc:
        pytest.skip(str(exc))
    if params is None:
        pytest.skip(f"no probe data for {api.name}: add a [search] row to the probe data")
    if tenant.checks.page_size and "_count" not in params:
        params = {**params, "_count": str(tenant.checks.page_size)}
    return params


def id_to_read(api: Api, tenant: Tenant, client: TenantClient, cache: SearchCache) -> str:
    try:
        rid = read_id(api, tenant.test_data)
    except MissingTestData as exc:
        pytest.skip(str(exc))
    if rid:
        return rid
    params = probe_params(api, tenant)
    found = cache.search(client, api, params)
    own = [r for r in found.resources if r.get("resourceType") == api.resource and r.get("id")]
    if not own:
        pytest.skip(f"no {api.resource} to read: the probe search found none; give its id in [test_data]")
    return str(own[0]["id"])


def validate(resource: Any, version: str, what: str) -> None:
    issues = validator_for(version).validate(resource)
    if issues:
        shown = "; ".join(str(i) for i in issues[:3])
        more = f" (+{len(issues) - 3} more)" if len(issues) > 3 else ""
        raise CheckFailed(f"{what} does not conform to FHIR {version}: {shown}{more}", category="tenant-fault")


def validate_all(resources: list[Any], version: str, what: str, verdict: CheckContext) -> None:
    """Every resource validated; the findings grouped by rule and element, with counts, not one per resource."""
    from harness.fhir.findings import group_findings

    validator = validator_for(version)
    per_resource = [validator.validate(r) for r in resources]
    bad = sum(1 for issues in per_resource if issues)
    if not bad:
        return
    groups = group_findings(per_resource)
    verdict.data["validation"] = [str(g) for g in groups]
    shown = "; ".join(str(g) for g in groups[:3])
    more = f" (+{len(groups) - 3} more findings)" if len(groups) > 3 else ""
    raise CheckFailed(f"{bad} of {len(resources)} resources from {what} do not conform to FHIR {version}: "
                      f"{shown}{more}", category="tenant-fault")


@dataclass
class SeenResources:
    """What each API answered in this run (a bounded sample), for the checks that judge the data itself."""

    per_api: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    limit: int = 200

    def add(self, api: Api, resources: list[Any]) -> None:
        kept = self.per_api.setdefault(api.name, [])
        room = self.limit - len(kept)
        kept += [r for r in resources if isinstance(r, dict) and r.get("resourceType") == api.resource][:max(room, 0)]

    def get(self, api: Api) -> list[dict[str, Any]] | None:
        return self.per_api.get(api.name)


_NOT_AUTHORIZED_FOR = re.compile(r"not authorized for\s+([A-Za-z]+)\s+-\s+(.+?)(?:\.\s|\.$|$)", re.I)


def withheld_contexts(outcomes: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """From Epic 59204 outcome texts: the (resource, context) each names, and the texts naming none."""
    named: list[tuple[str, str]] = []
    unreadable: list[str] = []
    for code, text in outcomes:
        if code != NOT_AUTHORIZED:
            continue
        match = _NOT_AUTHORIZED_FOR.search(text or "")
        if match:
            named.append((match.group(1), match.group(2).strip()))
        else:
            unreadable.append(text or "no diagnostics")
    return named, unreadable


def judge_search(api: Api, result: SearchResult, verdict: CheckContext, requested: tuple[Api, ...] = ()) -> None:
    """A 59204 names the context it withheld: only a context the app requested for this API fails it."""
    codes = {code for code, _ in result.outcomes}
    named, unreadable = withheld_contexts(result.outcomes)
    mine = (api.context or "").lower()
    for resource, context in named:
        if resource.lower() == str(api.resource).lower() and context.lower() == mine:
            raise CheckFailed(f"Epic 59204: the ({api.context}) context of {api.resource} is withheld from the client "
                              f"(\"Client not authorized for {resource} - {context}\"): the customer's Epic team must "
                              f"grant the {api.name} API to the app", category="tenant-configuration")
    for resource, context in named:
        also = [a.name for a in requested if a.resource == resource and (a.context or "").lower() == context.lower()
                and a.name != api.name]
        if also:
            verdict.note(f"Epic 59204 withheld {resource} - {context}, which the app requests as {also[0]}: "
                         f"that API's own check judges it")
        else:
            verdict.note(f"Epic 59204 withheld {resource} - {context}, a context the app does not request "
                         f"(normal for a client granted only the contexts it asked for)")
    for text in unreadable:
        verdict.warn(f"Epic 59204 without a context this harness can read: {text[:160]}")
    if result.problems:
        raise CheckFailed("; ".join(result.problems[:3]), category="tenant-fault")
    for quirk in result.quirks:
        verdict.warn(quirk)
    if NO_RESULTS in codes and not result.resources:
        verdict.note("no results (Epic 4101): the API answers, but the test data finds nothing")
    verdict.note(f"{len(result.resources)} entries over {result.pages} page(s)")
