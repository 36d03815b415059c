"""``history.html``, self-contained (no script, no external font, image or request; a Content Security
Policy forbids any), and a fleet-over-time fragment that ``fleet.html`` can include."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from harness.history import charts, load, queries
from harness.history.changes import EXPIRY_WARNING_DAYS, HistoryChange, days_text, fleet_series
from harness.history.errors import HistoryError
from harness.history.forecast import observations
from harness.history.store import History, open_history
from harness.history.text import shown

MAX_RUNS = 60
MAX_BARS = 25
MAX_GRID = 40
MAX_CHANGES = 200
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
CHANGE_GROUPS = (
    ("release upgrades", ("release-upgraded", "release-downgraded", "release-changed")),
    ("stopped answering", ("stopped-answering", "document-stopped")),
    ("answering again", ("started-answering", "document-started")),
    ("APIs lost", ("apis-lost",)),
    ("APIs gained", ("apis-gained",)),
    ("TLS and certificates", ("tls-version-changed", "legacy-tls-changed", "certificate-changed")),
    ("tenant runs", ("gate-changed", "api-changed", "checks-changed")),
)
GROUP_COLOURS = {"release upgrades": "#2e75b6", "stopped answering": "#c62828", "answering again": "#2e7d32",
                 "APIs lost": "#c55a11", "APIs gained": "#70ad47", "TLS and certificates": "#7030a0",
                 "tenant runs": "#bf9000", "other": "#9e9e9e"}
CSS = """
.eh{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d1d1d;line-height:1.4}
.eh h1{font-size:1.6em;margin:.2em 0}.eh h2{font-size:1.2em;margin:1.4em 0 .3em;border-bottom:1px solid #ddd}
.eh .muted{color:#666;font-size:.9em}.eh .stats{display:flex;flex-wrap:wrap;gap:.6em;margin:.8em 0}
.eh .stat{border:1px solid #ddd;border-radius:6px;padding:.4em .8em;min-width:8em}
.eh .stat b{display:block;font-size:1.4em}.eh .warn b{color:#c62828}
.eh table{border-collapse:collapse;font-size:.85em;margin:.4em 0}
.eh th,.eh td{border-bottom:1px solid #eee;padding:.2em .6em;text-align:left;vertical-align:top}
.eh th{background:#f6f6f6}.eh td.num{text-align:right}.eh .bad{color:#c62828}.eh .good{color:#2e7d32}
.eh figure{margin:.4em 0 1em}.eh figcaption{font-size:.85em;color:#555}.eh td.when,.eh td.kind{white-space:nowrap}
"""


def _e(value: object, limit: int = 200) -> str:
    return escape(shown(value, limit), quote=True)


def _day(moment: str | None) -> str:
    return (moment or "")[:10]


def _when(moment: str | None) -> str:
    return f"{moment[:10]} {moment[11:16]}" if moment and len(moment) >= 16 else (moment or "")


def _label(moment: str) -> str:
    return moment[5:10] if moment else ""


def release_colours(labels: list[str]) -> dict[str, str]:
    from harness.fleet.release import parse_release

    ordered = sorted(labels, key=lambda r: (parse_release(r) is None, [-x for x in (
        (parse_release(r).year, parse_release(r).month) if parse_release(r) else (0, 0))]))
    colours = {label: charts.PALETTE[min(i, len(charts.PALETTE) - 1)] for i, label in enumerate(ordered)}
    colours["no statement"] = charts.GREY
    return colours


def _series_runs(conn: Connection, since: str | None) -> list[dict[str, Any]]:
    """The fleet runs of the newest run's series (same directory and API set) in the window, oldest first."""
    heads = load.runs(conn, kind="fleet", since=since)
    if not heads:
        return []
    series = fleet_series(heads[0])
    chosen = [h for h in heads if fleet_series(h) == series][:MAX_RUNS]
    return list(reversed(chosen))


def _releases_over_time(rows_by_run: dict[int, list[dict[str, Any]]], heads: list[dict[str, Any]]) -> str:
    columns, labels = [], set()
    for head in heads:
        counts: Counter[str] = Counter()
        for r in rows_by_run.get(head["id"], []):
            if r["status"] == "malformed-address":
                continue
            counts[r["release"] if r["metadata_outcome"] == "ok" and r["release"] else "no statement"] += 1
        labels |= set(counts)
        columns.append((head["finished"], counts))
    colours = release_colours([label for label in labels if label != "no statement"])
    order = sorted(labels, key=lambda lab: list(colours).index(lab) if lab in colours else 99)
    data = [(_label(at), [(label, counts[label]) for label in order if counts[label]]) for at, counts in columns]
    return charts.stacked_columns(data, colours, "Tenants per Epic release, per fleet run")


def _availability(rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Bars for the least available addresses that answered at least once; and those that never did."""
    never = [r for r in rows if r["statement"] == 0 and r["both"] == 0 and r["status"] == "failed"]
    some = [r for r in rows if r not in never]
    bars = [(r["name"] or r["key"], r["availability_pct"], f"({r['statement']}/{r['runs']} runs)",
             "#2e7d32" if r["availability_pct"] >= 100 else "#f9a825" if r["availability_pct"] >= 90 else "#c62828")
            for r in some[:MAX_BARS]]
    return charts.horizontal_bars(bars, "Availability per tenant: share of fleet runs its CapabilityStatement "
                                        "answered"), never


def _status_grid(rows_by_run: dict[int, list[dict[str, Any]]], heads: list[dict[str, Any]],
                 avail: list[dict[str, Any]]) -> tuple[str, int]:
    per_key: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for head in heads:
        for r in rows_by_run.get(head["id"], []):
            per_key[r["key"]][head["id"]] = r
    varied = [a for a in avail if len({(per_key[a["key"]].get(h["id"]) or {}).get("status") for h in heads}) > 1
              or 0 < a["availability_pct"] < 100]
    chosen = varied[:MAX_GRID]
    grid_rows = []
    for a in chosen:
        cells = []
        for head in heads:
            r = per_key[a["key"]].get(head["id"])
            state = r["status"] if r else None
            tip = f"{_day(head['finished'])}: " + (f"{state}" + (f" ({r['failure']})" if r and r["failure"] else "")
                                                   + (f", {r['release']}" if r and r["release"] else "")
                                                   if r else "not in this run")
            cells.append((state, tip))
        grid_rows.append((a["name"] or a["key"], cells))
    svg = charts.grid(grid_rows, [_label(h["finished"]) for h in heads], charts.STATUS_COLOURS,
                      "Status per tenant and fleet run (green both documents, amber one, red none)")
    return svg, len(varied)


def _coverage_per_release(conn: Connection, since: str | None) -> tuple[str, str]:
    obs, _ = observations(conn, since=since)
    per: dict[str, list[Any]] = defaultdict(list)
    for o in obs:
        per[str(o.release)].append(o)
    colours = release_colours(list(per))
    order = [label for label in colours if label in per]
    bars = []
    for label in order:
        members = [o for o in per[label] if o.judged]
        if not members:
            continue
        share = 100.0 * statistics.mean(len(o.declared) / len(o.judged) for o in members)
        full = sum(1 for o in members if o.declared == o.judged)
        bars.append((f"{label} ({len(members)} tenants)", round(share, 1), f"{full} full", colours[label]))
    svg = charts.horizontal_bars(bars, "Requested APIs declared, mean share per tenant, per Epic release")
    apis: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for label in order:
        for api in sorted(set().union(*[o.judged for o in per[label]])):
            judged = [o for o in per[label] if api in o.judged]
            apis[api][label] = (sum(1 for o in judged if api in o.declared), len(judged))
    varying = [api for api, cells in apis.items()
               if len({round(d / n, 3) for d, n in cells.values() if n}) > 1][:20]
    if not varying:
        return svg, "<p class=muted>Every requested API is declared alike on every release seen.</p>"
    head = "".join(f"<th>{_e(label)}</th>" for label in order)
    body = []
    for api in varying:
        cells = []
        for label in order:
            d, n = apis[api].get(label, (0, 0))
            if not n:
                cells.append("<td class=muted>-</td>")
                continue
            share = d / n
            colour = f"hsl({int(120 * share)},65%,{82 + int(8 * share)}%)"
            cells.append(f'<td class=num style="background:{colour}">{d}/{n}</td>')
        body.append(f"<tr><td>{_e(api)}</td>{''.join(cells)}</tr>")
    table = (f"<p class=muted>Requested APIs whose declared share differs between releases (declaring / judged "
             f"tenants):</p><table><tr><th>API</th>{head}</tr>{''.join(body)}</table>")
    return svg, table


def _response_times(rows_by_run: dict[int, list[dict[str, Any]]], heads: list[dict[str, Any]]) -> tuple[str, str]:
    colours = {"metadata": "#2e75b6", "smart-configuration": "#c55a11"}
    latest = rows_by_run.get(heads[-1]["id"], [])
    hist = charts.histogram(
        {"metadata": [r["metadata_s"] for r in latest if r["metadata_outcome"] == "ok" and r["metadata_s"] is not None],
         "smart-configuration": [r["smart_s"] for r in latest
                                 if r["smart_outcome"] == "ok" and r["smart_s"] is not None]},
        colours, f"Response times in the newest fleet run ({_day(heads[-1]['finished'])})")
    medians: dict[str, list[float | None]] = {"metadata": [], "smart-configuration": []}
    for head in heads:
        rows = rows_by_run.get(head["id"], [])
        md = [r["metadata_s"] for r in rows if r["metadata_outcome"] == "ok" and r["metadata_s"] is not None]
        sc = [r["smart_s"] for r in rows if r["smart_outcome"] == "ok" and r["smart_s"] is not None]
        medians["metadata"].append(round(statistics.median(md), 4) if md else None)
        medians["smart-configuration"].append(round(statistics.median(sc), 4) if sc else None)
    line = charts.lines([_label(h["finished"]) for h in heads], medians, colours,
                        "Median response time per fleet run", unit=" s")
    return hist, line


def _group(kind: str) -> str:
    return next((name for name, kinds in CHANGE_GROUPS if kind in kinds), "other")


def _changes(changes: list[HistoryChange], limit: int = MAX_CHANGES) -> tuple[str, str]:
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for c in changes:
        if c.kind not in ("shape-changed",):
            per_day[_day(c.at)][_group(c.kind)] += 1
    days = sorted(per_day)
    order = [name for name, _ in CHANGE_GROUPS] + ["other"]
    data = [(d[5:], [(g, per_day[d][g]) for g in order if per_day[d][g]]) for d in days]
    svg = charts.stacked_columns(data, GROUP_COLOURS, "Changes per day", height=200) if data else ""
    rows = []
    newest_first = sorted(changes, key=lambda c: (c.tenant or "", c.kind))
    newest_first.sort(key=lambda c: c.at, reverse=True)
    for c in newest_first[:limit]:
        css = " class='kind bad'" if _group(c.kind) in ("stopped answering", "APIs lost") or \
            (c.kind == "gate-changed" and c.after != "passed") else " class=kind"
        rows.append(f"<tr><td class=when>{_e(_when(c.at))}</td><td>{_e(c.tenant, 80)}</td><td{css}>{_e(c.kind)}</td>"
                    f"<td>{_e(c.detail, 400)}</td></tr>")
    more = (f"<p class=muted>... and {len(changes) - limit} older changes "
            f"(<code>epic-harness history --since DATE</code> lists them all)</p>" if len(changes) > limit else "")
    table = ("<table><tr><th>When</th><th>Tenant</th><th>Change</th><th>Detail</th></tr>" + "".join(rows)
             + "</table>" + more) if rows else "<p class=muted>No change in this window.</p>"
    return svg, table


def _tenant_runs(conn: Connection, since: str | None) -> str:
    heads = load.runs(conn, kind="tenant", since=since, newest_first=False)
    if not heads:
        return ""
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for h in heads:
        per[h["tenant"]].append(h)
    width = max(len(v) for v in per.values())
    grid_rows = [(name, [(r["gate"], f"run {r['id']} {_day(r['finished'])}: gate {r['gate']}, "
                          f"{r['release'] or r['software_version'] or 'release unknown'}") for r in runs])
                 for name, runs in sorted(per.items())]
    svg = charts.grid(grid_rows, [str(i + 1) for i in range(width)], charts.GATE_COLOURS,
                      "Gate per tenant run (green passed, amber incomplete, red failed, purple error)")
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td class=num>{len(runs)}</td><td>{_e(runs[-1]['gate'])}</td>"
        f"<td>{_e(runs[-1]['release'] or runs[-1]['software_version'])}</td><td>{_e(runs[-1]['finished'])}</td>"
        f"<td>{_e(runs[-1]['environment'])}</td></tr>" for name, runs in sorted(per.items()))
    return (f"<h2>Tenant runs</h2><figure>{svg}</figure><table><tr><th>Tenant</th><th>Runs</th><th>Latest gate</th>"
            f"<th>Release</th><th>Latest run</th><th>Environment</th></tr>{rows}</table>")


def _fleet_parts(conn: Connection, since: str | None, window: str) -> dict[str, Any]:
    heads = _series_runs(conn, since)
    if not heads:
        return {}
    rows = load.fleet_tenant_rows(conn, [h["id"] for h in heads])
    rows_by_run: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        rows_by_run[r["run_id"]].append(r)
    avail = queries.availability(conn, since=heads[0]["finished"], until=heads[-1]["finished"])
    grid, varied = _status_grid(rows_by_run, heads, avail)
    hist, line = _response_times(rows_by_run, heads)
    bars, never = _availability(avail)
    return {"heads": heads, "avail": avail, "releases": _releases_over_time(rows_by_run, heads),
            "availability": bars, "never": never, "grid": grid, "varied": varied, "histogram": hist, "medians": line}


def _fleet_html(parts: dict[str, Any], *, level: int = 2) -> list[str]:
    h = f"h{level}"
    heads, avail = parts["heads"], parts["avail"]
    full = sum(1 for a in avail if a["availability_pct"] >= 100)
    never = parts["never"]
    never_line = (f"<p class=muted>Never answered in the window ({len(never)}): "
                  + ", ".join(f"{_e(a['name'] or a['key'], 60)} ({_e(a['failure'])})" for a in never[:30])
                  + (" ..." if len(never) > 30 else "") + "</p>") if never else ""
    return [
        f"<{h}>Tenants per Epic release over time</{h}>",
        f"<figure>{parts['releases']}<figcaption>{len(heads)} fleet runs of {_e(heads[-1]['source'])} "
        f"({_e(heads[-1]['api_set'])}), {_day(heads[0]['finished'])} to {_day(heads[-1]['finished'])}; grey: no "
        f"CapabilityStatement read.</figcaption></figure>",
        f"<{h}>Availability per tenant</{h}>",
        f"<p class=muted>{len(avail)} addresses; {full} answered every run; {len(never)} never did. The least "
        f"available of the others:</p><figure>{parts['availability']}</figure>{never_line}",
        f"<figure>{parts['grid']}<figcaption>{parts['varied']} tenants whose status changed or that missed a run"
        f"{f' (the first {MAX_GRID})' if parts['varied'] > MAX_GRID else ''}.</figcaption></figure>",
        f"<{h}>Response times</{h}>",
        f"<figure>{parts['histogram']}</figure><figure>{parts['medians']}</figure>",
    ]


def _cards(conn: Connection, avail: list[dict[str, Any]], changes: list[HistoryChange]) -> str:
    totals = queries.count_runs(conn)
    expiring = sum(1 for a in avail if a["certificate_expires_soon"])
    legacy = sum(1 for a in avail if a["legacy_tls"])
    down = sum(1 for a in avail if a["status"] == "failed")
    cards = [("fleet runs", totals.get("fleet", 0), False), ("tenant runs", totals.get("tenant", 0), False),
             ("addresses watched", len(avail), False), ("not answering now", down, down > 0),
             ("changes in the window", len(changes), False),
             (f"certificates expiring within {EXPIRY_WARNING_DAYS} days", expiring, expiring > 0),
             ("accepting TLS 1.0 or 1.1", legacy, legacy > 0)]
    return '<div class="stats">' + "".join(
        f'<div class="stat{" warn" if warn else ""}"><b>{value}</b>{_e(label)}</div>' for label, value, warn in cards) \
        + "</div>"


def _expiring(avail: list[dict[str, Any]]) -> str:
    soon = sorted((a for a in avail if a["certificate_expires_soon"]), key=lambda a: a["certificate_days_left"])
    legacy = [a for a in avail if a["legacy_tls"]]
    if not soon and not legacy:
        return ""
    rows = "".join(f"<tr><td>{_e(a['name'] or a['key'])}</td><td class=bad>"
                   f"{_e(days_text(a['certificate_days_left']))}</td><td>{_e(_day(a['certificate_not_after']))}</td>"
                   f"<td>{_e(a['certificate_issuer'])}</td></tr>" for a in soon)
    out = ["<h2>TLS and certificates</h2>"]
    if soon:
        out.append(f"<table><tr><th>Tenant</th><th>Certificate</th><th>Expiry</th><th>Issuer</th></tr>{rows}</table>")
    if legacy:
        items = ", ".join(f"{_e(a['name'] or a['key'])} ({_e(', '.join(a['legacy_tls']))})" for a in legacy)
        out.append(f"<p>Still accepting a retired TLS version: {items}</p>")
    return "".join(out)


def render_history_html(conn: Connection, *, label: str, window: str = "90d", now: str | None = None) -> str:
    """The whole ``history.html`` for the runs finished in the last ``window``."""
    newest = load.runs(conn, limit=1)
    if not newest:
        raise HistoryError(f"{label}: the history holds no run yet")
    until = now or newest[0]["finished"]
    since = queries.window_start(window, until=until)
    parts = _fleet_parts(conn, since, window)
    changes = queries.changes_since(conn, since)
    chart, table = _changes(changes)
    out = ["<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
           f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
           "<meta name=viewport content='width=device-width,initial-scale=1'>",
           f"<title>Epic history</title><style>{CSS}</style></head><body class=eh>",
           "<h1>Epic tenants over time</h1>",
           f"<p class=muted>History {_e(label)} &middot; window {_e(window)} ending {_e(until)} "
           f"&middot; written by epic-harness</p>",
           _cards(conn, parts.get("avail", []), changes)]
    if parts:
        out += _fleet_html(parts)
        cov_svg, cov_table = _coverage_per_release(conn, since)
        out += ["<h2>Requested-API coverage per release</h2>", f"<figure>{cov_svg}</figure>", cov_table,
                _expiring(parts["avail"])]
    out += [f"<h2>Changes <span class=muted>({len(changes)})</span></h2>", f"<figure>{chart}</figure>", table,
            _tenant_runs(conn, since), "</body></html>"]
    return "\n".join(out)


def write_history_html(history: str | Path | History | None, path: str | Path, *, window: str = "90d") -> Path:
    """Write ``history.html`` for the history at ``history`` (path, URL or open history)."""
    store = open_history(history)
    try:
        with store.read() as conn:
            page = render_history_html(conn, label=store.label, window=window)
    finally:
        if store is not history:
            store.close()
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, "utf-8")
    except OSError as exc:
        raise HistoryError(f"{target}: cannot write the page ({exc.strerror or exc})") from None
    return target


def fleet_history_section(history: str | Path | History | None, *, window: str = "30d", changes: int = 30) -> str:
    """An HTML fragment for ``fleet.html``: the fleet over time (releases, availability, status, response
    times, the latest changes), with its own scoped style; "" when the history holds no fleet run."""
    store = open_history(history)
    try:
        if not store.exists():
            return ""
        with store.read() as conn:
            newest = load.runs(conn, kind="fleet", limit=1)
            if not newest:
                return ""
            since = queries.window_start(window, until=newest[0]["finished"])
            parts = _fleet_parts(conn, since, window)
            moved = queries.changes_since(conn, since)
    finally:
        if store is not history:
            store.close()
    _, table = _changes([c for c in moved if c.source == "fleet"], limit=changes)
    return "\n".join([f'<section class="eh" id="fleet-history"><style>{CSS}</style>',
                      f"<h2>The fleet over time <span class=muted>(last {_e(window)}, from "
                      f"{_e(store.label)})</span></h2>",
                      *_fleet_html(parts, level=3), "<h3>Latest changes</h3>", table, "</section>"])
