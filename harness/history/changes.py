"""What changed from one stored run to the next: per fleet (consecutive runs of one endpoint
directory and API set, judged by the fleet's own comparison, which leaves out the addresses a
``--limit`` run did not fetch, plus TLS facts) and per tenant (consecutive runs of one tenant,
judged by the drift comparison, plus the gate)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection

from harness import drift
from harness.fleet.baseline import compare as fleet_compare
from harness.history import load
from harness.history.extract import ACCEPTED, EXPIRY_WARNING_DAYS, REFUSED  # noqa: F401  (EXPIRY_WARNING_DAYS re-exported)

#: Change kinds of tenant runs (fleet kinds are those of ``harness.fleet.baseline``, plus the TLS ones).
TENANT_KINDS = ("gate-changed", "release-upgraded", "release-downgraded", "release-changed", "api-changed",
                "checks-changed")
TLS_KINDS = ("tls-version-changed", "legacy-tls-changed", "certificate-changed")
#: the answers of a TLS 1.0/1.1 probe that say something about the server
DECISIVE = (ACCEPTED, REFUSED)


@dataclass(frozen=True)
class HistoryChange:
    """One change, at the time of the run that shows it."""

    at: str
    run_id: int
    previous_run_id: int
    source: str  # fleet | tenant
    kind: str
    tenant: str
    key: str
    detail: str
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "run_id": self.run_id, "previous_run_id": self.previous_run_id, "source": self.source,
                "kind": self.kind, "tenant": self.tenant, "key": self.key, "detail": self.detail,
                "before": self.before, "after": self.after}


def tls_changes(was: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """TLS changes between two observations of one fleet tenant (``fleet.json`` tenants, ``tls`` as the fleet
    writes it): the version negotiated, TLS 1.0/1.1 accepted or refused (``unknown`` and ``not testable
    here`` are no evidence either way), the certificate's expiry and issuer. Judged only where both know."""
    out: list[tuple[str, str, Any, Any]] = []
    before, after = was.get("tls") or {}, now.get("tls") or {}
    if before.get("version") and after.get("version") and before["version"] != after["version"]:
        out.append(("tls-version-changed", f"negotiated {before['version']} -> {after['version']}",
                    before["version"], after["version"]))
    for field_name, label in (("tls1_0", "TLS 1.0"), ("tls1_1", "TLS 1.1")):
        b, a = before.get(field_name), after.get(field_name)
        if b in DECISIVE and a in DECISIVE and b != a:
            out.append(("legacy-tls-changed", f"{label} {'no longer accepted' if b == ACCEPTED else 'now accepted'}",
                        b, a))
    cert_before, cert_after = before.get("certificate") or {}, after.get("certificate") or {}
    b, a = cert_before.get("not_after"), cert_after.get("not_after")
    if b and a and b != a:
        out.append(("certificate-changed", f"certificate expiry {b[:10]} -> {a[:10]}", b, a))
    b, a = cert_before.get("issuer"), cert_after.get("issuer")
    if b and a and b != a:
        out.append(("certificate-changed", f"certificate issuer {b} -> {a}", b, a))
    return out


def fleet_series(run: dict[str, Any]) -> tuple[Any, Any]:
    """Fleet runs compared with each other: the same endpoint directory file and API set."""
    return run.get("source"), run.get("api_set")


def fleet_changes(conn: Connection, *, since: str | None = None, keys: list[str] | None = None
                  ) -> list[HistoryChange]:
    """Every change between consecutive fleet runs of a series whose later run finished at ``since``
    or after (the run before the first one in the window is the comparison's start)."""
    heads = load.runs(conn, kind="fleet", newest_first=False)
    series: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for head in heads:
        series[fleet_series(head)].append(head)
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for members in series.values():
        for before, after in zip(members, members[1:]):
            if since is None or after["finished"] >= since:
                pairs.append((before, after))
    needed = sorted({h["id"] for pair in pairs for h in pair})
    as_json = load.fleet_runs_as_json(conn, needed, keys=keys)
    out: list[HistoryChange] = []
    for before, after in pairs:
        old, new = as_json[before["id"]], as_json[after["id"]]
        for change in fleet_compare(old, new):
            out.append(HistoryChange(after["finished"], after["id"], before["id"], "fleet", change.kind,
                                     change.tenant, change.key, change.detail, change.before, change.after))
        old_tenants = {t["key"]: t for t in old["tenants"]}
        for now in new["tenants"]:
            was = old_tenants.get(now["key"])
            if was is None:
                continue
            for kind, detail, b, a in tls_changes(was, now):
                out.append(HistoryChange(after["finished"], after["id"], before["id"], "fleet", kind,
                                         now["name"] or now["key"], now["key"], detail, b, a))
    out.sort(key=lambda c: (c.at, c.run_id))
    return out


