"""What an Epic upgrade will change, forecast from the fleet history.

For every Epic release seen in the fleet history: which of the app's requested APIs the tenants
on that release declare. Each tenant counts once per release it was seen on (its newest
observation on that release whose CapabilityStatement was read), so a tenant seen before and
after an upgrade is evidence for both releases. An API is judged only on tenants whose FHIR
version is the API's and whose statement could say (``unknown`` APIs are left out), and every
figure comes with the number of tenants it rests on.

For a tenant on release X and a target release T: the requested APIs whose declared support
differs between the tenants on X and those on T, with the tenant's own status, and what the
tenants seen upgrading from X to T actually gained and lost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection

from harness.fleet.release import Release, parse_release
from harness.history import load
from harness.history.errors import HistoryError
from harness.history.queries import TenantMatch

#: Below this many tenants on a release, a figure is flagged as resting on few tenants.
FEW_TENANTS = 3


@dataclass
class Observation:
    key: str
    name: str | None
    release: Release
    finished: str
    declared: set[str]
    judged: set[str]  # judged and not unknown


@dataclass
class ApiForecast:
    api: str
    current_declared: int
    current_judged: int
    target_declared: int
    target_judged: int
    tenant_declares: bool | None
    verdict: str
    upgrades_lost: int = 0
    upgrades_gained: int = 0
    upgrades_judged: int = 0

    @property
    def current_share(self) -> float:
        return self.current_declared / self.current_judged if self.current_judged else 0.0

    @property
    def target_share(self) -> float:
        return self.target_declared / self.target_judged if self.target_judged else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"api": self.api, "verdict": self.verdict, "tenant_declares": self.tenant_declares,
                "current": {"declared": self.current_declared, "tenants": self.current_judged},
                "target": {"declared": self.target_declared, "tenants": self.target_judged},
                "upgrades_seen": {"tenants": self.upgrades_judged, "lost": self.upgrades_lost,
                                  "gained": self.upgrades_gained}}


@dataclass
class Forecast:
    tenant: str
    key: str | None
    current: str
    target: str
    basis: str
    tenants_current: int
    tenants_target: int
    upgrades_seen: int
    requested: int
    differs: list[ApiForecast] = field(default_factory=list)
    not_judged_on_target: list[str] = field(default_factory=list)
    releases: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "key": self.key, "current_release": self.current, "target_release": self.target,
                "basis": self.basis, "tenants_on_current": self.tenants_current,
                "tenants_on_target": self.tenants_target, "upgrades_seen": self.upgrades_seen,
                "requested_apis": self.requested, "differs": [d.as_dict() for d in self.differs],
                "not_judged_on_target": self.not_judged_on_target, "tenants_per_release": self.releases,
                "notes": self.notes}


def observations(conn: Connection, *, since: str | None = None) -> tuple[list[Observation], set[str]]:
    """Per (address, release): the newest fleet observation on that release whose statement was read;
    and every API any fleet run requested."""
    heads = [h["id"] for h in load.runs(conn, kind="fleet", since=since)]
    requested = load.requested(conn, heads)
    judged_by: dict[tuple[int, str], set[str]] = {}
    for run_id, rows in requested.items():
        for release in ("R4", "STU3", "DSTU2"):
            judged_by[(run_id, release)] = {a["name"] for a in rows if a["fhir"] and a["version"] == release}
    newest: dict[tuple[str, Release], Observation] = {}
    for r in load.fleet_tenant_rows(conn, heads):
        if r["metadata_outcome"] != "ok" or not r["release_year"] or not r["fhir_release"]:
            continue
        release = Release(r["release_year"], r["release_month"] or 0)
        judged = judged_by.get((r["run_id"], r["fhir_release"]), set()) - set(r["unknown"])
        newest[(r["key"], release)] = Observation(r["key"], r["name"], release, r["finished"],
                                                  judged - set(r["missing"]), judged)
    every = {a["name"] for rows in requested.values() for a in rows}
    return list(newest.values()), every


def _release(text: str, what: str) -> Release:
    release = parse_release(text)
    if release is None:
        raise HistoryError(f"{what} {text!r} is not an Epic release (give e.g. 'February 2026' or 'Nov 2025')")
    return release


def _the_tenant(conn: Connection, match: TenantMatch, obs: list[Observation]
                ) -> tuple[str, str | None, Release | None, dict[str, bool | None], set[str] | None]:
    """(name, key, current release, declared per requested API, the tenant's requested APIs)."""
    if len(match.fleet_keys) > 1:
        raise HistoryError(f"{match.query!r} names {len(match.fleet_keys)} fleet addresses; give one of: "
                           + ", ".join(sorted(match.fleet_keys)[:5]))
    if match.fleet_keys:
        key, name = next(iter(match.fleet_keys.items()))
        mine = sorted((o for o in obs if o.key == key), key=lambda o: o.finished)
        if mine:
            last = mine[-1]
            return name or key, key, last.release, {a: a in last.declared for a in last.judged}, None
        if not match.tenant_runs:
            return name or key, key, None, {}, None
    assert match.tenant_runs is not None
    runs = load.runs(conn, kind="tenant", tenant=match.tenant_runs)
    dated = [r for r in runs if r["release_year"]]
    if not runs:
        raise HistoryError(f"no run of {match.query!r} in the history")
    summary = load.summary(conn, (dated or runs)[0]["id"])
    release = Release(dated[0]["release_year"], dated[0]["release_month"] or 0) if dated else None
    declared = {a["name"]: a["declared"] for a in summary["apis"]}
    return match.tenant_runs, None, release, declared, set(declared)


def forecast(conn: Connection, match: TenantMatch, to: str, *, current: str | None = None,
             since: str | None = None) -> Forecast:
    """The forecast for the tenant ``match`` names upgrading to release ``to`` (``current`` overrides the
    release it is on; ``since`` limits the evidence to fleet runs from then on)."""
    target = _release(to, "--to")
    obs, every = observations(conn, since=since)
    if not obs:
        raise HistoryError("the history holds no fleet run that read a CapabilityStatement; record fleet runs first")
    name, key, release, declared, tenant_apis = _the_tenant(conn, match, obs)
    if current:
        release = _release(current, "--from")
    if release is None:
        raise HistoryError(f"the release of {name!r} is not known from the history; give it with --from RELEASE")
    per_release: dict[Release, list[Observation]] = defaultdict(list)
    for o in obs:
        per_release[o.release].append(o)
    seen = {str(r): len(v) for r, v in sorted(per_release.items(), reverse=True)}
    if target == release:
        raise HistoryError(f"{name!r} is already on {target}")
    if target not in per_release:
        raise HistoryError(f"no tenant in the fleet history is on {target}; releases seen: {', '.join(seen)}")
    on_current, on_target = per_release.get(release, []), per_release[target]
    requested = sorted((tenant_apis & every) if tenant_apis is not None else every)
    result = Forecast(name, key, str(release), str(target), "fleet history" + (f" since {since}" if since else ""),
                      len(on_current), len(on_target), 0, len(requested), releases=seen)
    if not on_current:
        result.notes.append(f"no tenant in the fleet history is on {release}: every requested API the tenants on "
                            f"{target} do not all declare is listed against the tenant's own declarations")
    upgraded = _upgrades(on_current, on_target)
    result.upgrades_seen = len(upgraded)
    for api in requested:
        cur_j = [o for o in on_current if api in o.judged]
        tgt_j = [o for o in on_target if api in o.judged]
        cur_d = sum(1 for o in cur_j if api in o.declared)
        tgt_d = sum(1 for o in tgt_j if api in o.declared)
        if not tgt_j:
            if cur_j:
                result.not_judged_on_target.append(api)
            continue
        mine = declared.get(api)
        cur_share = (Fraction(cur_d, len(cur_j)) if cur_j
                     else Fraction(1) if mine else Fraction(0) if mine is False else None)
        tgt_share = Fraction(tgt_d, len(tgt_j))
        if cur_share is None or cur_share == tgt_share:
            continue
        if tgt_share < cur_share:
            verdict = "at risk: fewer tenants declare it on the target" if mine is not False else \
                "fewer tenants declare it on the target (the tenant does not declare it now)"
        else:
            verdict = "may be gained: more tenants declare it on the target" if mine is not True else \
                "more tenants declare it on the target (the tenant declares it already)"
        row = ApiForecast(api, cur_d, len(cur_j), tgt_d, len(tgt_j), mine, verdict)
        for before, after in upgraded:
            if api in before.judged and api in after.judged:
                row.upgrades_judged += 1
                row.upgrades_lost += api in before.declared and api not in after.declared
                row.upgrades_gained += api not in before.declared and api in after.declared
        result.differs.append(row)
    result.differs.sort(key=lambda d: (d.target_share - d.current_share, d.api))
    if len(on_target) < FEW_TENANTS or (on_current and len(on_current) < FEW_TENANTS):
        result.notes.append(f"few tenants: {len(on_current)} on {release}, {len(on_target)} on {target}; "
                            "treat the shares as anecdotes")
    return result


def _upgrades(on_current: list[Observation], on_target: list[Observation]) -> list[tuple[Observation, Observation]]:
    """Tenants seen on the current release and later on the target release: (before, after)."""
    before = {o.key: o for o in on_current}
    return [(before[o.key], o) for o in on_target if o.key in before and before[o.key].finished < o.finished]
