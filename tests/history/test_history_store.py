"""The store: the engine factory (SQLite paths, URLs, PostgreSQL), versioned migrations, idempotent records,
and one clear message for every database that cannot serve."""

from __future__ import annotations

import importlib.util
import sqlite3

import pytest
from sqlalchemy import inspect

from harness.history import load, schema
from harness.history.errors import HistoryError
from harness.history.migrations import LATEST, MIGRATIONS, _first_tables, migrate
from harness.history.record import record_fleet, record_run
from harness.history.store import History, default_target, describe, make_engine
from tests.history.history_helpers import dump, sandbox_summary, tenant_runs


def test_a_path_makes_a_sqlite_file_with_its_folder_and_every_table(history_path):
    done = record_run(sandbox_summary(), history=history_path)
    assert done.created and done.kind == "tenant" and history_path.is_file()
    with History(history_path) as h:
        assert h.version() == LATEST
        assert set(h.table_names()) == {t.name for t in schema.metadata.sorted_tables}


def test_the_default_is_the_environment_else_reports(monkeypatch):
    monkeypatch.delenv("EPIC_HARNESS_HISTORY")
    assert default_target() == "reports/history.sqlite"
    monkeypatch.setenv("EPIC_HARNESS_HISTORY", "postgresql://ci@db.example/history")
    assert default_target() == "postgresql://ci@db.example/history"


@pytest.mark.skipif(importlib.util.find_spec("psycopg") is None, reason="psycopg (extra 'postgres') not installed")
def test_a_postgresql_url_builds_an_engine_on_psycopg_without_connecting():
    engine = make_engine("postgresql://harness:s3cret@db.example:5432/history")
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    assert engine.url.database == "history"
    assert "s3cret" not in describe("postgresql://harness:s3cret@db.example:5432/history")


def test_a_url_whose_driver_is_missing_or_unknown_is_one_message():
    with pytest.raises(HistoryError, match="no SQLAlchemy dialect"):
        make_engine("nosuchdb://u:pw@h/db")
    with pytest.raises(HistoryError, match="driver is not installed") as caught:
        make_engine("mysql+mysqldb://u:topsecret@h/db")
    assert "topsecret" not in str(caught.value)


def test_a_sqlite_url_works_as_a_path(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    record_run(sandbox_summary(), history=url)
    assert dump(url)["runs"]


def test_the_same_run_recorded_twice_is_kept_once(history_path, fleet_json):
    first = record_fleet(fleet_json, history=history_path)
    again = record_fleet(fleet_json, history=history_path, harness_version=None)  # as `history --add` does
    assert first.created and not again.created and first.run_id == again.run_id
    assert len(dump(f"sqlite:///{history_path}")["runs"]) == 1


def test_a_version_1_database_is_upgraded_and_keeps_its_runs(history_path):
    """A database at schema 1 (before the summary's schema 2 and TLS facts) holding a run is brought to the
    newest version on first use; the old run reads back, its new columns null."""
    history_path.parent.mkdir(parents=True)
    with History(history_path) as h:
        with h.engine.connect().execution_options(history_write=True) as conn, conn.begin():
            assert migrate(conn, target=1) == [1]
        with h.engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("run_apis")}
        assert "verified" not in columns and h.version() == 1
        with h.engine.connect().execution_options(history_write=True) as conn, conn.begin():
            conn.execute(schema.runs.insert().values(
                id=1, kind="tenant", digest="v1-run", finished="2026-01-01T00:00:00Z",
                recorded="2026-01-01T00:00:00Z", tenant="old-tenant", gate="passed", passed=3))
    record_run(sandbox_summary(), history=history_path)
    with History(history_path) as h:
        assert h.version() == LATEST
        with h.read() as conn:
            old = conn.execute(schema.runs.select().where(schema.runs.c.id == 1)).mappings().one()
            applied = conn.execute(schema.schema_version.select()).mappings().all()
    assert old["tenant"] == "old-tenant" and old["passed"] == 3
    assert old["blocked"] is None and old["inconclusive"] is None
    assert [a["version"] for a in applied] == [m[0] for m in MIGRATIONS]


