"""Hostile tenants, judged by the exercise checks one request at a time: each transport fault fails the check of
the API it hits with a message naming it (a hang, a reset, a drip on a real socket; throttling, truncation, a
flood in process), while another API of the same tenant passes; a 503 with Retry-After is waited out; an
unreachable tenant blocks everything behind one root cause after a few requests; the bearer token never goes
to an origin discovery names elsewhere; a tenant refusing every token is not asked for many more."""

from __future__ import annotations

import io
import json
import re
from contextlib import closing
from typing import Any

import httpx
import pytest
from rich.console import Console

from harness.client import MAX_REAUTH
from harness.report.terminal import print_outcome
from tests.support.checks import (
    AppTransport, judge, judge_each, judge_run, results_of, sandbox_app, sandbox_tenant, served_state, tenant_state,
)
from tests.support.front import Front, Headers, Recorder, as_json, header

COVERAGE = "Coverage.Search (Patient Insurance Information) (R4)"
PRACTITIONERS = "Practitioner.Search (Organizational Directory) (R4)"
# A client that gives up soon and holds little, so that each fault shows within a second.
TIGHT = {"rate_per_second": 500.0, "read_timeout": 0.5, "request_deadline": 1.0, "max_response_bytes": 1_000_000,
         "max_retries": 2, "retry_after_cap": 2.0}


@pytest.mark.parametrize(("fault", "words"), [
    ("transport-429-storm:Coverage", "HTTP 429"),
    ("transport-truncated-json:Coverage", "not valid JSON"),
    ("transport-huge-bundle:Coverage", "exceeds 1,000,000 bytes"),
])
def test_a_hostile_answer_fails_only_its_api(fault: str, words: str) -> None:
    waits: list[float] = []
    with tenant_state(fault, tenant=sandbox_tenant(client=TIGHT), sleep=waits.append) as state:
        coverage = judge(state, "exercise.search", api=COVERAGE)
        other = judge(state, "exercise.search", api=PRACTITIONERS)
        retries = state.client.retries
    assert coverage.outcome == "failed" and words in coverage.message, coverage
    assert coverage.result.category == "tenant-fault"
    assert other.outcome == "passed", other
    if "429" in fault:  # asked again after each Retry-After, up to max_retries, then failed
        assert retries == 2 and waits == [1.0, 1.0], (retries, waits)


@pytest.mark.parametrize(("fault", "words"), [
    ("transport-hang:Coverage", "timed out"),
    ("transport-reset:Coverage", "failed: RemoteProtocolError"),
    ("transport-slow-drip:Coverage", "slow drip"),
])
def test_a_fault_on_the_wire_fails_only_its_api(fault: str, words: str) -> None:
    waits: list[float] = []
    with served_state(fault, client={**TIGHT, "read_timeout": 0.4, "request_deadline": 0.6, "max_retries": 0},
                      sleep=waits.append) as state:
        coverage = judge(state, "exercise.search", api=COVERAGE)
        other = judge(state, "exercise.search", api=PRACTITIONERS)
    assert coverage.outcome == "failed" and words in coverage.message, coverage
    assert coverage.result.category == "tenant-fault"
    assert other.outcome == "passed", other


def test_a_503_with_retry_after_is_waited_out_and_passes() -> None:
    waits: list[float] = []
    with tenant_state("transport-503-once:Coverage", tenant=sandbox_tenant(client=TIGHT), sleep=waits.append) as state:
        judged = judge_each(state, "exercise.search", apis=[COVERAGE, "Coverage.Search (Outside Record) (R4)"])
        retries, waited = state.client.retries, state.client.retry_wait
    assert {j.outcome for j in judged.values()} == {"passed"}, judged
    assert retries >= 1 and waited >= 1 and set(waits) == {1.0}, (retries, waited, waits)


def test_an_unreachable_tenant_fails_once_and_blocks_everything_behind_it_after_a_few_requests() -> None:
    """Every discovery, auth and exercise check of a run, on a tenant nobody answers for: one failure (the
    preflight), every other check blocked by it under one root cause, a few requests, and a short terminal
    summary without a traceback."""
    waits: list[float] = []
    with tenant_state(network=True, tenant=sandbox_tenant(base_url="http://127.0.0.1:1"), sleep=waits.append) as state:
        judged = judge_run(state, lambda found: found.group in ("preflight", "discovery", "auth", "exercise"))
        results = results_of(state)
        sent = state.client.requests_sent
    reachable = judged["preflight.reachable"]
    assert reachable.outcome == "failed" and "ConnectError" in reachable.message, reachable
    assert {rid for rid, j in judged.items() if j.outcome == "failed"} == {"preflight.reachable"}
    assert all(j.outcome == "blocked" for rid, j in judged.items()
               if rid.startswith(("exercise.", "discovery.", "auth.token", "search.", "scheduling.")))
    assert judged["discovery.smart-configuration.served"].result.blocked_by == "preflight.reachable"
    assert [cause.check for cause in results.root_causes()] == ["preflight.reachable"]
    assert results.gate.state.value == "failed"
    assert sent <= 6  # the preflight's few tries, then nothing
    shown = io.StringIO()
    print_outcome(results, Console(file=shown, width=120))
    assert len(shown.getvalue().splitlines()) < 250 and "Traceback" not in shown.getvalue()


