"""The upgrade forecast over four simulated days whose newest release drops one requested API and adds
another; the expected figures are counted here from the fleet.json days."""

from __future__ import annotations

from collections import defaultdict

import pytest

from harness.history import queries
from harness.history.errors import HistoryError
from harness.history.forecast import forecast
from harness.history.record import record_fleet, record_run
from harness.history.simulate import release_profile
from harness.history.store import History
from tests.history.history_helpers import sandbox_summary


@pytest.fixture
def conn(filled_history):
    with History(filled_history) as h, h.read() as connection:
        yield connection


def evidence(days):
    """(key, release) -> (declared, judged) of the newest observation on that release that read a statement."""
    out = {}
    for day in days:
        requested = day["apis"]["requested"]
        for t in day["tenants"]:
            if t["metadata"]["outcome"] != "ok" or not t.get("release"):
                continue
            cov = t["coverage"]
            judged = {a["name"] for a in requested if a["fhir"] and a["version"] == t["fhir_release"]} \
                - set(cov["unknown"])
            out[(t["key"], t["release"])] = (judged - set(cov["missing"]), judged)
    return out


def figures(days, release, api):
    found = [(d, j) for (key, rel), (d, j) in evidence(days).items() if rel == release and api in j]
    return sum(1 for d, _ in found if api in d), len(found)


def test_upgrading_to_the_newest_release_forecasts_the_dropped_api(conn, fleet_days, fleet_json):
    profile = release_profile(fleet_json)
    last = fleet_days[-1]
    older = sorted({t["release"] for t in last["tenants"] if t.get("release") and t["release"] != profile.release
                    and t.get("fhir_release") == "R4" and t["metadata"]["outcome"] == "ok"},
                   key=lambda r: [t["release_sort"] for t in last["tenants"] if t.get("release") == r][0])[-1]
    tenant = next(t for t in last["tenants"] if t.get("release") == older and t["fhir_release"] == "R4"
                  and profile.dropped not in t["coverage"]["missing"])
    result = forecast(conn, queries.find_tenant(conn, tenant["key"]), profile.release)
    assert (result.current, result.target) == (older, profile.release)
    rows = {d.api: d for d in result.differs}
    dropped = rows[profile.dropped]
    assert (dropped.current_declared, dropped.current_judged) == figures(fleet_days, older, profile.dropped)
    assert (dropped.target_declared, dropped.target_judged) == figures(fleet_days, profile.release, profile.dropped)
    assert dropped.target_declared == 0 and dropped.current_declared == dropped.current_judged > 0
    assert dropped.tenant_declares is True and dropped.verdict.startswith("at risk")
    assert result.differs[0].api == profile.dropped  # the steepest loss comes first
    # every API listed differs, every API not listed does not
    for api in {a["name"] for a in last["apis"]["requested"]}:
        cur, tgt = figures(fleet_days, older, api), figures(fleet_days, profile.release, api)
        differs = cur[1] and tgt[1] and cur[0] * tgt[1] != tgt[0] * cur[1]
        assert (api in rows) == bool(differs), api
    per_release = defaultdict(set)
    for key, release in evidence(fleet_days):
        per_release[release].add(key)
    assert result.tenants_current == len(per_release[older])
    assert result.tenants_target == len(per_release[profile.release])
    assert result.releases[profile.release] == len(per_release[profile.release])


def test_the_tenants_seen_upgrading_show_what_they_lost(conn, fleet_days, fleet_json):
    profile = release_profile(fleet_json)
    first = {t["key"]: t for t in fleet_days[0]["tenants"]}
    movers = [t for t in fleet_days[-1]["tenants"] if t.get("release") == profile.release
              and first[t["key"]].get("release") not in (None, profile.release) and t["fhir_release"] == "R4"]
    assert movers, "the simulated days upgrade some tenants to the newest release"
    start = first[movers[0]["key"]]["release"]
    result = forecast(conn, queries.find_tenant(conn, movers[0]["key"]), profile.release, current=start)
    dropped = next(d for d in result.differs if d.api == profile.dropped)
    assert result.upgrades_seen >= 1
    assert dropped.upgrades_lost == dropped.upgrades_judged >= 1 and dropped.upgrades_gained == 0


def test_a_tenant_known_only_from_its_own_runs_is_forecast_from_its_declarations(tmp_path, fleet_days, fleet_json):
    profile = release_profile(fleet_json)
    path = tmp_path / "h.sqlite"
    for day in fleet_days:
        record_fleet(day, history=path)
    summary = sandbox_summary()
    summary["tenant"] = "lone-tenant"
    summary["software_version"] = "November 2025"
    record_run(summary, history=path)
    with History(path) as h, h.read() as conn:
        result = forecast(conn, queries.find_tenant(conn, "lone-tenant"), profile.release)
    assert result.current == "November 2025" and result.requested == len(summary["apis"])
    assert all(d.api in {a["name"] for a in summary["apis"]} for d in result.differs)


def test_a_release_no_tenant_is_on_or_the_same_release_is_one_message(conn, fleet_days, fleet_json):
    key = next(t["key"] for t in fleet_days[-1]["tenants"] if t.get("release"))
    match = queries.find_tenant(conn, key)
    with pytest.raises(HistoryError, match="no tenant in the fleet history is on February 2031; releases seen: "):
        forecast(conn, match, "Feb 2031")
    with pytest.raises(HistoryError, match="is not an Epic release"):
        forecast(conn, match, "next spring")
    current = next(t["release"] for t in fleet_days[-1]["tenants"] if t["key"] == key)
    with pytest.raises(HistoryError, match=f"is already on {current}"):
        forecast(conn, match, current)