def _v2_fleet_run(conn) -> None:
    """A version-2 database's fleet run: three tenants with TLS facts under version 2's names."""
    v2 = _first_tables(2).tables
    conn.execute(v2["runs"].insert().values(id=1, kind="fleet", digest="v2-fleet", finished="2026-03-01T06:00:00Z",
                                            recorded="2026-03-01T06:00:00Z", source="endpoints.json",
                                            tls_version="TLSv1.3", tls10_accepted=True))
    conn.execute(v2["fleet_tenants"].insert(), [
        {"run_id": 1, "seq": 0, "key": "https://a.example/fhir", "status": "ok", "tls_version": "TLSv1.2",
         "tls10_accepted": True, "tls11_accepted": False, "cert_expires": "2026-04-01T00:00:00Z"},
        {"run_id": 1, "seq": 1, "key": "https://b.example/fhir", "status": "ok", "tls_version": "TLSv1.3",
         "tls10_accepted": False, "tls11_accepted": None, "cert_expires": None},
        {"run_id": 1, "seq": 2, "key": "http://c.example/fhir", "status": "failed", "tls_version": None,
         "tls10_accepted": None, "tls11_accepted": None, "cert_expires": None}])


def test_a_version_2_database_keeps_its_tls_facts_under_the_fleets_names(history_path):
    """Version 2 guessed the fleet's TLS facts as booleans and one expiry; version 3 stores them as the fleet
    writes them: an accepted legacy version is ``accepted``, a refused one ``refused``, the expiry is
    ``certificate_not_after``; the TLS columns of tenant runs, which no summary.json ever filled, are gone."""
    history_path.parent.mkdir(parents=True)
    with History(history_path) as h:
        with h.engine.connect().execution_options(history_write=True) as conn, conn.begin():
            assert migrate(conn, target=2) == [1, 2]
            _v2_fleet_run(conn)
    assert record_run(sandbox_summary(), history=history_path).created  # brings it to version 3 first
    with History(history_path) as h:
        assert h.version() == LATEST == 3
        with h.read() as conn:
            rows = load.fleet_tenant_rows(conn, [1])
            columns = {c["name"] for c in inspect(conn).get_columns("runs")}
    assert [(r["tls_version"], r["tls1_0"], r["tls1_1"], r["certificate_not_after"]) for r in rows] == [
        ("TLSv1.2", "accepted", "refused", "2026-04-01T00:00:00Z"), ("TLSv1.3", "refused", None, None),
        (None, None, None, None)]
    assert [load.tls_of(r) for r in rows][2] is None
    assert load.tls_of(rows[0])["certificate"]["not_after"] == "2026-04-01T00:00:00Z"
    assert not columns & {"tls_version", "tls10_accepted", "tls11_accepted", "cert_expires"}