FOREIGN = "https://elsewhere.example"


def _pointing_elsewhere(scope: dict[str, Any], status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
    """smart-configuration and the CapabilityStatement name endpoints on another origin, and search pages link there."""
    doc = as_json(body)
    if isinstance(doc, dict) and scope["path"].endswith("/.well-known/smart-configuration"):
        for key in ("authorization_endpoint", "registration_endpoint", "jwks_uri", "management_endpoint",
                    "introspection_endpoint", "revocation_endpoint"):
            doc[key] = f"{FOREIGN}/oauth2/{key}"
    elif isinstance(doc, dict) and doc.get("resourceType") == "CapabilityStatement":
        for rest in doc.get("rest") or []:
            for ext in (rest.get("security") or {}).get("extension") or []:
                for inner in ext.get("extension") or []:
                    if inner.get("url") in ("authorize", "register", "manage"):
                        inner["valueUri"] = f"{FOREIGN}/oauth2/{inner['url']}"
    elif isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
        for link in doc.get("link") or []:
            if link.get("relation") == "next":
                link["url"] = re.sub(r"^https?://[^/]+", FOREIGN, link["url"])
    else:
        return status, headers, body
    return status, headers, json.dumps(doc).encode()


def test_discovery_naming_another_origin_never_gets_it_the_token() -> None:
    """Not one request reaches the other origin, with the token or without: a next link there is not followed,
    and the search that gave it fails (what judges its answer is blocked by it)."""
    recorder = Recorder()
    paging = ["Appointment.Search (Appointments) (R4)", "RelatedPerson.Search (Friends and Family) (R4)"]
    with closing(AppTransport(recorder, base_url=FOREIGN)) as elsewhere:
        def there(request: httpx.Request) -> httpx.Response | None:
            return elsewhere.handle_request(request) if request.url.host == "elsewhere.example" else None

        with tenant_state(app=Front(sandbox_app(), _pointing_elsewhere), answer=there,
                          tenant=sandbox_tenant(checks={"page_size": 1})) as state:  # every search pages
            named = judge(state, "discovery.foreign-origins")
            searched = judge_each(state, "exercise.search")
            derived = {**judge_each(state, "search.post-equivalence", apis=paging),
                       **judge_each(state, "profile.us-core", apis=paging)}
            token = state.token()
    assert token and recorder.requests == [], recorder.requests
    assert named.outcome == "warning" and "elsewhere.example" in named.message, named
    assert "never sent there" in named.message
    left = [j for j in searched.values() if "leaves the tenant" in j.message]
    assert len(left) > 10 and all(j.outcome == "failed" and j.result.category == "tenant-fault" for j in left), left[:3]
    assert all("refusing to send the bearer token" in j.message for j in left)
    assert {f"exercise.search[{api}]" for api in paging} <= {j.result.id for j in left}
    assert all(j.outcome == "passed" for j in searched.values() if j not in left)  # one page: nothing to follow
    assert len(derived) == 4 and all(j.outcome == "blocked" and str(j.result.blocked_by).startswith("exercise.search[")
                                     for j in derived.values()), derived


def test_a_tenant_refusing_every_token_is_asked_for_a_bounded_number_of_tokens() -> None:
    """Every FHIR request with a token answers 401 invalid_token: a few fresh tokens, then the harness stops
    and says why in every check that would have sent one."""
    def refuse(scope: dict[str, Any], status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        if "/api/FHIR/" in scope["path"] and header(scope, b"authorization").startswith("Bearer ") \
                and not scope["path"].endswith(("/metadata", "/smart-configuration")):
            return 401, [(b"www-authenticate", b'Bearer error="invalid_token"'), (b"content-type", b"text/plain")], b""
        return status, headers, body

    with tenant_state(app=Front(sandbox_app(), refuse)) as state:
        judged = {**judge_each(state, "exercise.search"), **judge_each(state, "exercise.read")}
        tokens = state.token_requests
    assert tokens <= 1 + MAX_REAUTH, tokens
    stopped = [j for j in judged.values() if "asks for no more" in j.message]
    assert len(stopped) > 10 and all(j.outcome == "failed" for j in stopped), stopped[:3]
    assert not [j for j in judged.values() if j.outcome in ("passed", "broken")]
