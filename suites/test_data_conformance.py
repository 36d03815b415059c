"""Data conformance: the US Core profiles the tenant claims, and the fields the app itself reads.

A tenant that answers every API with 200 can still break the app: a profile it claims but does not
meet, a Must Support element it never fills, or a field the app reads that this hospital never fills.
These checks judge what the exercise checks already fetched (no new request unless the exercise
check did not run), grouped by rule and element with counts.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from harness.catalog import Api
from harness.checks import CAPABILITY, DECLARED, EXERCISED, TOKEN, CheckContext, CheckFailed, check
from harness.client import TenantClient
from harness.config import Tenant
from harness.discovery import Discovery
from harness.fhir.responses import expect_fhir
from harness.run.preconditions import Skip
from harness.run.state import RunState
from suites.exercise import SearchCache, SeenResources, id_to_read, probe_params

US_CORE = "US Core 6.1.0 (and 3.1.1, 7.0.0): the profiles a server claims in CapabilityStatement.rest.resource.supportedProfile"
US_CORE_URL = "https://hl7.org/fhir/us/core/STU6.1/conformance-expectations.html"
CONTRACT = "The app's data contract (harness/catalog/data/contracts/<set>.toml, or apis.contract in the tenant file)"


def _readable(api: Api) -> bool:
    return api.kind == "rest" and api.interaction in ("read", "search") and api.version is not None


def resources_of(api: Api, run_state: RunState, seen: SeenResources, search_cache: SearchCache,
                 client: TenantClient, tenant: Tenant) -> list[dict[str, Any]]:
    """What the API answered in this run; fetched here only when its exercise check did not run at all
    (when it ran and failed, the check is blocked by it before it gets here: ``EXERCISED``)."""
    found = seen.get(api)
    if found is not None:
        return found
    if api.interaction == "search":
        resources = search_cache.search(client, api, probe_params(api, tenant)).resources
    else:
        rid = id_to_read(api, tenant, client, search_cache)
        resources = [expect_fhir(client.get(client.url(str(api.version), f"{api.resource}/{rid}")),
                                 f"GET {api.resource}/{rid}")]
    seen.add(api, resources)
    return seen.get(api) or []


def _profile_checker(run_state: RunState, capability: Any) -> Any:
    """One profile checker per run, built from the claims of the tenant's R4 CapabilityStatement."""
    from harness.fhir.profiles import ProfileValidator

    if "us-core" not in run_state.memo:
        run_state.memo["us-core"] = ProfileValidator.from_capability_statement(capability)
    return run_state.memo["us-core"]


@check("profile.us-core", title="resources meet the US Core profile the tenant claims for them",
       why="A tenant that claims US Core and does not meet it breaks apps built to the profile: a required element "
           "missing, a code outside its value set, a Must Support element never filled.",
       source=US_CORE, source_url=US_CORE_URL, group="exercise", area="Data conformance",
       applies_to=lambda api: _readable(api) and api.version == "R4",
       needs=(TOKEN, DECLARED, CAPABILITY, EXERCISED))
def test_us_core_profile(api: Api, run_state: RunState, seen: SeenResources, search_cache: SearchCache,
                         client: TenantClient, tenant: Tenant, discovery: Discovery, verdict: CheckContext) -> None:
    from harness.fhir.findings import group_findings
    from harness.fhir.profiles import MustSupportTally, claimed_profiles

    capability = discovery.capability("R4").body
    claims = claimed_profiles(capability or {})
    if not claims.get(str(api.resource)):
        raise Skip(f"the tenant claims no US Core profile for {api.resource}", advisory=True)
    checker = _profile_checker(run_state, capability)
    resources = resources_of(api, run_state, seen, search_cache, client, tenant)
    profiled = [r for r in resources if checker.profiles_for(r)]
    if not profiled:
        raise Skip(f"none of the {len(resources)} {api.resource} resources seen falls under a claimed profile "
                   f"({', '.join(claims[str(api.resource)][:3])})", advisory=True)
    per_resource = [checker.validate(r) for r in profiled]
    tally = MustSupportTally(checker)
    tally.add_all(profiled)
    gaps = tally.gaps()
    verdict.data["us_core"] = {"resources": len(profiled), "must_support_gaps": [str(g) for g in gaps]}
    for gap in gaps:
        verdict.warn(f"Must Support: {gap}")
    bad = sum(1 for issues in per_resource if issues)
    if bad:
        groups = group_findings(per_resource)
        verdict.data["us_core"]["findings"] = [str(g) for g in groups]
        raise CheckFailed(f"{bad} of {len(profiled)} {api.resource} resources do not meet the profile the tenant "
                          f"claims: " + "; ".join(str(g) for g in groups[:3])
                          + (f" (+{len(groups) - 3} more findings)" if len(groups) > 3 else ""),
                          category="tenant-fault")
    verdict.note(f"{len(profiled)} resource(s) checked against {', '.join(sorted({p.url.rsplit('/', 1)[-1] for r in profiled for p in checker.profiles_for(r)}))}")


@lru_cache(maxsize=4)
def _contract(ref: Any) -> Any:
    from harness.catalog import load_catalog
    from harness.fhir.contract import load_contract

    return load_contract(ref, known_apis={a.name for a in load_catalog()})


def _in_contract(api: Api, tenant: Tenant) -> bool:
    return tenant.contract is not None and _readable(api) and bool(_contract(tenant.contract).paths_for(api.name))


@check("contract.fields", title="the tenant fills the fields the app reads from this API",
       why="An API that answers but never fills a field the app reads (a phone number, a payor, a provider's "
           "specialty) breaks the feature built on it: Must Support for this app, not for US Core.",
       source=CONTRACT, group="exercise", area="Data conformance", severity="normal",
       applies_to=_in_contract, needs=(TOKEN, DECLARED, EXERCISED))
def test_contract_fields(api: Api, run_state: RunState, seen: SeenResources, search_cache: SearchCache,
                         client: TenantClient, tenant: Tenant, verdict: CheckContext) -> None:
    from harness.fhir.contract import ContractTally

    contract = _contract(tenant.contract)
    resources = resources_of(api, run_state, seen, search_cache, client, tenant)
    if not resources:
        raise Skip(f"the API answered no {api.resource} in this run: nothing to judge the app's fields on "
                   f"(give test data that finds some)", category="test-data")
    tally = ContractTally(contract)
    tally.add_all(api.name, resources)
    report = tally.report([api.name])
    verdict.data["contract"] = [{"path": r.path, "filled": r.filled, "resources": r.resources, "why": r.why}
                                for r in report]
    never = [r for r in report if r.never]
    for row in never:
        verdict.warn(f"the app reads {row.path}, never filled here ({row.resources} "
                     f"resource{'' if row.resources == 1 else 's'} seen)")
    verdict.note(f"{len(report) - len(never)} of {len(report)} fields the app reads filled in {len(resources)} "
                 f"resource(s)")
