"""summary.html: a go-live summary a hospital can act on, self-contained (no script, no external asset)."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from harness.report import findings
from harness.escape import html as esc
from harness.actors import actor
from harness.run.outcome import GateState
from harness.run.results import CheckResult, RunResults

CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.yes{color:#1a7f37}.no{color:#cf222e;font-weight:600}.na{color:#6e7781}
.passed{color:#1a7f37}.failed,.broken{color:#cf222e;font-weight:600}.warning{color:#9a6700}.skipped,.blocked,.inconclusive{color:#6e7781}
.gate{display:inline-block;padding:.2rem .7rem;border-radius:1rem;color:#fff;font-weight:700}
.gate.passed{background:#1a7f37}.gate.failed{background:#cf222e}.gate.incomplete{background:#9a6700}.gate.error{background:#6e40c9}
.meta td{border:none;padding:.1rem .8rem .1rem 0}.group td{background:#f6f8fa;font-weight:600}small{color:#57606a}
details summary{cursor:pointer}
"""


def _cell(value: bool | None) -> str:
    return {True: '<td class="yes">yes</td>', False: '<td class="no">NO</td>', None: '<td class="na">&ndash;</td>'}[value]


def _source(c: CheckResult) -> str:
    return f'<a href="{esc(c.source_url)}">{esc(c.source)}</a>' if c.source_url else esc(c.source)


def _finding_item(f: findings.Finding) -> str:
    where = ""
    if len(f.checks) > 1:
        names = ", ".join(esc(n) for n in f.apis[:12]) + (f" and {len(f.apis) - 12} more" if len(f.apis) > 12 else "")
        where = f"<br><small>{len(f.checks)} checks: {names}</small>"
    elif f.checks[0].api:
        where = f"<br><small>{esc(f.checks[0].api)}</small>"
    return (f"<li><b>{esc(f.title)}</b>: {esc(f.message)} <small><code>{esc(f.check_id)}</code> "
            f"{esc(f.outcome.value)}</small>{where}</li>")


def _grouped_checks(checks: list[CheckResult]) -> str:
    """Checks grouped by check id: its title, why and source said once, then one row per API or parameter."""
    rows = []
    for check_id, items in groupby(checks, key=lambda c: c.check_id):
        items = list(items)
        first = items[0]
        rows.append(f'<tr class=group><td colspan=3><code>{esc(check_id)}</code> {esc(first.title)}<br>'
                    f'<small>{esc(first.why)} {_source(first)}</small></td></tr>')
        for c in items:
            text = c.message or "; ".join(c.warnings) or "; ".join(c.notes)
            rows.append(f'<tr><td class="{c.outcome.value}">{c.outcome.value}</td><td>{esc(c.api or c.param or "")}</td>'
                        f'<td>{esc(text)}</td></tr>')
    return "<table><tr><th>Outcome</th><th>API</th><th>Result</th></tr>" + "".join(rows) + "</table>"


