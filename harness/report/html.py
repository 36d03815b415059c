"""summary.html: a go-live summary a customer can read, self-contained (no script, no external asset)."""

from __future__ import annotations

from html import escape
from itertools import groupby
from pathlib import Path

from harness.results import CheckResult, RunResults

ACTION = {
    "tenant-configuration": "The customer's Epic team changes the configuration",
    "tenant-fault": "The tenant answers wrongly: raise it with the customer's Epic technical services",
    "test-data": "Fix the test data in the tenant file (ids and values that exist in this environment)",
    "harness-error": "The harness could not judge: send the report folder to the harness maintainers",
}
CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.yes{color:#1a7f37}.no{color:#cf222e;font-weight:600}.na{color:#6e7781}
.passed{color:#1a7f37}.failed,.broken{color:#cf222e;font-weight:600}.warning{color:#9a6700}.skipped{color:#6e7781}
.gate{display:inline-block;padding:.2rem .7rem;border-radius:1rem;color:#fff;font-weight:700}
.gate.ok{background:#1a7f37}.gate.ko{background:#cf222e}.meta td{border:none;padding:.1rem .8rem .1rem 0}
.group td{background:#f6f8fa;font-weight:600}small{color:#57606a}
"""


def _cell(value: bool | None) -> str:
    return {True: '<td class="yes">yes</td>', False: '<td class="no">NO</td>', None: '<td class="na">&ndash;</td>'}[value]


def _check_rows(checks: list[CheckResult]) -> str:
    rows = []
    for c in checks:
        text = c.message or "; ".join(c.warnings) or "; ".join(c.notes)
        source = f'<a href="{escape(c.source_url)}">{escape(c.source)}</a>' if c.source_url else escape(c.source)
        rows.append(f'<tr><td class="{c.outcome}">{c.outcome}</td><td><code>{escape(c.id)}</code><br>'
                    f'<small>{escape(c.title)}</small></td><td>{escape(text)}</td>'
                    f'<td><small>{escape(c.why)}<br>{source}</small></td></tr>')
    return ("<table><tr><th>Outcome</th><th>Check</th><th>Result</th><th>Why it matters / source</th></tr>"
            + "".join(rows) + "</table>")


def render(results: RunResults, sds: list[dict] | None = None) -> str:
    counts = results.counts()
    gate_class = "ok" if results.gate.passed else "ko"
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Epic go-live summary: "
             f"{escape(results.tenant)}</title><style>{CSS}</style></head><body>",
             f"<h1>Epic go-live summary: {escape(results.tenant)}</h1>",
             f'<p><span class="gate {gate_class}">{"READY" if results.gate.passed else "NOT READY"}</span></p>',
             "<table class=meta>",
             *(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in [
                 ("Tenant", results.base_url), ("Environment", results.environment),
                 ("Epic version", results.software_version or "unknown"),
                 ("FHIR versions", ", ".join(results.fhir_versions)),
                 ("Requested APIs", f"{len(results.apis)} ({results.requested_set})"),
                 ("Checks", ", ".join(f"{n} {o}" for o, n in counts.items() if n)),
                 ("Gate policy", results.gate.policy), ("Run", f"{results.started} to {results.finished}"),
                 ("Harness", results.harness_version)]),
             "</table>"]
    failing = [c for c in results.checks if c.outcome in ("failed", "broken")]
    parts.append("<h2>What has to be done</h2>")
    if not failing:
        parts.append("<p>Nothing: every required check passed.</p>")
    for category, items in groupby(sorted(failing, key=lambda c: c.category or "harness-error"),
                                   key=lambda c: c.category or "harness-error"):
        items = list(items)
        parts.append(f"<h3>{escape(ACTION.get(category, category))} ({len(items)})</h3><ul>")
        parts += [f"<li><b>{escape(c.api or c.title)}</b>: {escape(c.message)} <small><code>{escape(c.id)}</code></small></li>"
                  for c in items]
        parts.append("</ul>")
    if results.gate.waived:
        parts.append("<h3>Not blocking (optional, or failing in the baseline too)</h3><ul>"
                     + "".join(f"<li>{escape(w)}</li>" for w in results.gate.waived) + "</ul>")
    if sds:
        parts.append("<h2>Scheduling Decision Support readiness</h2><table><tr><th>Step</th><th>Verdict</th><th>Evidence</th></tr>")
        parts += [f'<tr><td>{escape(s["step"])}</td><td class="{escape(s["verdict_class"])}">{escape(s["verdict"])}</td>'
                  f'<td>{escape(s["evidence"])}</td></tr>' for s in sds]
        parts.append("</table>")
    parts.append("<h2>Coverage matrix</h2><table><tr><th>API</th><th>Declared</th><th>Granted</th><th>Exercised</th><th>Detail</th></tr>")
    for group, rows in groupby(results.apis, key=lambda r: r.group):
        parts.append(f'<tr class=group><td colspan=5>{escape(group)}</td></tr>')
        for r in rows:
            detail = "; ".join(dict.fromkeys(v for v in r.detail.values() if v))
            parts.append(f"<tr><td>{escape(r.name)}</td>{_cell(r.declared)}{_cell(r.granted)}"
                         f'<td class="{r.exercised or "na"}">{escape(r.exercised or "–")}</td><td><small>{escape(detail)}</small></td></tr>')
    parts.append("</table>")
    security = [c for c in results.checks if c.check_id.startswith("auth.token.refuses") or c.check_id.startswith("auth.fhir")]
    parts.append("<h2>Token endpoint security</h2>")
    parts.append(_check_rows(security) if security else "<p>Not checked in this run.</p>")
    quirks = [c for c in results.checks if c.warnings or any(n.startswith("accepted quirk") for n in c.notes)]
    parts.append("<h2>Quirks seen</h2>")
    parts.append(_check_rows(quirks) if quirks else "<p>None.</p>")
    parts.append("<h2>All checks</h2>" + _check_rows(results.checks))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_summary_html(results: RunResults, path: Path, sds: list[dict] | None = None) -> None:
    path.write_text(render(results, sds), "utf-8")
