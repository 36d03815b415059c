"""summary.json (the run's results, for machines) and summary.md (for people: failures first)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from harness.report import findings
from harness.escape import json_text, markdown as md
from harness.actors import actor
from harness.run.outcome import OUTCOMES
from harness.run.results import ApiRow, RunResults

MARK = {True: "yes", False: "NO", None: "-"}


def write_summary_json(results: RunResults, path: Path) -> None:
    path.write_text(json_text(json.dumps(results.as_dict(), indent=2, ensure_ascii=False)) + "\n", "utf-8")


def _exercised(row: ApiRow) -> str:
    return row.exercised.value if row.exercised else "-"


def _apis(finding: findings.Finding, limit: int = 8) -> str:
    names = [n for n in finding.apis if n]
    if len(finding.checks) == 1:
        return md(names[0]) if names and finding.checks[0].api else ""
    shown = ", ".join(md(n) for n in names[:limit])
    return f"{len(finding.checks)} checks: {shown}" + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def render_md(results: RunResults) -> str:
    gate = results.gate
    software = results.software_name
    lines = [
        f"# Epic conformance: {md(results.tenant)}",
        "",
        f"- Gate: **{gate.state.value.upper()}** ({gate.state.headline}); verified {results.verified_apis} of "
        f"{len(results.apis)} requested APIs",
        f"- Environment: {md(results.environment)}",
        f"- Tenant: {md(results.base_url)}",
        f"- Epic version: {md(results.software_version or 'unknown')}",
        f"- Requested APIs: {len(results.apis)} ({md(results.requested_set)})",
        f"- Checks: {findings.count_line(results)}",
        "",
    ]
    if gate.reasons:
        lines += ["## Why the gate did not pass", ""] + [f"- {md(r)}" for r in gate.reasons[:50]]
        if len(gate.reasons) > 50:
            lines.append(f"- ... and {len(gate.reasons) - 50} more (summary.json lists them all)")
        lines.append("")
    causes = results.root_causes()
    if causes:
        lines += ["## Blocked", ""] + [f"- {md(c.line())}" for c in causes] + [""]
    by_actor = findings.failures_by_actor(results)
    if by_actor:
        lines += ["## What has to be done", ""]
        for category, items in by_actor:
            lines += [f"### {md(actor(category, software))}", ""]
            for f in items:
                where = _apis(f)
                lines.append(f"- `{md(f.check_id)}` {f.outcome.value}: {md(f.message)}" + (f" ({where})" if where else ""))
            lines.append("")
    missing = findings.unverified(results)
    if missing:
        lines += ["## Not verified", ""]
        for f in missing:
            where = _apis(f)
            lines.append(f"- `{md(f.check_id)}` {f.outcome.value}: {md(f.message)}" + (f" ({where})" if where else ""))
        lines.append("")
    if gate.waived:
        lines += ["## Not blocking (optional, or not passing in the baseline either)", ""]
        lines += [f"- {md(w)}" for w in gate.waived] + [""]
    sds = next((c.data["sds"] for c in results.checks if c.data.get("sds")), None)
    if sds:
        lines += ["## Scheduling Decision Support readiness", "", "| Step | Verdict | Evidence |", "|---|---|---|"]
        lines += [f"| {md(s['step'])} | {md(s['verdict'])} | {md(s['evidence'])} |" for s in sds] + [""]
    lines += ["## Coverage matrix", "",
              "Declared: the CapabilityStatement lists the resource and interaction (Epic's API contexts are not "
              "visible there and are verified by exercising the API). Granted: the token's scopes cover it. "
              "Detail: why an API is not verified (summary.json keeps every column's detail).", "",
              "| API | Group | Declared | Granted | Exercised | Verified | Detail |", "|---|---|---|---|---|---|---|"]
    for row in results.apis:
        detail = row.not_verified or (row.detail.get("granted", "") if row.granted is False else "")
        lines.append(f"| {md(row.name)} | {md(row.group)} | {MARK[row.declared]} | {MARK[row.granted]} | "
                     f"{_exercised(row)} | {'yes' if row.verified else 'NO'} | {md(detail[:300])} |")
    conformance = findings.data_conformance(results)
    if conformance:
        lines += ["", "## Data conformance", ""]
        for api, found in conformance:
            lines.append(f"- **{md(api)}**")
            lines += [f"  - {md(f)}" for f in found[:12]] + ([f"  - ... {len(found) - 12} more"] if len(found) > 12 else [])
    warned = findings.warnings(results)
    if warned:
        lines += ["", "## Quirks and warnings", ""]
        lines += [f"- {md(w)} ({len(cs)} check(s))" for w, cs in warned]
    from harness.requirements import to_markdown

    lines += ["", to_markdown(results.requirements()).rstrip()]
    lines += ["", "## Checks by group", "", "| Group | " + " | ".join(o.value for o in OUTCOMES) + " |",
              "|---|" + "---|" * len(OUTCOMES)]
    per_group: dict[str, Counter] = {}
    for c in results.checks:
        per_group.setdefault(c.area, Counter())[c.outcome] += 1
    for area, counts in per_group.items():
        lines.append(f"| {md(area)} | " + " | ".join(str(counts.get(o, 0)) for o in OUTCOMES) + " |")
    return "\n".join(lines) + "\n"


def write_summary_md(results: RunResults, path: Path) -> None:
    path.write_text(render_md(results), "utf-8")
