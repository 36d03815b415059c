"""The discovery checks over Epic's real sandbox documents, served verbatim: a correct Epic tenant passes."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import DATA, INCOMPLETE, SANDBOX_TENANT, run_harness
from tests.support.served import Served

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


@pytest.mark.parametrize("r4_capability", ["r4-capabilitystatement-sandbox-may2026.json",
                                           "r4-capabilitystatement-sandbox-feb2026-mockhealth.json"])
def test_real_epic_documents_pass_the_gate(tmp_path: Path, r4_capability: str) -> None:
    with Served(real_epic_app(r4_capability)) as url:
        run = run_harness(tmp_path / "report", "--tenant", str(SANDBOX_TENANT), "--base-url", url,
                          pytest_args=["-m", "discovery or coverage", "-k", "not granted"])
    assert run.exit_code == INCOMPLETE, run.stdout[-3000:]  # discovery and coverage only: no failure
    summary = run.summary
    assert summary["gate"] == "incomplete" and not summary["gate_reasons"]
    assert summary["stats"]["token_requests"] == 0  # nothing selected needs a token: none is asked for
    assert summary["software_version"] in ("May 2026", "February 2026")
    outcomes = run.outcomes()
    assert outcomes["discovery.metadata.fhir-version[DSTU2]"] == "passed"
    assert outcomes["discovery.smart-configuration.signing-algorithms"] == "warning"
    declared = {a["name"]: a["declared"] for a in summary["apis"]}
    assert declared["Practitioner.Read (Organizational Directory) (R4)"] is True
    assert declared["Schedule.Read (STU3)"] is True
    assert declared["Appointment.$find (STU3)"] is None
    assert sum(1 for v in declared.values() if v is False) == 0
