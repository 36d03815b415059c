"""The outcome of one check: what it proved, and what that means for the gate and each report."""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    """One check's verdict. The order of the members is their rank, worst first."""

    FAILED = "failed"            # the tenant does not do what it must
    BROKEN = "broken"            # the harness could not judge (an error in the harness)
    BLOCKED = "blocked"          # a precondition failed; ``blocked_by`` names the check that failed it
    INCONCLUSIVE = "inconclusive"  # the tenant's answer cannot decide the rule; the message says why
    SKIPPED = "skipped"          # not run: not allowed here, not applicable, test data missing, deselected
    WARNING = "warning"          # passed, with a recommendation not met or a quirk seen
    PASSED = "passed"            # the rule holds, on the evidence attached

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        """0 for the worst outcome; combining outcomes keeps the lowest rank."""
        return _ORDER.index(self)

    @property
    def proved(self) -> bool:
        """The check ran to a verdict in the tenant's favour."""
        return self in (Outcome.PASSED, Outcome.WARNING)

    @property
    def fails_gate(self) -> bool:
        return self is Outcome.FAILED

    @property
    def unverified(self) -> bool:
        """The rule was not verified on this tenant (the gate cannot say READY over it)."""
        return self in (Outcome.BLOCKED, Outcome.INCONCLUSIVE, Outcome.SKIPPED, Outcome.BROKEN)

    @property
    def allure_status(self) -> str:
        """Allure knows five statuses: warnings pass, blocked and skipped skip, inconclusive is unknown."""
        return _ALLURE[self]

    @property
    def junit(self) -> str | None:
        """The junit element of a testcase with this outcome (None: a plain, passing testcase)."""
        return _JUNIT[self]

    @classmethod
    def worst(cls, outcomes: "list[Outcome] | tuple[Outcome, ...]") -> "Outcome | None":
        return min(outcomes, key=lambda o: o.rank) if outcomes else None


_ORDER = list(Outcome)
_ALLURE = {Outcome.PASSED: "passed", Outcome.WARNING: "passed", Outcome.FAILED: "failed",
           Outcome.BROKEN: "broken", Outcome.BLOCKED: "skipped", Outcome.SKIPPED: "skipped",
           Outcome.INCONCLUSIVE: "unknown"}
_JUNIT = {Outcome.PASSED: None, Outcome.WARNING: None, Outcome.FAILED: "failure", Outcome.BROKEN: "error",
          Outcome.BLOCKED: "skipped", Outcome.SKIPPED: "skipped", Outcome.INCONCLUSIVE: "skipped"}

OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)


class GateState(str, Enum):
    """The run's verdict: READY only when every required check ran and passed."""

    PASSED = "passed"
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    @property
    def exit_code(self) -> int:
        return _EXIT[self]

    @property
    def headline(self) -> str:
        return _HEADLINE[self]


#: Exit codes follow pytest's where they overlap: 2 is a usage or configuration error.
EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_ERROR, EXIT_INCOMPLETE = 0, 1, 2, 3, 5
_EXIT = {GateState.PASSED: EXIT_PASSED, GateState.FAILED: EXIT_FAILED, GateState.ERROR: EXIT_ERROR,
         GateState.INCOMPLETE: EXIT_INCOMPLETE}
_HEADLINE = {GateState.PASSED: "READY", GateState.FAILED: "NOT READY", GateState.INCOMPLETE: "INCOMPLETE",
             GateState.ERROR: "ERROR"}
