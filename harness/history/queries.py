"""The questions people ask of the history: which runs, one tenant's timeline, every change since a
date, availability and response times per tenant over a window."""

from __future__ import annotations

import difflib
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, func, select

from harness.fleet.baseline import compare as fleet_compare
from harness.history import load, schema
from harness.history.changes import (
    EXPIRY_WARNING_DAYS,
    HistoryChange,
    days_left,
    fleet_changes,
    tenant_run_changes,
    tls_changes,
)
from harness.history.errors import HistoryError
from harness.history.extract import ACCEPTED

_RELATIVE = re.compile(r"^(\d+)\s*([dhw])$")
#: the TLS columns availability reports, from the newest run that had TLS facts
KNOWN_TLS = ("tls_version", "tls1_0", "tls1_1", "certificate_issuer", "certificate_not_after")
LEGACY_LABELS = (("tls1_0", "TLS 1.0"), ("tls1_1", "TLS 1.1"))


def parse_when(text: str, *, now: datetime | None = None) -> str:
    """``YYYY-MM-DD``, an ISO 8601 time, or ``7d`` / ``12h`` / ``2w`` ago, as a stored UTC time."""
    from harness.history.extract import utc

    value = text.strip()
    relative = _RELATIVE.match(value.lower())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        delta = {"d": timedelta(days=amount), "h": timedelta(hours=amount), "w": timedelta(weeks=amount)}[unit]
        return ((now or datetime.now(timezone.utc)) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")
    moment = utc(value)
    if moment is None:
        raise HistoryError(f"{text!r} is not a date: give YYYY-MM-DD, an ISO 8601 time, or 7d / 12h / 2w ago")
    return moment


def window_start(window: str, *, until: str | None = None) -> str:
    """The start of a window such as ``30d`` ending at ``until`` (default now)."""
    relative = _RELATIVE.match(window.strip().lower())
    if not relative:
        raise HistoryError(f"{window!r} is not a window: give 30d, 12h or 2w")
    end = (datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) if until
           else datetime.now(timezone.utc))
    return parse_when(window, now=end)


