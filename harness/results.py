"""The run's results: one record per check and per requested API, and the gate computed from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["passed", "failed", "warning", "skipped", "broken"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "warning", "skipped", "broken")


@dataclass
class CheckResult:
    id: str  # check id, with the API in brackets for per-API checks
    check_id: str
    title: str
    why: str
    source: str
    source_url: str | None
    severity: str
    area: str
    outcome: Outcome
    message: str
    api: str | None = None
    group: str | None = None
    category: str | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    shape: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ApiRow:
    name: str
    group: str
    version: str | None
    declared: bool | None
    granted: bool | None
    exercised: Outcome | None
    detail: dict[str, str]
    shape: str | None = None


@dataclass
class Gate:
    passed: bool
    reasons: list[str]
    waived: list[str] = field(default_factory=list)
    policy: str = "default"
    baseline: bool = False

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


@dataclass
class RunResults:
    tenant: str
    environment: str
    base_url: str
    harness_version: str
    started: str
    finished: str
    software_version: str | None
    fhir_versions: list[str]
    requested_set: str
    checks: list[CheckResult]
    apis: list[ApiRow]
    gate: Gate
    stats: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {o: sum(1 for c in self.checks if c.outcome == o) for o in OUTCOMES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "environment": self.environment,
            "base_url": self.base_url,
            "harness_version": self.harness_version,
            "started": self.started,
            "finished": self.finished,
            "software_version": self.software_version,
            "fhir_versions": self.fhir_versions,
            "requested_set": self.requested_set,
            "gate": "passed" if self.gate.passed else "failed",
            "gate_reasons": self.gate.reasons,
            "gate_waived": self.gate.waived,
            "gate_policy": self.gate.policy,
            "counts": self.counts(),
            "stats": self.stats,
            "apis": [asdict(a) for a in self.apis],
            "checks": [asdict(c) for c in self.checks],
        }
