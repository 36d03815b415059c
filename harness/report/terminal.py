"""What the run prints at its end: the coverage matrix, what failed (collapsed), what was blocked, the gate.

Tenant text is printed as plain text (no Rich markup, no escape sequences, no control characters).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.report import findings
from harness.escape import terminal as plain
from harness.actors import short_actor
from harness.run.outcome import GateState
from harness.run.results import RunResults

MARK = {True: "yes", False: "NO", None: "-"}
STYLE = {True: "green", False: "bold red", None: "dim"}
GATE_STYLE = {GateState.PASSED: "bold green", GateState.FAILED: "bold red", GateState.INCOMPLETE: "bold yellow",
              GateState.ERROR: "bold magenta"}
MAX_LINES = 40


def coverage_table(results: RunResults) -> Table:
    table = Table(title=Text(f"API coverage: {plain(results.tenant)} ({len(results.apis)} requested)"),
                  show_lines=False, box=None, pad_edge=False)
    table.add_column("API", overflow="fold")
    for column in ("Declared", "Granted", "Exercised", "Verified"):
        table.add_column(column, no_wrap=True)
    group = None
    for row in results.apis:
        if row.group != group:
            group = row.group
            table.add_row(Text(plain(group), style="bold"), "", "", "", "")
        table.add_row(Text(f"  {plain(row.name)}"),
                      Text(MARK[row.declared], style=STYLE[row.declared]),
                      Text(MARK[row.granted], style=STYLE[row.granted]),
                      Text(row.exercised.value if row.exercised else "-"),
                      Text("yes" if row.verified else "NO", style=STYLE[row.verified] if row.verified else "yellow"))
    return table


def print_outcome(results: RunResults, console: Console, report_dir: object = None) -> None:
    console.print(coverage_table(results))
    declared = sum(1 for r in results.apis if r.declared)
    granted = sum(1 for r in results.apis if r.granted)
    console.print(Text(f"declared {declared}/{len(results.apis)}, granted {granted}/{len(results.apis)}, "
                       f"verified {results.verified_apis}/{len(results.apis)}"))
    lines = 0
    for category, items in findings.failures_by_actor(results):
        for f in items:
            if lines >= MAX_LINES:
                break
            where = f" ({len(f.checks)} checks)" if len(f.checks) > 1 else (f" [{plain(f.checks[0].api)}]" if f.checks[0].api else "")
            line = Text()
            line.append(f"{f.outcome.value} ", style="red")
            line.append(f"{f.check_id}{where}: {plain(f.message)[:300]}")
            line.append(f"  -> {short_actor(category, results.software_name)}", style="dim")
            console.print(line)
            lines += 1
    total = sum(len(items) for _, items in findings.failures_by_actor(results))
    if total > lines:
        console.print(Text(f"... and {total - lines} more distinct failures: see summary.md", style="dim"))
    for cause in results.root_causes():
        console.print(Text(f"blocked: {plain(cause.line())}", style="yellow"))
    missing = findings.unverified(results)
    if missing:
        console.print(Text(f"not verified: {sum(len(f.checks) for f in missing)} check(s) skipped or inconclusive "
                           f"(summary.md lists them)", style="yellow"))
    if results.checks:
        from harness.requirements import closing_note

        console.print(Text(f"requirements: {closing_note(results.requirements()).splitlines()[0]} (summary.md lists them)"))
    gate = results.gate
    line = Text("gate: ")
    label = gate.state.value.upper()
    line.append(label if label == gate.state.headline else f"{label} ({gate.state.headline})",
                style=GATE_STYLE[gate.state])
    line.append(f"  {findings.count_line(results)}")
    console.print(line)
    if gate.state is GateState.ERROR and results.error:
        console.print(Text(f"the run did not finish: {plain(results.error)}", style="magenta"))
    stats = results.stats
    if stats:
        console.print(Text(f"requests: {stats.get('requests_sent')} sent, {stats.get('retries')} retried "
                           f"({stats.get('retry_wait_s')} s waited), {stats.get('rate_limit_wait_s')} s waited for the "
                           f"rate limit of {stats.get('rate_limit_per_s'):g}/s, {stats.get('token_requests')} token "
                           f"request(s)"))
    if report_dir is not None:
        console.print(Text(f"reports: {report_dir}"))
