"""Property-based probing: bad input gets a clean 4xx with an OperationOutcome, never a 5xx, an HTML page or silence.

Each requested search API is probed with hypothesis, within a small budget from the tenant file
(``[probing] examples``, ``seconds``; zero in production). The seed is printed for reproduction;
a failing example is shrunk and reported with a copy-paste curl line.
"""

from __future__ import annotations

import random
import time
import zlib

from typing import TYPE_CHECKING

import httpx
import pytest

from harness.catalog import Api
from harness.checks import CAPABILITY, DECLARED, TOKEN, CheckContext, CheckFailed, Inconclusive, check
from harness.client import TenantClient
from harness.config import Tenant
from harness.discovery import Discovery
from harness.fhir.paging import follow_search
from harness.fhir.responses import FHIR_MEDIA_TYPES
from suites.exercise import probe_params

if TYPE_CHECKING:
    from harness.probing import ProbeCase

INVALID_INPUT_CODES = (400, 404, 422)
THROTTLED = (429, 503)


class ProbeFailure(AssertionError):
    pass


@pytest.fixture(scope="module", autouse=True)
def _hypothesis_loaded() -> None:
    """hypothesis is loaded when this module's checks are set up, not when the checks are collected (most runs
    select none of them); still before a probe's call, where hypothesis's pytest plugin looks for it."""
    import hypothesis  # noqa: F401