def test_an_sqlite_too_old_to_drop_columns_refuses_the_upgrade_and_changes_nothing(history_path, tmp_path,
                                                                                     monkeypatch):
    from harness.history import migrations

    history_path.parent.mkdir(parents=True)
    with History(history_path) as h, h.engine.connect().execution_options(history_write=True) as conn, conn.begin():
        migrate(conn, target=2)
        _v2_fleet_run(conn)
    before = dump(f"sqlite:///{history_path}")
    monkeypatch.setattr(migrations.sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(migrations.sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(HistoryError, match="schema version 3 drops columns, which needs SQLite 3.35 or later; "
                                           "this Python has SQLite 3.34.1"):
        record_run(sandbox_summary(), history=history_path)
    assert dump(f"sqlite:///{history_path}") == before
    assert record_run(sandbox_summary(), history=tmp_path / "new.sqlite").created  # a new one needs no drop


@pytest.mark.parametrize("start", [None, 1, 2], ids=["new", "from-version-1", "from-version-2"])
def test_migrations_end_with_exactly_the_declared_tables(history_path, start):
    if start is not None:
        history_path.parent.mkdir(parents=True)
        with History(history_path) as h, h.engine.connect().execution_options(history_write=True) as conn, \
                conn.begin():
            migrate(conn, target=start)
    record_run(sandbox_summary(), history=history_path)
    with History(history_path) as h, h.engine.connect() as conn:
        found = inspect(conn)
        assert set(found.get_table_names()) == {t.name for t in schema.metadata.sorted_tables}
        for table in schema.metadata.sorted_tables:
            assert [c["name"] for c in found.get_columns(table.name)] == [c.name for c in table.columns], table.name
            assert {i["name"] for i in found.get_indexes(table.name)} == {i.name for i in table.indexes}
            assert sorted(k["constrained_columns"] for k in found.get_foreign_keys(table.name)) == \
                sorted([e.parent.name for e in fk.elements] for fk in table.foreign_key_constraints), table.name


def test_a_database_from_a_newer_harness_is_refused_unchanged(history_path):
    record_run(sandbox_summary(), history=history_path)
    with sqlite3.connect(history_path) as db:
        db.execute("INSERT INTO schema_version VALUES (99, '2030-01-01T00:00:00Z', 'from the future')")
    before = dump(f"sqlite:///{history_path}")
    with pytest.raises(HistoryError, match="schema version 99.*newer epic-harness"):
        record_run(tenant_runs()[1], history=history_path)
    assert dump(f"sqlite:///{history_path}") == before


def test_a_database_of_something_else_is_refused(history_path):
    history_path.parent.mkdir(parents=True)
    with sqlite3.connect(history_path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(HistoryError, match="other tables .*invoices.* not an epic-harness history"):
        record_run(sandbox_summary(), history=history_path)


def test_a_file_that_is_not_a_database_is_one_message(history_path):
    history_path.parent.mkdir(parents=True)
    history_path.write_text("just some notes\n" * 100)
    with pytest.raises(HistoryError, match=r"history\.sqlite: cannot write the history: file is not a database"):
        record_run(sandbox_summary(), history=history_path)
    with pytest.raises(HistoryError, match="cannot read the history"):
        with History(history_path).read():
            pass


def test_reading_a_history_that_does_not_exist_creates_nothing(history_path):
    with pytest.raises(HistoryError, match="no history there yet"):
        with History(history_path).read():
            pass
    assert not history_path.exists()


def test_reading_an_older_database_upgrades_it_first(history_path):
    history_path.parent.mkdir(parents=True)
    with History(history_path) as h:
        with h.engine.connect().execution_options(history_write=True) as conn, conn.begin():
            migrate(conn, target=1)
    from harness.history.queries import list_runs

    with History(history_path) as h:
        with h.read() as conn:
            assert list_runs(conn) == []
        assert h.version() == LATEST


_RECORD = """
import json, sys
from harness.history.record import record_run
record_run(json.loads(open(sys.argv[2]).read()), history=sys.argv[1])
"""


def test_runs_recorded_at_the_same_moment_into_a_new_history_all_arrive(history_path, tmp_path):
    """Parallel tenant runs (``run --tenant a --tenant b ...``) each record at their end, into a history
    that may not exist yet: the first creates and migrates it, the others wait, none fails."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    files = []
    for i in range(4):
        summary = sandbox_summary()
        summary["tenant"] = f"tenant-{i}"
        files.append(tmp_path / f"s{i}.json")
        files[-1].write_text(json.dumps(summary))
    children = [subprocess.Popen([sys.executable, "-c", _RECORD, str(history_path), str(f)],
                                 cwd=Path(__file__).parents[2], stderr=subprocess.PIPE) for f in files]
    errors = [c.communicate(timeout=120)[1].decode() for c in children]
    assert [c.returncode for c in children] == [0, 0, 0, 0], errors
    rows = dump(f"sqlite:///{history_path}")
    assert sorted(r[9] for r in rows["runs"]) == [f"tenant-{i}" for i in range(4)]
    assert [r[0] for r in rows["schema_version"]] == [m[0] for m in MIGRATIONS]
