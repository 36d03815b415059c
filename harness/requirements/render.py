"""The requirements coverage table, rendered: a JSON-able dict, Markdown, an HTML fragment, terminal text.

Every renderer is a pure function of a :class:`~harness.requirements.coverage.Coverage`. Text from the
results (check ids, parameters) is escaped for its medium: HTML-escaped, Markdown table cells without pipes
or line breaks, terminal text without control characters or rich markup.
"""

from __future__ import annotations

import io
import re
from html import escape
from typing import Any

from harness.requirements.coverage import Coverage, RequirementCoverage

STATUS_LABEL = {"verified": "verified", "failed": "FAILED", "not-verified": "not verified"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def anchor_of(requirement_id: str) -> str:
    """The HTML id of a requirement's row, for links from a check's page: ``#req-...``."""
    return "req-" + re.sub(r"[^A-Za-z0-9_.-]", "-", requirement_id)


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text)


def _check_label(check_id: str, param: str | None) -> str:
    return f"{check_id}[{param}]" if param else check_id


def _why(row: RequirementCoverage) -> str:
    if row.status == "not-verified":
        return row.reason or ""
    return "with warnings" if row.warned else ""


def _checks_summary(row: RequirementCoverage) -> list[tuple[str, str]]:
    """(check label, outcomes) per check that bore on the requirement, e.g. ('exercise.read', '3 passed, 1 failed');
    the checks the catalogue names but that did not run are listed with 'not run'."""
    grouped: dict[str, dict[str, int]] = {}
    for v in row.verifications:
        named = v.param is not None and (v.check_id, v.param) in row.verifiers
        label = _check_label(v.check_id, v.param) if named else v.check_id
        counts = grouped.setdefault(label, {})
        counts[v.outcome] = counts.get(v.outcome, 0) + 1
    out = [(label, ", ".join(f"{n} {o}" for o, n in counts.items())) for label, counts in grouped.items()]
    for check_id, param in row.verifiers:
        if not any(v.check_id == check_id and (param is None or v.param == param) for v in row.verifications):
            out.append((_check_label(check_id, param), "not run"))
    return out


def to_dict(coverage: Coverage) -> dict[str, Any]:
    """For summary.json: the sources, the totals per source and verb, and every requirement with its checks."""
    return {
        "sources": [{"key": s.key, "title": s.title, "document": s.document, "version": s.version, "url": s.url,
                     "licence": s.licence} for s in coverage.catalogue.sources.values()],
        "totals": [{"source": t.source, "title": t.title, "verb": t.verb, "total": t.total, "testable": t.testable,
                    "verified": t.verified, "failed": t.failed, "not_verified": t.not_verified,
                    "untestable": t.untestable, "summary": t.summary()} for t in coverage.totals],
        "counts": dict(coverage.counts()),
        "requirements": [{
            "id": r.requirement.id, "source": r.requirement.source, "verb": r.requirement.verb,
            "verb_implied": r.requirement.verb_implied, "actor": r.requirement.actor, "topic": r.requirement.topic,
            "url": r.requirement.url, "text": r.requirement.text, "testable": r.requirement.testable,
            "untestable_reason": r.requirement.reason, "status": r.status, "reason": r.reason, "warned": r.warned,
            "checks": [{"check_id": v.check_id, "param": v.param, "outcome": v.outcome} for v in r.verifications],
            "verified_by": [{"check_id": c, "param": p} for c, p in r.verifiers],
        } for r in coverage.rows],
    }