def list_runs(conn: Connection, *, kind: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs, newest first: id, kind, time, tenant or endpoint directory, release, gate, figures."""
    out = []
    for r in load.runs(conn, kind=kind, limit=limit):
        row = {"id": r["id"], "kind": r["kind"], "finished": r["finished"], "harness_version": r["harness_version"],
               "api_set": r["api_set"]}
        if r["kind"] == "tenant":
            row.update(tenant=r["tenant"], environment=r["environment"], release=r["release"] or r["software_version"],
                       gate=r["gate"], counts={k: r[k] for k in ("passed", "failed", "warning", "skipped", "broken",
                                                                 "blocked", "inconclusive") if r[k] is not None})
        else:
            row.update(source=r["source"], tenants=r["tenants"], answered=r["answered"], ready=r["ready"],
                       full_coverage=r["full_coverage"], wall_s=r["wall_s"])
        out.append(row)
    return out


def count_runs(conn: Connection) -> dict[str, int]:
    query = select(schema.runs.c.kind, func.count()).group_by(schema.runs.c.kind)
    return {kind: n for kind, n in conn.execute(query)}


@dataclass
class TenantMatch:
    """Who ``--tenant NAME`` names: tenant runs by that name, and fleet addresses by that name or address."""

    query: str
    tenant_runs: str | None = None
    fleet_keys: dict[str, str | None] = field(default_factory=dict)


def find_tenant(conn: Connection, name: str) -> TenantMatch:
    """Exact matches (case-insensitive) of a tenant run's name, a fleet tenant's name, key or address; else
    the one tenant whose name or address contains ``name``; else an error suggesting the nearest names."""
    wanted = name.strip().casefold()
    runs = load.tenant_names(conn)
    fleet = load.fleet_names(conn)
    match = TenantMatch(name)
    match.tenant_runs = next((t for t in runs if t.casefold() == wanted), None)
    match.fleet_keys = {k: n for k, n in fleet.items()
                        if k.casefold() == wanted or (n or "").casefold() == wanted
                        or k.casefold().rstrip("/") == wanted.rstrip("/")}
    if match.tenant_runs or match.fleet_keys:
        return match
    partial_runs = [t for t in runs if wanted in t.casefold()]
    partial_fleet = {k: n for k, n in fleet.items() if wanted in k.casefold() or wanted in (n or "").casefold()}
    if len(partial_runs) + len({n or k for k, n in partial_fleet.items()}) == 1:
        match.tenant_runs = partial_runs[0] if partial_runs else None
        match.fleet_keys = partial_fleet
        return match
    candidates = runs + sorted({n for n in fleet.values() if n})
    near = difflib.get_close_matches(name, candidates, n=5, cutoff=0.5) or \
        sorted(set(partial_runs) | {n or k for k, n in partial_fleet.items()})[:5]
    hint = f"; did you mean: {', '.join(near)}" if near else ""
    if partial_runs or partial_fleet:
        raise HistoryError(f"{name!r} matches several tenants{hint}")
    raise HistoryError(f"no tenant named {name!r} in the history{hint}")


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 4)


def availability(conn: Connection, *, since: str | None = None, until: str | None = None,
                 keys: list[str] | None = None) -> list[dict[str, Any]]:
    """Per fleet address over the fleet runs finished in [since, until]: runs seen; availability % (runs in
    which its CapabilityStatement answered, as ONC's Lantern counts it); both-documents % (the
    smart-configuration answered too: what a backend app needs); median and 90th percentile response time
    of each document when it answered; newest release and status; the TLS facts of the newest run that
    had any (``tls_version``, ``tls1_0``, ``tls1_1``, ``certificate_issuer``, ``certificate_not_after``),
    ``certificate_days_left`` and ``certificate_expires_soon`` counted from now (as the fleet counts them
    from its run), ``legacy_tls`` the retired versions still accepted. Lowest availability first;
    malformed addresses left out."""
    heads = [h["id"] for h in load.runs(conn, kind="fleet", since=since, until=until)]
    rows = load.fleet_tenant_rows(conn, heads, keys=keys)
    per: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["status"] == "malformed-address":
            continue
        entry = per.setdefault(r["key"], {"key": r["key"], "runs": 0, "statement": 0, "both": 0, "metadata_s": [],
                                          "smart_s": []})
        entry["runs"] += 1
        entry["statement"] += r["metadata_outcome"] == "ok"
        entry["both"] += r["status"] == "ok"
        if r["metadata_outcome"] == "ok" and r["metadata_s"] is not None:
            entry["metadata_s"].append(r["metadata_s"])
        if r["smart_outcome"] == "ok" and r["smart_s"] is not None:
            entry["smart_s"].append(r["smart_s"])
        entry.update(name=r["name"], url=r["url"], release=r["release"] or entry.get("release"),
                     status=r["status"], failure=r["failure"], last_seen=r["finished"])
        # the TLS facts of the newest run that had any (a run in which the tenant did not answer has none)
        if any(r[column] is not None for column in load.TLS_COLUMNS) or "tls_version" not in entry:
            entry.update({column: r[column] for column in KNOWN_TLS})
    out = []
    for entry in per.values():
        md, sc = entry.pop("metadata_s"), entry.pop("smart_s")
        entry["availability_pct"] = round(100.0 * entry["statement"] / entry["runs"], 1)
        entry["both_pct"] = round(100.0 * entry["both"] / entry["runs"], 1)
        entry["metadata_median_s"], entry["metadata_p90_s"] = _median(md), _percentile(md, 0.9)
        entry["smart_median_s"], entry["smart_p90_s"] = _median(sc), _percentile(sc, 0.9)
        left = days_left(entry["certificate_not_after"])
        entry["certificate_days_left"] = left
        entry["certificate_expires_soon"] = left is not None and left < EXPIRY_WARNING_DAYS
        entry["legacy_tls"] = [label for column, label in LEGACY_LABELS if entry[column] == ACCEPTED]
        out.append(entry)
    out.sort(key=lambda e: (e["availability_pct"], e["both_pct"], -(e["metadata_median_s"] or 0), e["name"] or "",
                            e["key"]))
    return out


def changes_since(conn: Connection, since: str | None) -> list[HistoryChange]:
    """Every change, across tenants (fleet and tenant runs), in runs finished at ``since`` or after; oldest first."""
    out = fleet_changes(conn, since=since) + tenant_run_changes(conn, since=since)
    out.sort(key=lambda c: (c.at, c.run_id, c.tenant))
    return out


def tenant_timeline(conn: Connection, match: TenantMatch, *, window: str = "30d") -> dict[str, Any]:
    """One tenant's history: its own runs (gate, release, counts) and fleet observations (status, release,
    declared coverage, response times), each with what changed since the one before; availability over
    ``window`` ending at its newest observation."""
    result: dict[str, Any] = {"query": match.query, "tenant_runs": [], "fleet": []}
    if match.tenant_runs:
        changes = tenant_run_changes(conn, tenant=match.tenant_runs)
        by_run: dict[int, list[HistoryChange]] = {}
        for c in changes:
            by_run.setdefault(c.run_id, []).append(c)
        for r in load.runs(conn, kind="tenant", tenant=match.tenant_runs, newest_first=False):
            result["tenant_runs"].append({
                "id": r["id"], "finished": r["finished"], "tenant": r["tenant"], "environment": r["environment"],
                "release": r["release"] or r["software_version"], "gate": r["gate"],
                "counts": {k: r[k] for k in ("passed", "failed", "warning", "skipped", "broken", "blocked",
                                             "inconclusive") if r[k] is not None},
                "changes": [c.as_dict() for c in by_run.get(r["id"], [])]})
    heads = [h["id"] for h in load.runs(conn, kind="fleet", newest_first=False)] if match.fleet_keys else []
    for key, name in match.fleet_keys.items():
        rows = load.fleet_tenant_rows(conn, heads, keys=[key])
        observations = []
        previous = None
        for r in rows:
            now = load.tenant_as_fleet_json(r)
            moved = []
            if previous is not None:

                requested = load.requested(conn, [previous[0], r["run_id"]])
                before_run = {"apis": {"requested": requested.get(previous[0], [])}, "tenants": [previous[1]]}
                after_run = {"apis": {"requested": requested.get(r["run_id"], [])}, "tenants": [now]}
                moved = [{"kind": c.kind, "detail": c.detail} for c in fleet_compare(before_run, after_run)]
                moved += [{"kind": k, "detail": d} for k, d, _, _ in tls_changes(previous[1], now)]
            observations.append({
                "run_id": r["run_id"], "finished": r["finished"], "status": r["status"], "failure": r["failure"],
                "release": r["release"], "declared": r["declared"], "judged": r["judged"],
                "missing": sorted(r["missing"]), "ready": r["ready"], "metadata_s": r["metadata_s"],
                "smart_s": r["smart_s"], "tls": now["tls"], "changes": moved})
            previous = (r["run_id"], now)
        last = observations[-1]["finished"] if observations else None
        stats = availability(conn, since=window_start(window, until=last) if last else None, until=last, keys=[key])
        result["fleet"].append({"key": key, "name": name, "observations": observations,
                                "availability": stats[0] if stats else None, "window": window})
    return result
