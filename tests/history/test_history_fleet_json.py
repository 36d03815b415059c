"""The fleet.json the fleet writes today, and the ones it wrote before its TLS facts and its scope.

TLS facts come from real handshakes with local https servers whose certificates a throwaway CA signs: they
are kept under the fleet's own names and read back exactly as the fleet wrote them, and what changes in them
from one run to the next is a change. A run limited with ``--limit`` is compared with a full one without
tenants "removed". An older fleet.json (no ``tls``, no ``scope``, fewer stats and options) is kept with what
it did not say null, everything else as today's."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from harness.catalog import load_named_set
from harness import tls as fleet_tls
from harness.fleet.directory import distinct_targets, parse_text
from harness.fleet.fetch import FetchOptions
from harness.fleet.run import run_fleet
from harness.history import extract, load, queries, schema
from harness.history.changes import TLS_KINDS
from harness.history.page import render_history_html
from harness.history.record import record_fleet
from harness.history.store import History
from tests.fleet.local_servers import Server, TestCA, json_reply

STATEMENT = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
             "software": {"name": "Epic", "version": "February 2026"}, "rest": []}
#: what this machine's OpenSSL lets the fleet ask of a server still speaking TLS 1.0 and 1.1
LEGACY_ANSWER = "accepted" if fleet_tls.offerable("TLSv1") and fleet_tls.offerable("TLSv1_1") else \
    "not testable here"


def _tenant(path: str):
    return json_reply(STATEMENT if path.endswith("/metadata") else {"grant_types_supported": []})


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "ca")


@pytest.fixture
def servers(ca, tmp_path):
    """current: TLS 1.2+, 90 days left; legacy: TLS 1.0 and 1.1 accepted, 10 days left; expired: a certificate
    that does not verify; plain: http."""
    started = {
        "current": Server({"/t/*": _tenant}, ca.server_context("127.0.0.1", days=90)),
        "legacy": Server({"/t/*": _tenant}, ca.server_context("127.0.0.1", days=10, legacy=True)),
        "expired": Server({"/t/*": _tenant}, ca.server_context("127.0.0.1", expired=True)),
        "plain": Server({"/t/*": _tenant}),
    }
    for server in started.values():
        server.__enter__()
    yield started
    for server in started.values():
        server.__exit__(None, None, None)


def fleet_run(servers: dict[str, Server], ca: TestCA, *, day: int = 0) -> dict:
    """A real fleet run over the servers, its fleet.json dated ``day`` days after the first."""
    directory = parse_text("".join(f"{s.origin()}/t/{n}/api/FHIR/R4 {n}\n" for n, s in servers.items()),
                           "endpoints.txt")
    options = FetchOptions(per_host_rps=None, connect_timeout=2.0, read_timeout=2.0, retries=0, allow_loopback=True,
                           ca_file=str(ca.pem))
    report = run_fleet(directory, distinct_targets(directory), load_named_set("careforce-phoenix"), options).as_dict()
    report["generated"] = (datetime.fromisoformat(report["generated"]) + timedelta(days=day)).isoformat()
    return report


def _stored(history, run_id: int) -> dict:
    with History(history) as h, h.read() as conn:
        return load.fleet_runs_as_json(conn, [run_id])[run_id]


def _rows(history) -> list[dict]:
    with History(history) as h, h.read() as conn:
        return [dict(r) for r in conn.execute(select(schema.fleet_tenants).order_by(schema.fleet_tenants.c.seq))
                .mappings()]


def test_tls_facts_are_kept_under_the_fleets_names_and_read_back_as_written(history_path, ca, servers):
    report = fleet_run(servers, ca)
    by_name = {t["name"]: t for t in report["tenants"]}
    assert [n for n, t in by_name.items() if t["tls"]] == ["current", "legacy"]
    done = record_fleet(report, history=history_path)
    back = {t["name"]: t for t in _stored(history_path, done.run_id)["tenants"]}
    for name, was in by_name.items():
        assert back[name]["tls"] == was["tls"], name
        assert (back[name]["status"], back[name]["failure"]) == (was["status"], was["failure"])
    legacy = next(r for r in _rows(history_path) if r["name"] == "legacy")
    facts = by_name["legacy"]["tls"]
    assert (legacy["tls_host"], legacy["tls_version"], legacy["tls1_0"], legacy["tls1_1"]) == \
        (f"127.0.0.1:{servers['legacy'].port}", facts["version"], LEGACY_ANSWER, LEGACY_ANSWER)
    assert (legacy["certificate_issuer"], legacy["certificate_subject"]) == \
        ("CN=Fleet Test CA, O=Fleet Tests", "CN=127.0.0.1, O=Fleet Tenant")
    assert legacy["certificate_not_after"] == facts["certificate"]["not_after"]
    assert legacy["certificate_days_left"] in (9, 10) and legacy["certificate_expires_soon"] is True
    assert back["expired"]["failure"] == "tls-certificate" and back["expired"]["tls"] is None
    assert back["plain"]["tls"] is None


def test_what_changed_in_tls_from_one_run_to_the_next(tmp_path, ca, servers):
    first = fleet_run(servers, ca)
    servers["legacy"].context = ca.server_context("127.0.0.1", days=200)  # renewed, TLS 1.2 and later only
    second = fleet_run(servers, ca, day=1)
    before, after = first["tenants"][1]["tls"], second["tenants"][1]["tls"]
    assert after["tls1_0"] == "refused" and after["certificate"]["days_left"] in (199, 200)
    one, both = tmp_path / "one.sqlite", tmp_path / "both.sqlite"
    record_fleet(first, history=one)
    for run in (first, second):
        record_fleet(run, history=both)
    with History(both) as h, h.read() as conn:
        changes = [(c.tenant, c.kind, c.detail) for c in queries.changes_since(conn, None) if c.kind in TLS_KINDS]
        rows = {r["name"]: r for r in queries.availability(conn)}
    expected = [("legacy", "certificate-changed", f"certificate expiry {before['certificate']['not_after'][:10]} -> "
                                                  f"{after['certificate']['not_after'][:10]}")]
    if LEGACY_ANSWER == "accepted":
        expected += [("legacy", "legacy-tls-changed", "TLS 1.0 no longer accepted"),
                     ("legacy", "legacy-tls-changed", "TLS 1.1 no longer accepted")]
    assert sorted(changes) == sorted(expected)  # and nothing for "current": same server, same certificate
    assert rows["legacy"]["legacy_tls"] == [] and rows["legacy"]["certificate_expires_soon"] is False
    assert rows["legacy"]["certificate_not_after"] == after["certificate"]["not_after"]
    with History(one) as h, h.read() as conn:
        rows = {r["name"]: r for r in queries.availability(conn)}
        page = render_history_html(conn, label="one", window="30d")
    legacy = rows["legacy"]
    assert legacy["certificate_expires_soon"] is True and legacy["certificate_days_left"] in (9, 10)
    assert legacy["legacy_tls"] == (["TLS 1.0", "TLS 1.1"] if LEGACY_ANSWER == "accepted" else [])
    assert rows["current"]["legacy_tls"] == [] and rows["current"]["certificate_expires_soon"] is False
    assert '<div class="stat warn"><b>1</b>certificates expiring within 30 days</div>' in page
    if LEGACY_ANSWER == "accepted":
        assert '<div class="stat warn"><b>1</b>accepting TLS 1.0 or 1.1</div>' in page
        assert "Still accepting a retired TLS version: legacy (TLS 1.0, TLS 1.1)" in page


def older_fleet_json(today: dict) -> dict:
    """``today`` as the fleet wrote it before its TLS facts and its scope: no ``tls`` per tenant, no ``scope``,
    no ``refused``, ``tls`` or ``rate_limit`` statistics, none of the options added since."""
    older = copy.deepcopy(today)
    older.pop("scope", None)
    for key in ("refused", "tls", "rate_limit"):
        older["stats"].pop(key)
    for key in ("max_redirects", "max_body_bytes", "allow_loopback", "tls_probes"):
        older["options"].pop(key)
    for tenant in older["tenants"]:
        del tenant["tls"]
    return older


def test_an_older_fleet_json_is_kept_with_what_it_did_not_say_null(tmp_path, ca, servers):
    today = fleet_run(servers, ca)
    today["scope"] = {"limit": None, "distinct_addresses": 4, "run": 4, "not_run": []}
    new, old = tmp_path / "today.sqlite", tmp_path / "older.sqlite"
    record_fleet(today, history=new)
    record_fleet(older_fleet_json(today), history=old)
    kept_today, kept_older = _rows(new), _rows(old)
    assert len(kept_today) == len(kept_older) == 4
    for now, before in zip(kept_today, kept_older):
        assert {k: v for k, v in now.items() if k not in load.TLS_COLUMNS} == \
            {k: v for k, v in before.items() if k not in load.TLS_COLUMNS}
        assert all(before[column] is None for column in load.TLS_COLUMNS)
    assert sum(any(r[c] is not None for c in load.TLS_COLUMNS) for r in kept_today) == 2


@pytest.mark.parametrize("tls", [
    "TLSv1.3",
    {"host": 443, "version": "TLS 1.3", "tls1_0": True, "tls1_1": "maybe",
     "certificate": {"issuer": ["CN=x"], "not_after": "next year", "days_left": "10", "expires_soon": "yes"}},
    # the spellings the history guessed before the fleet wrote TLS facts
    {"negotiated": "TLSv1.3", "tls1_0_accepted": True, "legacy": {"TLSv1.1": True},
     "certificate_expires": "2027-01-01T00:00:00Z"},
], ids=["not-an-object", "wrong-types", "guessed-names"])
def test_tls_facts_not_of_the_fleets_shape_are_null(fleet_json, tls):
    fleet = copy.deepcopy(fleet_json)
    fleet["tenants"][0]["tls"] = tls
    kept = extract.fleet_run(fleet).tenants[0]
    assert {column: kept[column] for column in load.TLS_COLUMNS} == dict.fromkeys(load.TLS_COLUMNS)


def test_the_answers_and_the_warning_are_the_fleets():
    assert extract.LEGACY_ANSWERS == (fleet_tls.ACCEPTED, fleet_tls.REFUSED, fleet_tls.NOT_TESTABLE,
                                      fleet_tls.UNKNOWN)
    assert extract.EXPIRY_WARNING_DAYS == fleet_tls.EXPIRY_WARNING_DAYS


def _limited(fleet: dict, first: int, *, day: int, scope: bool) -> dict:
    """``fleet`` as ``--limit first`` runs it ``day`` days later; ``scope``: as today's fleet writes it."""
    run = copy.deepcopy(fleet)
    keys = [t["key"] for t in run["tenants"]]
    run["tenants"] = run["tenants"][:first]
    run["generated"] = (datetime.fromisoformat(fleet["generated"]) + timedelta(days=day)).isoformat()
    if scope:
        run["scope"] = {"limit": first, "distinct_addresses": len(keys), "run": first, "not_run": keys[first:]}
    return run


