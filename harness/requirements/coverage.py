"""Requirements coverage of one run: for each requirement, the checks that verify it and what they found.

A pure computation over the run's results and the catalogue: no I/O, no state. A requirement is

- ``failed`` when a check that verifies it failed;
- ``verified`` when at least one passed or warned and none failed;
- ``not-verified`` otherwise, with why: ``untestable`` (the catalogue says it cannot be seen from outside),
  ``no check`` (no check verifies it yet), ``not run`` (its checks were not selected), or the outcome its
  checks ended in without a verdict: ``broken``, ``blocked``, ``inconclusive``, ``skipped``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, get_args

from harness.errors import HarnessError
from harness.requirements.catalogue import VERBS, Catalogue, Requirement, load_catalogue

Outcome = Literal["passed", "warning", "failed", "broken", "skipped", "blocked", "inconclusive"]
Status = Literal["verified", "failed", "not-verified"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
# without a verdict, the most telling first: a harness error, then a refusal to run, ...
NO_VERDICT_ORDER = ("broken", "blocked", "inconclusive", "skipped")
REASONS = ("untestable", "no check", "not run") + NO_VERDICT_ORDER


class CoverageInputError(HarnessError):
    """A check result handed to the coverage computation is not one it can read."""


@dataclass(frozen=True)
class CheckOutcome:
    """One result of one check: its id, its parameter (a probe, a case, an API) and its outcome."""

    check_id: str
    param: str | None
    outcome: Outcome


@dataclass(frozen=True)
class RequirementCoverage:
    requirement: Requirement
    status: Status
    reason: str | None  # why not verified
    verifications: tuple[CheckOutcome, ...]  # the results that bear on it, in run order
    verifiers: tuple[tuple[str, str | None], ...]  # the checks (and parameters) the catalogue names

    @property
    def warned(self) -> bool:
        return any(v.outcome == "warning" for v in self.verifications)


@dataclass(frozen=True)
class Totals:
    source: str
    title: str
    verb: str
    total: int
    verified: int
    failed: int
    not_verified: int
    untestable: int

    @property
    def testable(self) -> int:
        return self.total - self.untestable

    def summary(self) -> str:
        """E.g. 'SMART Backend Services: 21 of 23 SHALLs verified, 1 failed, 1 not verified'."""
        text = f"{self.title}: {self.verified} of {self.testable} {self.verb}s verified"
        if self.failed:
            text += f", {self.failed} failed"
        if self.not_verified:
            text += f", {self.not_verified} not verified"
        if self.untestable:
            text += f" ({self.untestable} more not testable from outside)"
        return text


@dataclass(frozen=True)
class Coverage:
    catalogue: Catalogue
    rows: tuple[RequirementCoverage, ...]
    totals: tuple[Totals, ...]  # per source and verb, in catalogue order

    def row(self, requirement_id: str) -> RequirementCoverage:
        for row in self.rows:
            if row.requirement.id == requirement_id:
                return row
        raise KeyError(requirement_id)

    def counts(self) -> Counter[str]:
        """How many requirements have each status, and each reason not to be verified."""
        found: Counter[str] = Counter(r.status for r in self.rows)
        found.update(f"not-verified: {r.reason}" for r in self.rows if r.reason)
        return found


def _param_of(check_id: str, result_id: str | None, api: str | None) -> str | None:
    """The parameter of a harness CheckResult: its bracketed suffix without the API, else the API."""
    if not result_id or not result_id.startswith(f"{check_id}[") or not result_id.endswith("]"):
        return api
    suffix = result_id[len(check_id) + 1:-1]
    if api and suffix.startswith(api):
        rest = suffix[len(api):].lstrip(", ")
        return rest or api
    return suffix or api


def as_outcome(result: Any) -> CheckOutcome:
    """A CheckOutcome from one, from a mapping (``check_id``/``param``/``outcome``, or summary.json's
    ``id``/``api``/``outcome`` with ``check_id``), or from an object with those attributes (CheckResult)."""
    if isinstance(result, CheckOutcome):
        found = result
    else:
        get = result.get if isinstance(result, Mapping) else (lambda k, d=None: getattr(result, k, d))
        check_id = get("check_id")
        if not isinstance(check_id, str) or not check_id:
            raise CoverageInputError(f"a check result has no check id: {str(result)[:120]!r}")
        api = get("api")
        param = get("param") if get("param") is not None else _param_of(check_id, get("id"), api)
        found = CheckOutcome(check_id=check_id, param=None if param is None else str(param),
                             outcome=get("outcome"))
    if found.outcome not in OUTCOMES:
        raise CoverageInputError(f"{found.check_id}: outcome {found.outcome!r} is not one of {', '.join(OUTCOMES)}")
    return found


def _status(requirement: Requirement, verifiers: tuple[tuple[str, str | None], ...],
            verifications: tuple[CheckOutcome, ...]) -> tuple[Status, str | None]:
    if not requirement.testable:
        return "not-verified", "untestable"
    outcomes = {v.outcome for v in verifications}
    if "failed" in outcomes:
        return "failed", None
    if outcomes & {"passed", "warning"}:
        return "verified", None
    if not verifiers:
        return "not-verified", "no check"
    if not verifications:
        return "not-verified", "not run"
    return "not-verified", next(o for o in NO_VERDICT_ORDER if o in outcomes)


def compute_coverage(results: Iterable[Any], catalogue: Catalogue | None = None) -> Coverage:
    """Requirements coverage of a run's results (CheckOutcome, CheckResult or summary.json check rows)."""
    catalogue = catalogue or load_catalogue()
    outcomes = [as_outcome(r) for r in results]
    by_requirement: dict[str, list[CheckOutcome]] = {rid: [] for rid in catalogue.requirements}
    for outcome in outcomes:
        for rid in catalogue.requirements_for(outcome.check_id, outcome.param):
            by_requirement[rid].append(outcome)
    rows = []
    for rid, requirement in catalogue.requirements.items():
        verifiers = catalogue.verifiers_of(rid)
        verifications = tuple(by_requirement[rid])
        status, reason = _status(requirement, verifiers, verifications)
        rows.append(RequirementCoverage(requirement, status, reason, verifications, verifiers))
    totals = []
    for key, source in catalogue.sources.items():
        mine = [r for r in rows if r.requirement.source == key]
        for verb in VERBS:
            of_verb = [r for r in mine if r.requirement.verb == verb]
            if not of_verb:
                continue
            totals.append(Totals(
                source=key, title=source.title, verb=verb, total=len(of_verb),
                verified=sum(r.status == "verified" for r in of_verb),
                failed=sum(r.status == "failed" for r in of_verb),
                not_verified=sum(r.status == "not-verified" and r.reason != "untestable" for r in of_verb),
                untestable=sum(r.reason == "untestable" for r in of_verb)))
    return Coverage(catalogue=catalogue, rows=tuple(rows), totals=tuple(totals))


