"""Writing runs into the history: one transaction per run, so a crash leaves it as it was.

:func:`record_run` takes a tenant run's ``summary.json`` (as a dict), :func:`record_fleet` a fleet
run's ``fleet.json``. The same run recorded twice is kept once (its allow-listed content is
hashed into ``runs.digest``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from harness import __version__
from harness.history import extract, schema
from harness.history.extract import ApiName
from harness.history.store import History, open_history

#: Pass as ``harness_version`` when the fleet.json was not written by this process.
UNKNOWN = None


@dataclass(frozen=True)
class Recorded:
    """The outcome of recording a run: its id in the history, and whether it was new."""

    run_id: int
    kind: str
    created: bool
    history: str

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "kind": self.kind, "created": self.created, "history": self.history}


def _api_ids(conn: Connection, names: dict[str, ApiName]) -> dict[str, int]:
    table = schema.apis
    if not names:
        return {}
    have = {n: i for n, i in conn.execute(select(table.c.name, table.c.id).where(table.c.name.in_(list(names))))}
    missing = [{"name": a.name, "version": a.version, "fhir": a.fhir} for n, a in names.items() if n not in have]
    if missing:
        if conn.dialect.name in ("sqlite", "postgresql"):
            dialect_insert: Any
            if conn.dialect.name == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            else:
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            conn.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=["name"]), missing)
        else:
            conn.execute(insert(table), missing)
        have = {n: i for n, i in conn.execute(select(table.c.name, table.c.id).where(table.c.name.in_(list(names))))}
    return have


def _existing(conn: Connection, digest: str) -> int | None:
    return conn.execute(select(schema.runs.c.id).where(schema.runs.c.digest == digest)).scalar()


def _insert_run(conn: Connection, run: dict[str, Any]) -> int:
    result = conn.execute(insert(schema.runs).values(**run, recorded=extract.now_utc()))
    return int(result.inserted_primary_key[0])


def write_tenant_run(conn: Connection, record: extract.TenantRunRecord) -> tuple[int, bool]:
    """Write one tenant run inside the caller's transaction; (run id, created)."""
    found = _existing(conn, record.run["digest"])
    if found is not None:
        return found, False
    run_id = _insert_run(conn, record.run)
    ids = _api_ids(conn, record.names)
    if record.apis:
        conn.execute(insert(schema.run_apis), [
            {"run_id": run_id, "api_id": ids[a["name"]], **{k: v for k, v in a.items() if k != "name"}}
            for a in record.apis])
    if record.checks:
        conn.execute(insert(schema.run_checks), [
            {"run_id": run_id, "api_id": ids.get(c["api"]) if c["api"] else None,
             **{k: v for k, v in c.items() if k != "api"}} for c in record.checks])
    return run_id, True


def write_fleet_run(conn: Connection, record: extract.FleetRunRecord) -> tuple[int, bool]:
    """Write one fleet run inside the caller's transaction; (run id, created)."""
    found = _existing(conn, record.run["digest"])
    if found is not None:
        return found, False
    run_id = _insert_run(conn, record.run)
    ids = _api_ids(conn, record.names)
    if record.requested:
        conn.execute(insert(schema.run_requested), [{"run_id": run_id, "api_id": ids[n]} for n in record.requested])
    if record.tenants:
        conn.execute(insert(schema.fleet_tenants), [{"run_id": run_id, **t} for t in record.tenants])
    if record.states:
        conn.execute(insert(schema.fleet_tenant_apis), [
            {"run_id": run_id, "seq": seq, "api_id": ids[name], "state": state} for seq, name, state in record.states])
    if record.not_run:
        conn.execute(insert(schema.fleet_not_run), [{"run_id": run_id, "key": key} for key in record.not_run])
    return run_id, True


def record_run(summary: dict[str, Any], *, history: str | Path | History | None = None) -> Recorded:
    """Keep a tenant run (a ``summary.json`` as a dict, schema 1 or 2) in the history; one transaction."""
    record = extract.tenant_run(summary)
    store = open_history(history)
    try:
        with store.write() as conn:
            run_id, created = write_tenant_run(conn, record)
    finally:
        if store is not history:
            store.close()
    return Recorded(run_id, "tenant", created, store.label)


def record_fleet(fleet: dict[str, Any], *, history: str | Path | History | None = None,
                 harness_version: str | None = __version__) -> Recorded:
    """Keep a fleet run (a ``fleet.json`` as a dict) in the history; one transaction.

    ``harness_version``: the version that ran the fleet when the fleet.json does not say (default:
    this one, for the fleet command's own run; :data:`UNKNOWN` for a file of unknown origin)."""
    record = extract.fleet_run(fleet, harness_version=harness_version)
    store = open_history(history)
    try:
        with store.write() as conn:
            run_id, created = write_fleet_run(conn, record)
    finally:
        if store is not history:
            store.close()
    return Recorded(run_id, "fleet", created, store.label)
