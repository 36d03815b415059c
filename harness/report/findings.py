"""What every report says the same way: failures grouped by who must act, identical ones collapsed."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.actors import CATEGORIES
from harness.run.outcome import Outcome
from harness.run.results import CheckResult, RunResults


@dataclass
class Finding:
    """One message, and every check (usually one per API) that reported it."""

    check_id: str
    title: str
    outcome: Outcome
    category: str | None
    message: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def apis(self) -> list[str]:
        return [c.api or c.param or c.id for c in self.checks]


def collapse(checks: list[CheckResult]) -> list[Finding]:
    """Identical (check, outcome, message) findings become one, in first-seen order."""
    found: dict[tuple[str, Outcome, str], Finding] = {}
    for c in checks:
        key = (c.check_id, c.outcome, c.message)
        if key not in found:
            found[key] = Finding(c.check_id, c.title, c.outcome, c.category, c.message)
        found[key].checks.append(c)
    return list(found.values())


def failures_by_actor(results: RunResults) -> list[tuple[str, list[Finding]]]:
    failing = [c for c in results.checks if c.outcome in (Outcome.FAILED, Outcome.BROKEN)]
    order = {c: i for i, c in enumerate(CATEGORIES)}
    out: dict[str, list[CheckResult]] = {}
    for c in sorted(failing, key=lambda c: order.get(c.category or "harness-error", 99)):
        out.setdefault(c.category or "harness-error", []).append(c)
    return [(category, collapse(items)) for category, items in out.items()]


def unverified(results: RunResults) -> list[Finding]:
    """Required checks that did not run to a verdict, other than blocked ones (reported by root cause)."""
    return collapse([c for c in results.checks if c.required and c.outcome in
                     (Outcome.SKIPPED, Outcome.INCONCLUSIVE)])


def warnings(results: RunResults) -> list[tuple[str, list[CheckResult]]]:
    """Each distinct warning once, with the checks that saw it."""
    seen: dict[str, list[CheckResult]] = {}
    for c in results.checks:
        for w in c.warnings:
            seen.setdefault(w, []).append(c)
    return list(seen.items())


def security_proven(results: RunResults) -> tuple[bool, str]:
    """Whether the negative token probes proved anything: a control accepted and probes judged."""
    probes = [c for c in results.checks if c.check_id.startswith("auth.token.refuses")]
    if not probes:
        return False, "not checked in this run"
    judged = [c for c in probes if c.outcome in (Outcome.PASSED, Outcome.WARNING, Outcome.FAILED)]
    if not judged:
        first = next((c.message for c in probes if c.message), "no probe was judged")
        return False, f"not proven: {first}"
    return True, f"{len(judged)} of {len(probes)} probes judged"


def count_line(results: RunResults) -> str:
    return ", ".join(f"{n} {o}" for o, n in results.counts().items() if n)


def data_conformance(results: RunResults) -> list[tuple[str, list[str]]]:
    """Per API: schema and structure findings, US Core profile findings and Must Support gaps, and the app's
    fields never filled, each already grouped by rule and element with counts."""
    per_api: dict[str, list[str]] = {}
    for c in results.checks:
        if not c.api:
            continue
        lines = per_api.setdefault(c.api, [])
        lines += [f"FHIR: {v}" for v in c.data.get("validation", [])]
        us_core = c.data.get("us_core") or {}
        lines += [f"US Core: {v}" for v in us_core.get("findings", [])]
        lines += [f"US Core Must Support: {v}" for v in us_core.get("must_support_gaps", [])]
        lines += [f"the app reads {row['path']}: never filled in {row['resources']} resource(s)"
                  for row in c.data.get("contract", []) if row.get("resources") and not row.get("filled")]
    return [(api, list(dict.fromkeys(lines))) for api, lines in per_api.items() if lines]
