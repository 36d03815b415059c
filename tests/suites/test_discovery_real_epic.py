"""The discovery and coverage checks over Epic's real sandbox documents, served verbatim in process: a correct
Epic tenant passes every one of them (coverage.granted aside: it needs a token, which nothing here issues), and
the run's results, built as the plugin builds them, make no failure of it."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.checks import CheckInfo
from harness.run.outcome import GateState
from tests.conftest import DATA
from tests.support.checks import judge_run, results_of, tenant_state

EPIC = DATA / "epic"


def real_epic_app(r4_capability: str) -> Starlette:
    documents = {
        "/api/FHIR/R4/.well-known/smart-configuration": ("r4-smart-configuration-sandbox.json", "application/json"),
        "/api/FHIR/R4/metadata": (r4_capability, "application/fhir+json; charset=utf-8"),
        "/api/FHIR/STU3/metadata": ("stu3-capabilitystatement-sandbox-may2026.json", "application/fhir+json; charset=utf-8"),
        "/api/FHIR/DSTU2/metadata": ("dstu2-conformance-sandbox-may2026.json", "application/json+fhir; charset=utf-8"),
    }

    async def serve(request: Request) -> Response:
        name, ctype = documents[request.url.path]
        return Response((EPIC / name).read_bytes(), media_type=ctype)

    return Starlette(routes=[Route(path, serve) for path in documents])


def selected(found: CheckInfo) -> bool:
    """What ``-m "discovery or coverage" -k "not granted"`` selects."""
    return found.group in ("discovery", "coverage") and "granted" not in found.id


@pytest.mark.parametrize("r4_capability", ["r4-capabilitystatement-sandbox-may2026.json",
                                           "r4-capabilitystatement-sandbox-feb2026-mockhealth.json"])
def test_real_epic_documents_pass_discovery_and_coverage(r4_capability: str) -> None:
    with tenant_state(app=real_epic_app(r4_capability)) as state:
        state.run_preflight(wants_token=False)  # nothing selected needs a token: none is asked for
        judged = judge_run(state, selected)
        results = results_of(state)
        assert state.token_requests == 0
    wrong = {rid: j for rid, j in judged.items() if j.outcome in ("failed", "broken", "blocked", "inconclusive")}
    assert not wrong, wrong
    assert judged["discovery.metadata.fhir-version[DSTU2]"].outcome == "passed"
    assert judged["discovery.smart-configuration.signing-algorithms"].outcome == "warning"
    assert len([rid for rid in judged if rid.startswith("coverage.declared[")]) > 100
    # the results of this selection: nothing failed, and it is a selection, so it cannot say READY
    assert results.gate.state is GateState.INCOMPLETE and results.gate.reasons == []
    assert results.software_version in ("May 2026", "February 2026")
    declared = {a.name: a.declared for a in results.apis}
    assert declared["Practitioner.Read (Organizational Directory) (R4)"] is True
    assert declared["Schedule.Read (STU3)"] is True
    assert declared["Appointment.$find (STU3)"] is None
    assert sum(1 for v in declared.values() if v is False) == 0