def closing_note(coverage: Coverage) -> str:
    """A paragraph for the end of a report: how much of each source was verified, and what was not, and why."""
    counts = coverage.counts()
    lines = [f"{len(coverage.rows)} requirements from {len(coverage.catalogue.sources)} sources: "
             f"{counts['verified']} verified, {counts['failed']} failed, {counts['not-verified']} not verified."]
    for key, source in coverage.catalogue.sources.items():
        mine = [r for r in coverage.rows if r.requirement.source == key]
        done = sum(r.status == "verified" for r in mine)
        failed = [r.requirement.id for r in mine if r.status == "failed"]
        line = f"{source.title} {source.version}: {done} of {len(mine)} verified"
        if failed:
            line += f"; failed: {', '.join(failed)}"
        lines.append(line + ".")
    for reason in REASONS:
        ids = [r.requirement.id for r in coverage.rows if r.reason == reason]
        if ids:
            lines.append(f"Not verified ({_REASON_TEXT[reason]}): {', '.join(ids)}.")
    return "\n".join(lines)


_REASON_TEXT = {
    "untestable": "cannot be seen from outside the tenant",
    "no check": "no check verifies it yet",
    "not run": "its checks were not selected in this run",
    "broken": "its checks broke",
    "blocked": "its checks were blocked by an earlier failure",
    "inconclusive": "its checks could not tell",
    "skipped": "its checks were skipped",
}
