"""The run's results: one record per check and per requested API; the gate is computed from them."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

from harness.run.outcome import OUTCOMES, GateState, Outcome

SCHEMA_VERSION = 2


DESELECTED_PREFIX = "deselected:"
DESELECTED = f"{DESELECTED_PREFIX} not selected by -m or -k in this run"


@dataclass
class CheckResult:
    id: str  # check id, with the API (and any other parameter) in brackets
    check_id: str
    title: str
    why: str
    source: str
    source_url: str | None
    severity: str
    area: str  # display name of the check's group, e.g. "Discovery"
    outcome: Outcome
    message: str
    api: str | None = None
    group: str | None = None  # the requested API's group (e.g. "Scheduling")
    category: str | None = None  # who must act: see harness.actors
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    shape: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    check_group: str = ""  # discovery, auth, coverage, exercise, probing (the pytest marker)
    param: str | None = None  # the parameter other than the API, e.g. a token probe's id
    blocked_by: str | None = None  # for a blocked check: the check whose failure blocked it
    required: bool = True  # the gate needs this check to run to a verdict
    requirements: tuple[str, ...] = ()
    nodeid: str = ""
    started: float | None = None  # epoch seconds

    def __post_init__(self) -> None:
        self.outcome = Outcome(self.outcome)

    @property
    def deselected(self) -> bool:
        """Not run because ``-m`` / ``-k`` left it out of this run."""
        return self.outcome is Outcome.SKIPPED and self.message.startswith(DESELECTED_PREFIX)

    def as_dict(self) -> dict[str, Any]:
        out = _fields_dict(self)
        out["outcome"] = self.outcome.value
        out["requirements"] = list(self.requirements)
        return out


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
    verified: bool = False
    not_verified: str | None = None  # why, when not verified

    def as_dict(self) -> dict[str, Any]:
        out = _fields_dict(self)
        out["exercised"] = self.exercised.value if self.exercised else None
        return out


@dataclass
class RootCause:
    """Checks blocked by one failed precondition, reported once."""

    check: str
    reason: str
    blocked: list[str]

    def line(self) -> str:
        return f"{len(self.blocked)} check(s) blocked by {self.check}: {self.reason}"


@dataclass
class Gate:
    state: GateState
    reasons: list[str]
    not_verified: list[str] = field(default_factory=list)
    waived: list[str] = field(default_factory=list)
    policy: str = "default"
    baseline: bool = False

    @property
    def passed(self) -> bool:
        return self.state is GateState.PASSED

    @property
    def exit_code(self) -> int:
        return self.state.exit_code


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
    software_name: str | None = None
    error: str | None = None  # what crashed the run, if it did

    def requirements(self) -> Any:
        """The requirements coverage of this run (harness.requirements.Coverage), computed once for every
        report that shows it, and again only if the checks' ids or outcomes have changed since."""
        from harness.requirements import compute_coverage

        key = [(c.check_id, c.id, c.api, c.param, c.outcome) for c in self.checks]
        cached = self.__dict__.get("_coverage")
        if cached is not None and cached[0] == key:
            return cached[1]
        coverage = compute_coverage(self.checks)
        self.__dict__["_coverage"] = (key, coverage)
        return coverage

    def counts(self) -> dict[str, int]:
        found = Counter(c.outcome for c in self.checks)
        return {o.value: found.get(o, 0) for o in OUTCOMES}

    def root_causes(self) -> list[RootCause]:
        causes: dict[tuple[str, str], list[str]] = {}
        for check in self.checks:
            if check.outcome is Outcome.BLOCKED:
                causes.setdefault((check.blocked_by or "a precondition", check.message), []).append(check.id)
        return [RootCause(k[0], k[1], v) for k, v in sorted(causes.items(), key=lambda kv: -len(kv[1]))]

    @property
    def verified_apis(self) -> int:
        return sum(1 for a in self.apis if a.verified)

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tenant": self.tenant,
            "environment": self.environment,
            "base_url": self.base_url,
            "harness_version": self.harness_version,
            "started": self.started,
            "finished": self.finished,
            "software_name": self.software_name,
            "software_version": self.software_version,
            "fhir_versions": self.fhir_versions,
            "requested_set": self.requested_set,
            "gate": self.gate.state.value,
            "exit_code": self.gate.exit_code,
            "gate_reasons": self.gate.reasons,
            "gate_not_verified": self.gate.not_verified,
            "gate_waived": self.gate.waived,
            "gate_policy": self.gate.policy,
            "error": self.error,
            "verified_apis": {"verified": self.verified_apis, "requested": len(self.apis)},
            "counts": self.counts(),
            "root_causes": [{"check": r.check, "reason": r.reason, "blocked": len(r.blocked)}
                            for r in self.root_causes()],
            "stats": self.stats,
            "requirements": _requirements_dict(self),
            "apis": [a.as_dict() for a in self.apis],
            "checks": [c.as_dict() for c in self.checks],
        }


def _requirements_dict(results: RunResults) -> dict[str, Any]:
    from harness.requirements import to_dict

    return to_dict(results.requirements())


_ATOMS = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _fields_dict(record: Any) -> dict[str, Any]:
    """``dataclasses.asdict(record)``, without its cost on strings and numbers (most of a run's results)."""
    kind = type(record)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    return {name: _plain(getattr(record, name)) for name in names}


def _plain(value: Any) -> Any:
    """What ``dataclasses.asdict`` makes of one value: dataclasses, lists, tuples and dicts copied through,
    strings, numbers and enum members as they are, anything else deep-copied."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is list:
        return [_plain(v) for v in value]
    if kind is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return _fields_dict(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return kind(*[_plain(v) for v in value])
    if isinstance(value, (list, tuple)):
        return kind(_plain(v) for v in value)
    if isinstance(value, dict):
        return kind((_plain(k), _plain(v)) for k, v in value.items())
    if isinstance(value, Enum):
        return value
    return copy.deepcopy(value)