def _md(text: str) -> str:
    return _clean(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(coverage: Coverage, *, text_width: int = 140) -> str:
    """For summary.md: the totals, then one row per requirement (id linked to its section)."""
    lines = ["### Requirements coverage", "", "| Source | Verb | Verified | Failed | Not verified | Not testable |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {_md(t.title)} | {t.verb} | {t.verified} of {t.testable} | {t.failed} | {t.not_verified} | "
              f"{t.untestable} |" for t in coverage.totals]
    lines += ["", "| Requirement | Verb | Actor | Status | Checks | Text |", "|---|---|---|---|---|---|"]
    for r in coverage.rows:
        req = r.requirement
        text = req.text if len(req.text) <= text_width else req.text[:text_width - 1] + "…"
        status = STATUS_LABEL[r.status] + (f" ({_why(r)})" if _why(r) else "")
        checks = "; ".join(f"`{_md(c)}` {o}" for c, o in _checks_summary(r)) or "–"
        verb = req.verb + (" (implied)" if req.verb_implied else "")
        lines.append(f"| [{_md(req.id)}]({req.url}) | {verb} | {req.actor} | {status} | {checks} | {_md(text)} |")
    return "\n".join(lines) + "\n"


HTML_CSS = """
.requirements-coverage table{border-collapse:collapse;width:100%;margin:.5rem 0}
.requirements-coverage th,.requirements-coverage td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
.requirements-coverage th{background:#f6f8fa}.requirements-coverage .verified{color:#1a7f37}
.requirements-coverage .failed{color:#cf222e;font-weight:600}.requirements-coverage .not-verified{color:#6e7781}
.requirements-coverage small{color:#57606a}
"""


def to_html(coverage: Coverage) -> str:
    """A self-contained fragment for summary.html (its own scoped style; no script, no external asset)."""
    parts = [f'<section class="requirements-coverage"><style>{HTML_CSS}</style>',
             "<h2>Requirements coverage</h2><table><tr><th>Source</th><th>Verb</th><th>Verified</th><th>Failed</th>"
             "<th>Not verified</th><th>Not testable</th></tr>"]
    for t in coverage.totals:
        source = coverage.catalogue.sources[t.source]
        parts.append(f'<tr><td><a href="{escape(source.url)}">{escape(t.title)}</a> <small>{escape(source.version)}'
                     f"</small></td><td>{escape(t.verb)}</td><td>{t.verified} of {t.testable}</td><td>{t.failed}</td>"
                     f"<td>{t.not_verified}</td><td>{t.untestable}</td></tr>")
    parts.append("</table><table><tr><th>Requirement</th><th>Status</th><th>Checks on this tenant</th></tr>")
    for r in coverage.rows:
        req = r.requirement
        checks = "<br>".join(f"<code>{escape(_clean(c))}</code> {escape(o)}" for c, o in _checks_summary(r)) or "&ndash;"
        why = f"<br><small>{escape(_why(r))}</small>" if _why(r) else ""
        untestable = f"<br><small>{escape(req.reason)}</small>" if req.reason else ""
        verb = escape(req.verb) + (" <small>(implied)</small>" if req.verb_implied else "")
        parts.append(
            f'<tr id="{escape(anchor_of(req.id))}"><td><a href="{escape(req.url)}"><code>{escape(req.id)}</code></a> '
            f"<b>{verb}</b> <small>{escape(req.actor)} · {escape(req.topic)}</small><br>{escape(req.text)}</td>"
            f'<td class="{r.status}">{STATUS_LABEL[r.status]}{why}{untestable}</td><td>{checks}</td></tr>')
    parts.append("</table></section>")
    return "".join(parts)


def to_text(coverage: Coverage, *, width: int = 110, details: bool = False) -> str:
    """For the terminal: the totals per source and verb (and, with ``details``, every requirement), no colour."""
    from rich.console import Console
    from rich.markup import escape as rich_escape
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, highlight=False,
                      emoji=False)
    table = Table(title="Requirements coverage", show_lines=False)
    for name in ("Source", "Verb", "Verified", "Failed", "Not verified", "Not testable"):
        table.add_column(name, overflow="fold")
    for t in coverage.totals:
        table.add_row(rich_escape(_clean(t.title)), t.verb, f"{t.verified} of {t.testable}", str(t.failed),
                      str(t.not_verified), str(t.untestable))
    console.print(table)
    if details:
        rows = Table(show_lines=False)
        for name in ("Requirement", "Verb", "Status", "Checks"):
            rows.add_column(name, overflow="fold")
        for r in coverage.rows:
            status = STATUS_LABEL[r.status] + (f" ({_why(r)})" if _why(r) else "")
            checks = "; ".join(f"{_clean(c)} {o}" for c, o in _checks_summary(r)) or "-"
            rows.add_row(rich_escape(_clean(r.requirement.id)), r.requirement.verb, status, rich_escape(checks))
        console.print(rows)
    return buffer.getvalue()
