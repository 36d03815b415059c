"""Versioned migrations of the history database, applied in order, each in its own transaction.

The ``schema_version`` table holds one row per migration applied. A new database is created as
``schema.py`` declares it and stamped with every version; an older one is brought up to
:data:`LATEST` one migration at a time when it is first written to or read by a newer harness; a
database written by a newer harness than this one (a version above :data:`LATEST`) is refused,
never altered.

The tables are declared once, as they are now, in ``schema.py``; :data:`ADDED_IN` and
:data:`TABLES_ADDED_IN` say in which version each column and table arrived after the first, and
:data:`RETIRED` lists the columns a later version removed (with their type, so that an older
database can still be built). Migration 1 creates every table with its first columns, later
migrations add theirs, so that a database of any version ends with exactly the columns of
``schema.py`` (a test builds one from version 1 and from version 2 and compares).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKeyConstraint,
    Index,
    MetaData,
    String,
    Table,
    case,
    column,
    false,
    inspect,
    select,
    table,
    text,
    true,
    update,
)
from sqlalchemy.schema import CreateColumn
from sqlalchemy.types import TypeEngine

from harness.history import schema
from harness.history.errors import HistoryError

_TLS3 = ("tls_host", "tls1_0", "tls1_1", "certificate_issuer", "certificate_subject", "certificate_not_after",
         "certificate_days_left", "certificate_expires_soon")

#: (table, column) -> the schema version that added it; every other column dates from version 1.
ADDED_IN: dict[tuple[str, str], int] = {
    ("runs", "blocked"): 2,
    ("runs", "inconclusive"): 2,
    ("run_apis", "verified"): 2,
    ("run_checks", "blocked_by"): 2,
    ("run_checks", "requirements"): 2,
    ("fleet_tenants", "tls_version"): 2,
    **{("fleet_tenants", c): 3 for c in _TLS3},
}

#: Tables that arrived after version 1, and the version that added each.
TABLES_ADDED_IN: dict[str, int] = {"fleet_not_run": 3}


@dataclass(frozen=True)
class Retired:
    """A column a later version removed: the version that added it, the one that removed it, its type."""

    added: int
    removed: int
    type: TypeEngine


#: Columns no longer in ``schema.py``. Version 2 guessed the fleet's TLS facts before the fleet wrote them
#: (booleans for TLS 1.0/1.1, one expiry) and gave tenant runs TLS columns no summary.json ever carried;
#: version 3 keeps the facts under the fleet's own names and converts what version 2 held.
RETIRED: dict[tuple[str, str], Retired] = {
    ("runs", "tls_version"): Retired(2, 3, String(16)),
    ("runs", "tls10_accepted"): Retired(2, 3, Boolean()),
    ("runs", "tls11_accepted"): Retired(2, 3, Boolean()),
    ("runs", "cert_expires"): Retired(2, 3, String(25)),
    ("fleet_tenants", "tls10_accepted"): Retired(2, 3, Boolean()),
    ("fleet_tenants", "tls11_accepted"): Retired(2, 3, Boolean()),
    ("fleet_tenants", "cert_expires"): Retired(2, 3, String(25)),
}


def _version_of(table_: Table, column_: Column) -> int:
    return ADDED_IN.get((table_.name, column_.name), 1)


def _retired_at(table_name: str, version: int) -> list[Column]:
    return [Column(name, r.type) for (t, name), r in RETIRED.items() if t == table_name and r.added <= version < r.removed]


def _first_tables(version: int) -> MetaData:
    """Every table of ``schema.py`` that existed at ``version``, with the columns it had then (and its
    indexes on them)."""
    md = MetaData()
    for table_ in schema.metadata.sorted_tables:
        if TABLES_ADDED_IN.get(table_.name, 1) > version:
            continue
        columns = [c._copy() for c in table_.columns if _version_of(table_, c) <= version]
        columns += _retired_at(table_.name, version)
        names = {c.name for c in columns}
        # a copied column leaves its foreign key behind: every one is declared again as a constraint
        constraints = [ForeignKeyConstraint([e.parent.name for e in fk.elements],
                                            [e.target_fullname for e in fk.elements], ondelete=fk.ondelete)
                       for fk in table_.foreign_key_constraints if all(e.parent.name in names for e in fk.elements)]
        copy = Table(table_.name, md, *columns, *constraints)
        for index in table_.indexes:
            names = [c.name for c in index.columns]
            if all(n in copy.c for n in names):
                Index(index.name, *[copy.c[n] for n in names], unique=index.unique)
    return md


def _create_tables(conn: Connection) -> None:
    _first_tables(1).create_all(conn)


def _add_columns(version: int) -> Callable[[Connection], None]:
    """Add the columns (and create the tables) that ``version`` brought."""
    def add(conn: Connection) -> None:
        md = _first_tables(version)
        for table_ in schema.metadata.sorted_tables:
            arrived = TABLES_ADDED_IN.get(table_.name, 1)
            if arrived == version:
                md.tables[table_.name].create(conn)
                continue
            if arrived > version:
                continue
            added = [c for c in table_.columns if _version_of(table_, c) == version]
            added += [Column(name, r.type) for (t, name), r in RETIRED.items() if t == table_.name and r.added == version]
            for column_ in added:
                ddl = CreateColumn(column_).compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {table_.name} ADD COLUMN {ddl}"))
    return add


def _retired_in(version: int) -> list[tuple[str, str]]:
    return [(t, c) for (t, c), r in RETIRED.items() if r.removed == version]


def _can_drop(conn: Connection, version: int) -> None:
    """SQLite drops a column from 3.35 on; before, the upgrade is refused before anything is changed."""
    if _retired_in(version) and conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        raise HistoryError(f"upgrading this history to schema version {version} drops columns, which needs SQLite "
                           f"3.35 or later; this Python has SQLite {sqlite3.sqlite_version}")


def _drop_retired(conn: Connection, version: int) -> None:
    for table_name, column_name in _retired_in(version):
        conn.execute(text(f"ALTER TABLE {table_name} DROP COLUMN {column_name}"))


def _tls_by_the_fleets_names(conn: Connection) -> None:
    """Version 3: the fleet's TLS facts under its own names; what version 2 held is carried over (accepted
    true/false as ``accepted``/``refused``, the expiry as ``certificate_not_after``)."""
    _can_drop(conn, 3)
    _add_columns(3)(conn)
    ft = table("fleet_tenants", column("tls10_accepted", Boolean), column("tls11_accepted", Boolean),
               column("cert_expires", String), column("tls1_0", String), column("tls1_1", String),
               column("certificate_not_after", String))
    conn.execute(update(ft).values(
        tls1_0=case((ft.c.tls10_accepted.is_(true()), "accepted"), (ft.c.tls10_accepted.is_(false()), "refused"),
                    else_=None),
        tls1_1=case((ft.c.tls11_accepted.is_(true()), "accepted"), (ft.c.tls11_accepted.is_(false()), "refused"),
                    else_=None),
        certificate_not_after=ft.c.cert_expires))
    _drop_retired(conn, 3)


#: The migrations, in order: (version, what it does, the function that does it).
MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "runs, requested APIs, API rows and check outcomes of tenant runs, fleet tenants", _create_tables),
    (2, "summary schema 2 (verified, blocked, inconclusive, blocked_by, requirements) and TLS facts",
     _add_columns(2)),
    (3, "the fleet's TLS facts under its own names (host, tls1_0, tls1_1, certificate issuer, subject, expiry), "
        "the addresses a fleet run left out", _tls_by_the_fleets_names),
)
LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    """The database's schema version: 0 for an empty database."""
    tables = set(inspect(conn).get_table_names())
    if "schema_version" not in tables:
        if tables & {t.name for t in schema.TABLES}:
            raise HistoryError("the database has history tables but no schema_version table; "
                               "it was not written by epic-harness")
        if tables:
            raise HistoryError(f"the database holds other tables ({', '.join(sorted(tables)[:5])}) and is not "
                               "an epic-harness history; give an empty database or a new file")
        return 0
    found = conn.execute(select(schema.schema_version.c.version)).scalars().all()
    return max(found, default=0)