def tenant_run_changes(conn: Connection, *, since: str | None = None, tenant: str | None = None
                       ) -> list[HistoryChange]:
    """Every change between consecutive runs of each tenant (by tenant name), the later one at ``since`` or after."""
    heads = load.runs(conn, kind="tenant", tenant=tenant, newest_first=False)
    by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for head in heads:
        by_tenant[head["tenant"]].append(head)
    out: list[HistoryChange] = []
    for name, members in by_tenant.items():
        pairs = [(b, a) for b, a in zip(members, members[1:]) if since is None or a["finished"] >= since]
        cache: dict[int, dict[str, Any]] = {}
        for before, after in pairs:
            old = cache.get(before["id"]) or load.summary(conn, before["id"])
            new = load.summary(conn, after["id"])
            cache = {after["id"]: new}
            out.extend(_summary_changes(name, before, after, old, new))
    out.sort(key=lambda c: (c.at, c.run_id))
    return out


def _summary_changes(name: str, before: dict[str, Any], after: dict[str, Any], old: dict[str, Any],
                     new: dict[str, Any]) -> list[HistoryChange]:
    def change(kind: str, detail: str, b: Any = None, a: Any = None) -> HistoryChange:
        return HistoryChange(after["finished"], after["id"], before["id"], "tenant", kind, name, name, detail, b, a)

    out: list[HistoryChange] = []
    if before["gate"] != after["gate"]:
        out.append(change("gate-changed", f"gate {before['gate']} -> {after['gate']}", before["gate"], after["gate"]))
    if before["software_version"] != after["software_version"]:
        was, now = (before["release_year"], before["release_month"]), (after["release_year"], after["release_month"])
        if before["release_year"] and after["release_year"] and was != now:
            kind = "release-upgraded" if now > was else "release-downgraded"
            out.append(change(kind, f"{before['release']} -> {after['release']}", before["release"], after["release"]))
        else:
            out.append(change("release-changed", f"software.version {before['software_version']!r} -> "
                                                 f"{after['software_version']!r}", before["software_version"],
                              after["software_version"]))
    moved = drift.compare(old, new)
    outcome_moves = [m for m in moved if m.what == "outcome"]
    for m in moved:
        if m.what in ("declared", "granted", "exercised", "shape", "requested"):
            out.append(change("api-changed", f"{m.subject}: {m.what} {m.before} -> {m.after}", m.before, m.after))
    verified_before = {a["name"]: a.get("verified") for a in old["apis"]}
    for api in new["apis"]:
        b, a = verified_before.get(api["name"]), api.get("verified")
        if b is not None and a is not None and b != a:
            out.append(change("api-changed", f"{api['name']}: verified {b} -> {a}", b, a))
    if outcome_moves:
        shown = ", ".join(f"{m.subject} {m.before}->{m.after}" for m in outcome_moves[:5])
        more = f" and {len(outcome_moves) - 5} more" if len(outcome_moves) > 5 else ""
        out.append(change("checks-changed", f"{len(outcome_moves)} check outcome(s) changed: {shown}{more}",
                          None, [m.subject for m in outcome_moves]))
    return out


def days_left(expires: str | None, *, now: datetime | None = None) -> int | None:
    """Whole days until a certificate expiry (negative once expired), or None."""
    if not expires:
        return None
    moment = datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return int((moment - (now or datetime.now(timezone.utc))).total_seconds() // 86400)


def days_text(days: int | None) -> str:
    """``expires in 12 days``, ``expires today``, ``expired 3 days ago``; "-" when unknown."""
    if days is None:
        return "-"
    if days < 0:
        return f"expired {-days} day{'s' if days < -1 else ''} ago"
    return "expires today" if days == 0 else f"expires in {days} day{'s' if days > 1 else ''}"
