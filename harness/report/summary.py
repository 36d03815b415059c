"""Writers fed by the run's results: summary.json, summary.md and the coverage table on the terminal."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.results import ApiRow, RunResults

MARK = {True: "yes", False: "NO", None: "-"}


def write_summary_json(results: RunResults, path: Path) -> None:
    path.write_text(json.dumps(results.as_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")


def _exercised(row: ApiRow) -> str:
    return row.exercised or "-"


def write_summary_md(results: RunResults, path: Path) -> None:
    counts = results.counts()
    lines = [
        f"# Epic conformance: {results.tenant}",
        "",
        f"- Environment: {results.environment}",
        f"- Tenant: {results.base_url}",
        f"- Epic version: {results.software_version or 'unknown'}",
        f"- Requested APIs: {len(results.apis)} ({results.requested_set})",
        f"- Gate: **{'PASSED' if results.gate.passed else 'FAILED'}**",
        "- Checks: " + ", ".join(f"{n} {o}" for o, n in counts.items() if n),
        "",
    ]
    if results.gate.reasons:
        lines += ["## Why the gate failed", ""] + [f"- {r}" for r in results.gate.reasons] + [""]
    sds = next((c.data["sds"] for c in results.checks if c.data.get("sds")), None)
    if sds:
        lines += ["## Scheduling Decision Support readiness", "", "| Step | Verdict | Evidence |", "|---|---|---|"]
        lines += [f"| {s['step']} | {s['verdict']} | {s['evidence'].replace('|', '/')} |" for s in sds] + [""]
    lines += ["## Coverage matrix", "",
              "| API | Group | Declared | Granted | Exercised | Detail |", "|---|---|---|---|---|---|"]
    for row in results.apis:
        detail = "; ".join(dict.fromkeys(v for v in row.detail.values() if v))
        lines.append(f"| {row.name} | {row.group} | {MARK[row.declared]} | {MARK[row.granted]} | "
                     f"{_exercised(row)} | {detail.replace('|', '/')} |")
    lines += ["", "## Checks", "", "| Outcome | Check | Title | Message |", "|---|---|---|---|"]
    for c in results.checks:
        message = (c.message or "; ".join(c.warnings)).replace("|", "/").replace("\n", " ")
        lines.append(f"| {c.outcome} | `{c.id}` | {c.title} | {message[:300]} |")
    path.write_text("\n".join(lines) + "\n", "utf-8")


def coverage_table(results: RunResults) -> Table:
    table = Table(title=f"API coverage: {results.tenant} ({len(results.apis)} requested)", show_lines=False,
                  box=None, pad_edge=False)
    table.add_column("API", overflow="fold")
    for column in ("Declared", "Granted", "Exercised"):
        table.add_column(column, no_wrap=True)
    style = {True: "green", False: "bold red", None: "dim"}
    group = None
    for row in results.apis:
        if row.group != group:
            group = row.group
            table.add_row(f"[bold]{group}[/]", "", "", "")
        table.add_row(f"  {row.name}",
                      f"[{style[row.declared]}]{MARK[row.declared]}[/]",
                      f"[{style[row.granted]}]{MARK[row.granted]}[/]",
                      _exercised(row))
    return table


def print_coverage(results: RunResults, console: Console) -> None:
    console.print(coverage_table(results))
    declared = sum(1 for r in results.apis if r.declared)
    granted = sum(1 for r in results.apis if r.granted)
    missing = [r.name for r in results.apis if r.declared is False or r.granted is False]
    console.print(f"declared {declared}/{len(results.apis)}, granted {granted}/{len(results.apis)}; "
                  f"missing: {len(missing)}")
    verdict = "[bold green]PASSED[/]" if results.gate.passed else "[bold red]FAILED[/]"
    console.print(f"gate: {verdict}  " + ", ".join(f"{n} {o}" for o, n in results.counts().items() if n))