def _resource_type(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "body that is not JSON"
    return str(body.get("resourceType")) if isinstance(body, dict) else type(body).__name__


def judge(response: httpx.Response, case: ProbeCase, ignored: list[str]) -> None:
    status = response.status_code
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if status >= 500:
        raise ProbeFailure(f"HTTP {status} for a {case.kind} query")
    if status >= 400 and media not in FHIR_MEDIA_TYPES:
        raise ProbeFailure(f"HTTP {status} answered with {media or 'no content type'}, not an OperationOutcome")
    if status >= 400 and _resource_type(response) != "OperationOutcome":
        raise ProbeFailure(f"HTTP {status} answered with a {_resource_type(response)}, not an OperationOutcome")
    if case.kind == "valid" and status >= 400:
        raise ProbeFailure(f"a valid query was refused with HTTP {status}")
    if case.kind == "unknown-parameter" and status == 200:
        ignored.append(f"unknown parameter {case.target}")
    if case.kind == "malformed" and status == 200:
        ignored.append(f"malformed {case.target}")


@check("probe.search", title="the search API answers hostile and odd queries with a clean 4xx, never a 5xx",
       why="A tenant that answers malformed input with a 500 or an HTML page will surprise the app in production.",
       source="FHIR R4 3.1.0 RESTful API, search and errors (OperationOutcome)", source_url="https://hl7.org/fhir/R4/search.html#errors",
       group="probing", severity="normal", probes=True, required=False, needs=(TOKEN, DECLARED, CAPABILITY),
       applies_to=lambda api: api.kind == "rest" and api.interaction == "search" and api.version == "R4")
def test_search_probe(api: Api, tenant: Tenant, client: TenantClient, discovery: Discovery, verdict: CheckContext,
                      cassette_mode: str) -> None:
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis.errors import Flaky, FlakyFailure

    from harness.probing import cases, curl, search_parameters

    budget = tenant.probing
    base = probe_params(api, tenant)
    params = search_parameters(discovery.capability("R4").body, str(api.resource))
    url = client.url("R4", str(api.resource))
    ignored: list[str] = []
    if budget.seed is not None:
        run_seed = budget.seed
    elif cassette_mode != "live":  # a recording must replay the same queries
        run_seed = zlib.crc32(api.name.encode())
    else:
        run_seed = random.randrange(2**32)
    verdict.note(f"hypothesis seed {run_seed}, {budget.examples} examples")

    deadline = time.monotonic() + budget.seconds
    sent = [0]
    throttled = [0]

    @seed(run_seed)
    @settings(max_examples=budget.examples, deadline=None, database=None, derandomize=False,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(case=cases(params, base))
    def probe(case: ProbeCase) -> None:
        if time.monotonic() > deadline:
            return  # the API's time budget is spent: nothing more is sent
        sent[0] += 1
        response = client.get(url, params=case.query())  # 429 and 503 are retried within the client's limits
        if response.status_code in THROTTLED:
            throttled[0] += 1
            return  # throttling says nothing about the query: not judged
        try:
            judge(response, case, ignored)  # a 5xx is the finding
        except ProbeFailure:
            failing.append(case)  # hypothesis replays the shrunk example last
            raise

    failing: list[ProbeCase] = []
    try:
        probe()
    except (Flaky, FlakyFailure) as flaky:
        raise Inconclusive(f"the tenant answered the same query differently when it was sent again ({sent[0]} "
                           f"example(s) sent, {throttled[0]} throttled): {str(flaky).splitlines()[0][:200]}") from None
    except ProbeFailure as failure:
        smallest = failing[-1]
        verdict.attach("smallest failing example", {"query": dict(smallest.params), "kind": smallest.kind,
                                                    "seed": run_seed, "curl": curl(url, smallest)})
        raise CheckFailed(f"{failure}: {smallest.target}={dict(smallest.params).get(smallest.target)!r} "
                          f"(smallest of {len(failing)} failing example(s), seed {run_seed}); reproduce: "
                          f"{curl(url, smallest)}", category="tenant-fault") from None
    judged = sent[0] - throttled[0]
    verdict.note(f"{sent[0]} example(s) sent of {budget.examples}" + (f", {throttled[0]} throttled and not judged"
                                                                      if throttled[0] else ""))
    if sent[0] and not judged:
        raise Inconclusive(f"every one of the {sent[0]} probing requests was throttled (429/503): nothing was judged")
    first = follow_search(client, url, params=base, resource_type=api.resource, max_pages=3, what="probe")
    second = follow_search(client, url, params=base, resource_type=api.resource, max_pages=3, what="probe, again")
    if first.ids != second.ids:
        raise CheckFailed(f"two identical queries gave different results ({len(first.ids)} vs {len(second.ids)} "
                          f"entries over the first pages): paging is not stable", category="tenant-fault")
    if ignored:
        verdict.note(f"ignored silently (200): {', '.join(sorted(set(ignored)))}; Epic does this on most "
                     f"resources and answers 400 with 59100 on Patient and Observation")


FIND_CASES = ("end-before-start", "zero-length", "two-years", "unknown-visit-type", "unknown-provider")


@check("probe.find", title="$find refuses or answers empty (with an outcome) odd windows and unknown names, never a 5xx",
       why="The app passes user-chosen windows and providers to $find; a 500 there breaks scheduling in production.",
       source="Epic, Appointment.$find (STU3) api 840", source_url="https://fhir.epic.com/Specifications?api=840",
       group="probing", severity="normal", applies_to=lambda api: api.interaction == "$find", probes=True,
       required=False, needs=(TOKEN,))
@pytest.mark.parametrize("case", FIND_CASES)
def test_find_probe(api: Api, case: str, tenant: Tenant, client: TenantClient, verdict: CheckContext) -> None:
    import dataclasses
    from datetime import timedelta

    from harness.scheduling import VisitType, find_body, scheduling_data

    data = scheduling_data(tenant.test_data, file=str(tenant.file) if tenant.file else None)
    if data is None or not data.visit_types:
        pytest.skip("needs [test_data.scheduling] with visit_types")
    visit_type, provider = data.visit_types[0], (data.providers[0] if data.providers else None)
    if case == "end-before-start":
        data = dataclasses.replace(data, start=data.end, end=data.start)
    elif case == "zero-length":
        data = dataclasses.replace(data, end=data.start)
    elif case == "two-years":
        data = dataclasses.replace(data, end=data.start + timedelta(days=730))
    elif case == "unknown-visit-type":
        visit_type = VisitType(visit_type.system, "harness-no-such-visit-type")
    elif case == "unknown-provider":
        provider = "eHarnessNoSuchProvider0000003"
    response = client.post(client.url("STU3", "Appointment/$find"),
                           json=find_body(data, visit_type, patient=None, provider=provider),
                           headers={"Content-Type": "application/fhir+json"})
    status = response.status_code
    if status in THROTTLED:
        raise Inconclusive(f"$find answered {status} (throttled) for {case}: throttling says nothing about the query")
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if status >= 500:
        raise CheckFailed(f"$find answered HTTP {status} for {case}", category="tenant-fault")
    if media not in FHIR_MEDIA_TYPES:
        raise CheckFailed(f"$find answered {media or 'no content type'} for {case}, not FHIR JSON", category="tenant-fault")
    kind = _resource_type(response)
    if status >= 400:
        if kind != "OperationOutcome":
            raise CheckFailed(f"$find refused {case} with a {kind}, not an OperationOutcome", category="tenant-fault")
        verdict.note(f"refused with HTTP {status}")
        return
    body = response.json()
    entries = body.get("entry") or [] if isinstance(body, dict) else []
    found = [e for e in entries if (e.get("resource") or {}).get("resourceType") == "Appointment"]
    outcome = [e for e in entries if (e.get("resource") or {}).get("resourceType") == "OperationOutcome"]
    if case in ("end-before-start", "zero-length", "unknown-visit-type", "unknown-provider") and found:
        verdict.warn(f"{case}: $find proposed {len(found)} appointment(s) where none can fit")
    if not found and not outcome:
        raise CheckFailed(f"$find answered {case} empty without an OperationOutcome saying why", category="tenant-fault")
    verdict.note(f"answered {len(found)} appointment(s)" + (" with an outcome" if outcome else ""))