@pytest.mark.parametrize("scope", [True, False], ids=["today", "older"])
def test_a_limited_run_is_compared_without_the_tenants_it_left_out(tmp_path, fleet_json, scope):
    """Full, then ``--limit 10``, then full again. Today's fleet.json says which addresses the limited run left
    out: nothing changed. An older one does not: every address left out reads as removed, then added."""
    history = tmp_path / "h.sqlite"
    again = copy.deepcopy(fleet_json)
    again["generated"] = (datetime.fromisoformat(fleet_json["generated"]) + timedelta(days=2)).isoformat()
    limited = _limited(fleet_json, 10, day=1, scope=scope)
    for run in (fleet_json, limited, again):
        record_fleet(run, history=history)
    left_out = {t["key"] for t in fleet_json["tenants"][10:]}
    with History(history) as h, h.read() as conn:
        changes = queries.changes_since(conn, None)
        heads = load.runs(conn, kind="fleet", newest_first=False)
        stored = load.fleet_runs_as_json(conn, [heads[1]["id"]])[heads[1]["id"]]
    assert len(heads) == 3 and len(left_out) > 50
    if scope:
        assert changes == [] and set(stored["scope"]["not_run"]) == left_out
    else:
        assert stored["scope"]["not_run"] == []
        assert {c.key for c in changes if c.kind == "tenant-removed"} == left_out
        assert {c.key for c in changes if c.kind == "tenant-added"} == left_out
