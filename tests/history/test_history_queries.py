"""The questions asked of a history holding four days of a sandbox fleet and three runs of one tenant;
every expected figure is computed here from the fleet.json days themselves."""

from __future__ import annotations

import statistics

import pytest

from harness.history import queries
from harness.history.errors import HistoryError
from harness.history.store import History
from tests.history.history_helpers import LOST_API


@pytest.fixture
def conn(filled_history):
    with History(filled_history) as h, h.read() as connection:
        yield connection


def _by_key(days):
    keys = [t["key"] for t in days[0]["tenants"]]
    return {k: [next(t for t in day["tenants"] if t["key"] == k) for day in days] for k in keys}


def test_runs_are_listed_newest_first(conn, fleet_days):
    rows = queries.list_runs(conn, limit=50)
    assert queries.count_runs(conn) == {"fleet": 4, "tenant": 3}
    assert [r["finished"] for r in rows] == sorted((r["finished"] for r in rows), reverse=True)
    fleet = [r for r in rows if r["kind"] == "fleet"]
    assert [r["answered"] for r in reversed(fleet)] == [d["stats"]["answered"] for d in fleet_days]
    tenant = [r for r in rows if r["kind"] == "tenant"]
    assert [r["gate"] for r in tenant] == ["incomplete", "failed", "passed"]
    assert tenant[0]["counts"]["blocked"] == 1


def test_a_tenant_upgrade_is_found_in_its_timeline(conn, fleet_days):
    upgraded = next(series for series in _by_key(fleet_days).values()
                    if series[0]["release"] and series[-1]["release"] and series[0]["release"] != series[-1]["release"]
                    and all(t["status"] != "failed" for t in series))
    match = queries.find_tenant(conn, upgraded[0]["key"])
    timeline = queries.tenant_timeline(conn, match)
    [fleet] = timeline["fleet"]
    assert [o["release"] for o in fleet["observations"]] == [t["release"] for t in upgraded]
    kinds = [c["kind"] for o in fleet["observations"] for c in o["changes"]]
    assert "release-upgraded" in kinds
    day = next(i for i in range(1, len(upgraded)) if upgraded[i]["release"] != upgraded[i - 1]["release"])
    assert any(c["kind"] == "release-upgraded" and c["detail"] == f"{upgraded[day - 1]['release']} -> "
               f"{upgraded[day]['release']}" for c in fleet["observations"][day]["changes"])


def test_a_tenant_run_losing_an_api_and_its_gate_shows_in_its_timeline(conn):
    timeline = queries.tenant_timeline(conn, queries.find_tenant(conn, "ACME-NONPROD"))
    runs = timeline["tenant_runs"]
    assert [r["gate"] for r in runs] == ["passed", "failed", "incomplete"]
    assert [r["release"] for r in runs] == ["May 2026", "August 2026", "August 2026"]
    second = {c["kind"]: c for c in runs[1]["changes"]}
    assert second["gate-changed"]["detail"] == "gate passed -> failed"
    assert second["release-upgraded"]["detail"] == "May 2026 -> August 2026"
    assert second["api-changed"]["detail"] == f"{LOST_API}: declared True -> False"
    assert f"coverage.declared[{LOST_API}] passed->failed" in second["checks-changed"]["detail"]
    third = [c["detail"] for c in runs[2]["changes"]]
    assert "gate failed -> incomplete" in third
    assert any("passed->blocked" in d for d in third)


def test_availability_is_the_share_of_runs_the_statement_answered(conn, fleet_days):
    rows = {r["key"]: r for r in queries.availability(conn)}
    checked = 0
    for key, series in _by_key(fleet_days).items():
        if series[0]["status"] == "malformed-address":
            assert key not in rows
            continue
        row = rows[key]
        up = sum(1 for t in series if t["metadata"]["outcome"] == "ok")
        assert row["runs"] == len(series) and row["statement"] == up, key
        assert row["availability_pct"] == round(100 * up / len(series), 1)
        assert row["both_pct"] == round(100 * sum(t["status"] == "ok" for t in series) / len(series), 1)
        times = [t["metadata"]["elapsed_s"] for t in series if t["metadata"]["outcome"] == "ok"]
        assert row["metadata_median_s"] == (round(statistics.median(times), 4) if times else None)
        checked += 1
    assert checked > 40
    went_down = [r for r in rows.values() if 0 < r["availability_pct"] < 100]
    assert went_down, "the simulated days take tenants down and bring them back"


def test_availability_over_a_window_counts_only_its_runs(conn, fleet_days):
    last_two = queries.availability(conn, since=fleet_days[2]["generated"].replace("+00:00", "Z"))
    assert {r["runs"] for r in last_two} == {2}


def test_changes_since_a_date_lists_every_change_across_tenants_from_then(conn, fleet_days):
    everything = queries.changes_since(conn, None)
    since = queries.parse_when(fleet_days[2]["generated"][:10])
    recent = queries.changes_since(conn, since)
    assert recent and all(c.at >= since for c in recent)
    assert {c.kind for c in everything} >= {"release-upgraded", "stopped-answering", "started-answering",
                                            "apis-lost", "gate-changed", "api-changed"}
    stopped = {(c.at[:10], c.key) for c in everything if c.kind == "stopped-answering"}
    expected = {(day["generated"][:10], now["key"]) for before, day in zip(fleet_days, fleet_days[1:])
                for was, now in zip(before["tenants"], day["tenants"]) if was["answered"] and not now["answered"]}
    assert stopped == expected and expected


def test_a_date_that_is_not_one_is_one_message():
    with pytest.raises(HistoryError, match="'last tuesday' is not a date"):
        queries.parse_when("last tuesday")
    assert queries.parse_when("2026-11-03") == "2026-11-03T00:00:00Z"
    assert queries.parse_when("2026-11-03T08:00:00+02:00") == "2026-11-03T06:00:00Z"


def test_an_unknown_tenant_suggests_the_nearest(conn):
    with pytest.raises(HistoryError, match="no tenant named 'acme-nonprd'.*did you mean: acme-nonprod"):
        queries.find_tenant(conn, "acme-nonprd")
    with pytest.raises(HistoryError, match="matches several tenants"):
        queries.find_tenant(conn, "/t/")