def _lock(conn: Connection) -> None:
    """Two processes migrating at once: SQLite's write transaction already excludes the second;
    PostgreSQL takes a transaction-scoped advisory lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7193522)"))


def migrate(conn: Connection, target: int = LATEST) -> list[int]:
    """Apply every migration above the database's version up to ``target``, inside the caller's
    transaction; the versions applied (none when already there)."""
    _lock(conn)
    have = current_version(conn)
    if have > LATEST:
        raise HistoryError(f"the database is at schema version {have}, written by a newer epic-harness; "
                           f"this one reads up to version {LATEST}: upgrade epic-harness")
    if have == 0 and target == LATEST:
        # a new database: the tables as schema.py declares them, stamped with every version
        schema.metadata.create_all(conn)
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        conn.execute(schema.schema_version.insert(), [{"version": v, "description": d, "applied": stamp}
                                                      for v, d, _ in MIGRATIONS])
        return [v for v, _, _ in MIGRATIONS]
    applied = []
    for version, description, step in MIGRATIONS:
        if have < version <= target:
            if version == 1:
                schema.schema_version.create(conn, checkfirst=True)
            step(conn)
            conn.execute(schema.schema_version.insert().values(
                version=version, description=description,
                applied=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")))
            applied.append(version)
    return applied
