"""What a run prints at its end: the coverage matrix, each distinct failure once with who must act, each root
cause once, the gate with the harness's counts, and tenant text that never moves the cursor or styles the line."""

from __future__ import annotations

import io

from rich.console import Console

from harness.report import findings
from harness.report.terminal import MAX_LINES, print_outcome
from harness.run.gate import GateInput, decide
from harness.run.results import RunResults
from tests.report.sample import sample_results
from tests.support.results import check_result


def _printed(results: RunResults | None = None, *, colour: bool = False) -> str:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=colour, no_color=not colour, highlight=False)
    print_outcome(results or sample_results(), console, "reports/sample")
    return out.getvalue()


def test_failures_once_each_then_root_causes_then_the_gate() -> None:
    lines = _printed().splitlines()
    failed = [line for line in lines if line.startswith(("failed ", "broken "))]
    assert failed[0] == ("failed coverage.declared (10 checks): Practitioner is not in the R4 CapabilityStatement  "
                         "-> customer's Epic team")
    assert len(failed) == 4 and failed[-1].endswith("-> harness maintainers")
    assert [line for line in lines if line.startswith("blocked: ")] == [
        "blocked: 5 check(s) blocked by exercise.search[Patient.Search (Demographics) (R4)]: the API's own exercise "
        "check broken: there is no answer to judge"]
    assert "not verified: 3 check(s) skipped or inconclusive (summary.md lists them)" in lines
    assert "declared 33/43, granted 42/43, verified 30/43" in lines
    gate = next(line for line in lines if line.startswith("gate: "))
    assert gate == f"gate: FAILED (NOT READY)  {findings.count_line(sample_results())}"
    assert lines[-1] == "reports: reports/sample"
    assert "requests: 12 sent, 1 retried (0.5 s waited)" in "\n".join(lines)


def test_many_distinct_failures_are_cut_with_a_pointer_to_the_summary() -> None:
    results = sample_results()
    results.checks += [check_result(f"exercise.x{i}", "failed", message=f"distinct {i}", category="tenant-fault")
                       for i in range(MAX_LINES + 5)]
    lines = _printed(results).splitlines()
    assert sum(line.startswith(("failed ", "broken ")) for line in lines) == MAX_LINES
    assert "... and 9 more distinct failures: see summary.md" in lines


def test_a_gate_that_passed_says_ready() -> None:
    results = sample_results()
    results.checks = [c for c in results.checks if c.outcome.proved]
    results.gate = decide(GateInput(results.checks, []))
    assert "gate: PASSED (READY)  1 warning, 32 passed" in _printed(results).splitlines()


def test_tenant_text_never_reaches_the_terminal_as_control_or_markup() -> None:
    plain = _printed()
    assert "\x1b" not in plain and "\u202e" not in plain and "\r" not in plain
    assert "[bold red]markup[/]" in plain  # printed as text, not as Rich markup
    assert not [line for line in plain.splitlines() if line.startswith(("## Injected", "| cell"))]
    coloured = _printed(colour=True)
    assert "\x1b[" in coloured  # the harness's own styles
    assert "\x1b]8;" not in coloured and "\x1b[31mred" not in coloured and "\u202e" not in coloured
    assert "St. Elsewhere <b>Health</b> | # *x* Gate=passed" in plain
