"""The gate: a pure function of the run's results, the policy and an optional baseline.

``passed`` only when every required check ran and passed (warnings pass); ``failed`` when a required
check failed (or an API lost declared/granted support against the baseline); ``error`` when the run
crashed or a check broke; ``incomplete`` when a required check was blocked, inconclusive, skipped or
deselected, listing what was not verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.policy import GatePolicy
from harness.run.outcome import GateState, Outcome
from harness.run.results import ApiRow, CheckResult, Gate


NOT_EXERCISED = "not exercised in this run"


@dataclass
class GateInput:
    checks: list[CheckResult]
    apis: list[ApiRow]
    policy: GatePolicy = field(default_factory=GatePolicy)
    baseline: dict[str, Any] | None = None
    crashed: str | None = None  # the run did not finish: what stopped it


def _line(check: CheckResult) -> str:
    return f"{check.id}: {check.outcome.value}: {check.message}" if check.message else f"{check.id}: {check.outcome.value}"


def decide(gate_input: GateInput) -> Gate:
    policy = gate_input.policy
    reasons: list[str] = []
    broken: list[str] = []
    unverified: list[CheckResult] = []
    waived: list[str] = []
    before = ({c["id"]: c["outcome"] for c in gate_input.baseline.get("checks", [])}
              if gate_input.baseline else None)
    for check in gate_input.checks:
        outcome = check.outcome
        if outcome is Outcome.WARNING and check.check_id in policy.warnings_fail:
            reasons.append(f"{check.id}: warning made a failure by the policy: {'; '.join(check.warnings)}")
            continue
        if outcome.proved:
            continue
        if not check.required and outcome not in (Outcome.FAILED, Outcome.BROKEN):
            continue  # an advisory check that did not run decides nothing; one that broke is still an error
        if policy.is_optional(check.api, check.group):
            waived.append(f"optional: {_line(check)}")
            continue
        if before is not None and outcome in (Outcome.FAILED, Outcome.BROKEN) and \
                before.get(check.id) not in ("passed", "warning"):
            waived.append(f"not a regression (baseline: {before.get(check.id, 'not run')}): {_line(check)}")
            continue
        if outcome is Outcome.FAILED:
            reasons.append(("regression: " if before is not None else "") + _line(check))
        elif outcome is Outcome.BROKEN:
            broken.append(_line(check))
        else:
            unverified.append(check)
    if gate_input.baseline:
        old_rows = {a["name"]: a for a in gate_input.baseline.get("apis", [])}
        for row in gate_input.apis:
            old = old_rows.get(row.name)
            if old is None or policy.is_optional(row.name, row.group):
                continue
            for column in ("declared", "granted"):
                if old.get(column) is True and getattr(row, column) is False:
                    reasons.append(f"regression: {row.name}: {column} was true in the baseline, now false")
    not_verified = _not_verified(unverified)
    for row in gate_input.apis:  # a requested API no check exercised is not verified either
        if not row.verified and row.not_verified == NOT_EXERCISED and not policy.is_optional(row.name, row.group):
            not_verified.append(f"{row.name}: {NOT_EXERCISED}")
    if gate_input.crashed:
        state = GateState.ERROR
        reasons.insert(0, f"the run did not finish: {gate_input.crashed}")
    elif reasons:
        state = GateState.FAILED
    elif broken:
        state = GateState.ERROR
    elif not_verified or not gate_input.checks:
        state = GateState.INCOMPLETE
        if not gate_input.checks:
            not_verified.append("no check ran")
    else:
        state = GateState.PASSED
    return Gate(state=state, reasons=reasons + broken, not_verified=not_verified, waived=waived,
                policy=policy.source, baseline=bool(gate_input.baseline))


def _not_verified(checks: list[CheckResult]) -> list[str]:
    """One line per root cause for blocked checks, one line per other check not verified."""
    lines: list[str] = []
    blocked: dict[tuple[str, str], int] = {}
    for check in checks:
        if check.outcome is Outcome.BLOCKED:
            key = (check.blocked_by or "a precondition", check.message)
            blocked[key] = blocked.get(key, 0) + 1
        else:
            lines.append(_line(check))
    return [f"{n} check(s) blocked by {by}: {why}" for (by, why), n in blocked.items()] + lines