def render(results: RunResults, sds: list[dict] | None = None) -> str:
    gate = results.gate
    software = results.software_name
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Epic go-live summary: "
             f"{esc(results.tenant)}</title><style>{CSS}</style></head><body>",
             f"<h1>Epic go-live summary: {esc(results.tenant)}</h1>",
             f'<p><span class="gate {gate.state.value}">{gate.state.headline}</span> '
             f"verified {results.verified_apis} of {len(results.apis)} requested APIs</p>",
             "<table class=meta>",
             *(f"<tr><td>{esc(k)}</td><td>{esc(str(v))}</td></tr>" for k, v in [
                 ("Tenant", results.base_url), ("Environment", results.environment),
                 ("Epic version", results.software_version or "unknown"),
                 ("FHIR versions", ", ".join(results.fhir_versions)),
                 ("Requested APIs", f"{len(results.apis)} ({results.requested_set})"),
                 ("Checks", findings.count_line(results)),
                 ("Gate policy", gate.policy), ("Run", f"{results.started} to {results.finished}"),
                 ("Harness", results.harness_version)]),
             "</table>"]
    if gate.state is GateState.ERROR and results.error:
        parts.append(f"<h2>The run did not finish</h2><p>{esc(results.error)}</p>")
    parts.append("<h2>What has to be done</h2>")
    by_actor = findings.failures_by_actor(results)
    causes = results.root_causes()
    if not by_actor and not causes:
        parts.append("<p>Nothing failed.</p>")
    for category, items in by_actor:
        parts.append(f"<h3>{esc(actor(category, software))} ({sum(len(f.checks) for f in items)})</h3><ul>")
        parts += [_finding_item(f) for f in items]
        parts.append("</ul>")
    if causes:
        parts.append("<h3>Blocked until a failure above is fixed</h3><ul>"
                     + "".join(f"<li>{esc(c.line())}</li>" for c in causes) + "</ul>")
    missing = findings.unverified(results)
    if missing:
        parts.append("<h2>Not verified in this run</h2><ul>" + "".join(_finding_item(f) for f in missing) + "</ul>")
    if gate.waived:
        parts.append("<h3>Not blocking (optional, or not passing in the baseline either)</h3><ul>"
                     + "".join(f"<li>{esc(w)}</li>" for w in gate.waived) + "</ul>")
    if sds:
        parts.append("<h2>Scheduling Decision Support readiness</h2><table><tr><th>Step</th><th>Verdict</th><th>Evidence</th></tr>")
        parts += [f'<tr><td>{esc(s["step"])}</td><td class="{esc(s["verdict_class"])}">{esc(s["verdict"])}</td>'
                  f'<td>{esc(s["evidence"])}</td></tr>' for s in sds]
        parts.append("</table>")
    parts.append("<h2>Coverage matrix</h2><p><small>Declared: the CapabilityStatement lists the resource and "
                 "interaction (Epic's API contexts are not visible there and are verified by exercising the API). "
                 "Granted: the access token's scopes cover it. Exercised: the API was called and its answer judged. "
                 "Detail: why an API is not verified.</small></p><table><tr><th>API</th><th>Declared</th>"
                 "<th>Granted</th><th>Exercised</th><th>Verified</th><th>Detail</th></tr>")
    for group, rows in groupby(results.apis, key=lambda r: r.group):
        parts.append(f'<tr class=group><td colspan=6>{esc(group)}</td></tr>')
        for r in rows:
            detail = r.not_verified or (r.detail.get("granted", "") if r.granted is False else "")
            ex = r.exercised.value if r.exercised else None
            parts.append(f"<tr><td>{esc(r.name)}</td>{_cell(r.declared)}{_cell(r.granted)}"
                         f'<td class="{ex or "na"}">{esc(ex or "–")}</td>{_cell(r.verified)}<td><small>{esc(detail)}</small></td></tr>')
    parts.append("</table>")
    proven, how = findings.security_proven(results)
    security = [c for c in results.checks if c.check_id.startswith(("auth.token.refuses", "auth.fhir"))]
    parts.append("<h2>Token endpoint security</h2>")
    parts.append(f"<p>{'Proven' if proven else 'Not proven'}: {esc(how)}</p>")
    if security:
        parts.append(_grouped_checks(security))
    conformance = findings.data_conformance(results)
    if conformance:
        parts.append("<h2>Data conformance</h2><p><small>FHIR structure, the US Core profiles the tenant claims, and "
                     "the fields the app reads, grouped by rule and element with counts.</small></p><ul>")
        for api, found in conformance:
            parts.append(f"<li><b>{esc(api)}</b><ul>" + "".join(f"<li>{esc(f)}</li>" for f in found[:12])
                         + (f"<li>... {len(found) - 12} more</li>" if len(found) > 12 else "") + "</ul></li>")
        parts.append("</ul>")
    warned = findings.warnings(results)
    parts.append("<h2>Quirks seen</h2>")
    parts.append("<ul>" + "".join(f"<li>{esc(w)} <small>({len(cs)} check(s): "
                                  f"{esc(', '.join(dict.fromkeys(c.api or c.id for c in cs[:6])))}"
                                  f"{' ...' if len(cs) > 6 else ''})</small></li>" for w, cs in warned) + "</ul>"
                 if warned else "<p>None.</p>")
    from harness.requirements import closing_note, to_html

    coverage = results.requirements()
    parts.append("<h2>Requirements verified</h2>" + to_html(coverage)
                 + "".join(f"<p><small>{esc(line)}</small></p>" for line in closing_note(coverage).splitlines()[:1]))
    parts.append("<h2>All checks</h2><details><summary>every check, grouped</summary>"
                 + _grouped_checks(sorted(results.checks, key=lambda c: c.check_id)) + "</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_summary_html(results: RunResults, path: Path, sds: list[dict] | None = None) -> None:
    path.write_text(render(results, sds), "utf-8")
