"""A run's results built by hand: check results, coverage rows and the gate ``harness.run.gate.decide`` gives them,
for the tests of the gate and of the report writers (which read nothing but a ``RunResults``)."""

from __future__ import annotations

from typing import Any, Iterable

from harness.policy import GatePolicy
from harness.run.gate import GateInput, decide
from harness.run.outcome import Outcome
from harness.run.results import ApiRow, CheckResult, RunResults


def check_result(check_id: str, outcome: str | Outcome = "passed", *, api: str | None = None, param: str | None = None,
                 group: str | None = None, message: str = "", category: str | None = None,
                 blocked_by: str | None = None, required: bool = True, warnings: Iterable[str] = (),
                 notes: Iterable[str] = (), title: str | None = None, why: str | None = None, source: str = "a source",
                 source_url: str | None = None, severity: str = "critical", area: str = "Discovery",
                 check_group: str = "discovery", requirements: tuple[str, ...] = (), data: dict[str, Any] | None = None,
                 duration_s: float = 0.0, nodeid: str = "") -> CheckResult:
    """One check's result; its id carries the API and the parameter in brackets, as a run's do."""
    suffix = ", ".join(x for x in (api, param) if x)
    return CheckResult(id=f"{check_id}[{suffix}]" if suffix else check_id, check_id=check_id,
                       title=title or f"title of {check_id}", why=why or f"why {check_id} matters", source=source,
                       source_url=source_url, severity=severity, area=area, outcome=Outcome(outcome), message=message,
                       api=api, group=group, category=category, warnings=list(warnings), notes=list(notes),
                       duration_s=duration_s, data=dict(data or {}), check_group=check_group, param=param,
                       blocked_by=blocked_by, required=required, requirements=requirements, nodeid=nodeid)


def api_row(name: str, group: str = "g", *, version: str | None = "R4", declared: bool | None = True,
            granted: bool | None = True, exercised: Outcome | None = Outcome.PASSED, verified: bool = True,
            not_verified: str | None = None, detail: dict[str, str] | None = None) -> ApiRow:
    return ApiRow(name=name, group=group, version=version, declared=declared, granted=granted, exercised=exercised,
                  detail=dict(detail or {}), verified=verified, not_verified=not_verified)


def run_results(checks: Iterable[CheckResult], apis: Iterable[ApiRow] = (), *, tenant: str = "sandbox",
                policy: GatePolicy | None = None, baseline: dict[str, Any] | None = None, crashed: str | None = None,
                software_version: str | None = "May 2026", software_name: str | None = "Epic",
                base_url: str = "https://epic.example.org/interconnect-fhir-oauth", environment: str = "non-production",
                stats: dict[str, Any] | None = None) -> RunResults:
    """The results of a run with these checks and rows, and the gate the harness gives them."""
    checks, apis = list(checks), list(apis)
    gate = decide(GateInput(checks, apis, policy or GatePolicy(), baseline, crashed))
    return RunResults(tenant=tenant, environment=environment, base_url=base_url, harness_version="0.test",
                      started="2026-05-01T10:00:00+00:00", finished="2026-05-01T10:01:00+00:00",
                      software_version=software_version, fhir_versions=["R4", "STU3"], requested_set="a requested set",
                      checks=checks, apis=apis, gate=gate, stats=dict(stats or {}), software_name=software_name,
                      error=crashed)
