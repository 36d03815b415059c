"""The history at a terminal: rich tables whose cells are plain text (a tenant's name is never read as
markup) with control characters stripped."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.history.changes import HistoryChange, days_text
from harness.history.forecast import Forecast
from harness.history.text import shown


def console(stream: Any = None) -> Console:
    stream = stream or sys.stdout
    tty = bool(getattr(stream, "isatty", lambda: False)())
    return Console(file=stream, highlight=False, markup=False, emoji=False, soft_wrap=False,
                   width=None if tty else 160, no_color=not tty)


def _t(value: Any, limit: int = 120, style: str = "") -> Text:
    return Text(shown(value, limit), style=style)


def _table(title: str, columns: Sequence[str], right: Sequence[str] = ()) -> Table:
    table = Table(title=Text(title), title_justify="left", box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(Text(column), justify="right" if column in right else "left", overflow="fold")
    return table


_GATE_STYLE = {"passed": "green", "failed": "bold red", "error": "bold red", "incomplete": "yellow"}


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "-"


def print_runs(out: Console, rows: list[dict[str, Any]], totals: dict[str, int], label: str) -> None:
    table = _table(f"{label}: {totals.get('tenant', 0)} tenant runs, {totals.get('fleet', 0)} fleet runs "
                   f"(newest {len(rows)})", ("id", "finished", "kind", "tenant / directory", "release", "gate / fleet",
                                             "figures"), right=("id",))
    for r in rows:
        if r["kind"] == "tenant":
            table.add_row(_t(r["id"]), _t(r["finished"]), _t("tenant"), _t(r["tenant"], 50), _t(r["release"]),
                          _t(r["gate"], style=_GATE_STYLE.get(r["gate"] or "", "")), _t(_counts(r["counts"])))
        else:
            figures = (f"{r['answered']}/{r['tenants']} answering, {r['ready']} ready, "
                       f"{r['full_coverage']} full coverage")
            table.add_row(_t(r["id"]), _t(r["finished"]), _t("fleet"), _t(r["source"], 50), _t(""),
                          _t(r["api_set"]), _t(figures))
    out.print(table)


def print_changes(out: Console, changes: list[HistoryChange], since: str | None) -> None:
    title = f"{len(changes)} change(s)" + (f" since {since}" if since else "")
    table = _table(title, ("at", "tenant", "change", "detail"))
    for c in changes:
        style = "red" if c.kind in ("stopped-answering", "apis-lost", "document-stopped", "release-downgraded") \
            or (c.kind == "gate-changed" and c.after != "passed") else ""
        table.add_row(_t(c.at), _t(c.tenant, 40), _t(c.kind, style=style), _t(c.detail, 140))
    out.print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_availability(out: Console, rows: list[dict[str, Any]], window: str, limit: int | None = None) -> None:
    shown_rows = rows[:limit] if limit else rows
    table = _table(f"Availability over {window}: {len(rows)} addresses"
                   + (f" (the {len(shown_rows)} least available)" if len(shown_rows) < len(rows) else ""),
                   ("tenant", "runs", "available", "both docs", "metadata median s", "smart-config median s",
                    "release", "TLS", "certificate"),
                   right=("runs", "available", "both docs", "metadata median s", "smart-config median s"))
    for r in shown_rows:
        tls = r["tls_version"] or "-"
        legacy = r["legacy_tls"]
        if legacy:
            tls += f" (accepts {', '.join(legacy)})"
        cert = days_text(r["certificate_days_left"])
        table.add_row(_t(r["name"] or r["key"], 40), _t(r["runs"]),
                      _t(_pct(r["availability_pct"]), style="red" if r["availability_pct"] < 100 else ""),
                      _t(_pct(r["both_pct"])), _t(_s(r["metadata_median_s"])), _t(_s(r["smart_median_s"])),
                      _t(r["release"]), _t(tls, style="yellow" if legacy else ""),
                      _t(cert, style="bold red" if r["certificate_expires_soon"] else ""))
    out.print(table)


def print_timeline(out: Console, timeline: dict[str, Any]) -> None:
    if timeline["tenant_runs"]:
        first = timeline["tenant_runs"][0]
        table = _table(f"Runs of {shown(first['tenant'])} ({len(timeline['tenant_runs'])})",
                       ("id", "finished", "release", "gate", "checks", "what changed"), right=("id",))
        for r in timeline["tenant_runs"]:
            moved = "; ".join(c["detail"] for c in r["changes"]) or ("first run" if r is first else "-")
            table.add_row(_t(r["id"]), _t(r["finished"]), _t(r["release"]),
                          _t(r["gate"], style=_GATE_STYLE.get(r["gate"] or "", "")), _t(_counts(r["counts"])),
                          _t(moved, 300))
        out.print(table)
    for fleet in timeline["fleet"]:
        table = _table(f"Fleet observations of {shown(fleet['name'] or fleet['key'])} ({shown(fleet['key'], 200)})",
                       ("run", "finished", "status", "release", "declared", "metadata s", "what changed"),
                       right=("run", "declared", "metadata s"))
        for i, o in enumerate(fleet["observations"]):
            status = o["status"] + (f" ({o['failure']})" if o["failure"] else "")
            declared = f"{o['declared']}/{o['judged']}" if o["judged"] is not None else "-"
            moved = "; ".join(f"{c['kind']}: {c['detail']}" for c in o["changes"]) or ("first seen" if i == 0 else "-")
            table.add_row(_t(o["run_id"]), _t(o["finished"]), _t(status, style="" if o["status"] == "ok" else "yellow"),
                          _t(o["release"]), _t(declared), _t(_s(o["metadata_s"])), _t(moved, 300))
        out.print(table)
        if fleet["availability"]:
            print_availability(out, [fleet["availability"]], fleet["window"])


def print_forecast(out: Console, f: Forecast) -> None:
    out.print(Text(f"Forecast for {shown(f.tenant)}: {f.current} -> {f.target} ({f.basis})", style="bold"))
    out.print(Text(f"{f.tenants_current} tenant(s) seen on {f.current}, {f.tenants_target} on {f.target}; "
                   f"{f.upgrades_seen} seen upgrading from one to the other; {f.requested} requested APIs"))
    for note in f.notes:
        out.print(Text(f"note: {note}", style="yellow"))
    if not f.differs:
        out.print(Text(f"no requested API's declared support differs between tenants on {f.current} and on "
                       f"{f.target}"))
    else:
        table = _table(f"{len(f.differs)} requested API(s) whose declared support differs",
                       ("API", f"on {f.current}", f"on {f.target}", "upgrades seen", "this tenant", "forecast"),
                       right=(f"on {f.current}", f"on {f.target}"))
        for d in f.differs:
            upgrades = (f"{d.upgrades_lost} lost, {d.upgrades_gained} gained of {d.upgrades_judged}"
                        if d.upgrades_judged else "-")
            mine = {True: "declares", False: "does not declare", None: "-"}[d.tenant_declares]
            style = "bold red" if d.verdict.startswith("at risk") else "green" if d.verdict.startswith("may") else ""
            table.add_row(_t(d.api, 80), _t(f"{d.current_declared}/{d.current_judged}"),
                          _t(f"{d.target_declared}/{d.target_judged}"), _t(upgrades), _t(mine),
                          _t(d.verdict, style=style))
        out.print(table)
    if f.not_judged_on_target:
        out.print(Text(f"not judged on {f.target} (no tenant there has their FHIR version): "
                       + ", ".join(f.not_judged_on_target)))
