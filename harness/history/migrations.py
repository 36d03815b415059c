"""Versioned migrations of the history database, applied in order, each in its own transaction.

The ``schema_version`` table holds one row per migration applied. A database is brought up to
:data:`LATEST` when it is first written to by a newer harness; a database written by a newer
harness than this one (a version above :data:`LATEST`) is refused, never altered.

The tables are declared once, as they are now, in ``schema.py``; :data:`ADDED_IN` says in which
version each column arrived after the first. Migration 1 creates every table with its first
columns, later migrations add theirs, so that a database of any version ends with exactly the
columns of ``schema.py`` (a test builds one from version 1 and compares).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import Column, Connection, ForeignKeyConstraint, Index, MetaData, Table, inspect, select, text
from sqlalchemy.schema import CreateColumn

from harness.history import schema
from harness.history.errors import HistoryError

#: (table, column) -> the schema version that added it; every other column dates from version 1.
ADDED_IN: dict[tuple[str, str], int] = {
    **{("runs", c): 2 for c in ("blocked", "inconclusive", "tls_version", "tls10_accepted", "tls11_accepted",
                                "cert_expires")},
    ("run_apis", "verified"): 2,
    ("run_checks", "blocked_by"): 2,
    ("run_checks", "requirements"): 2,
    **{("fleet_tenants", c): 2 for c in ("tls_version", "tls10_accepted", "tls11_accepted", "cert_expires")},
}


def _version_of(table: Table, column: Column) -> int:
    return ADDED_IN.get((table.name, column.name), 1)


def _first_tables(version: int) -> MetaData:
    """Every table of ``schema.py`` with only the columns it had at ``version`` (and its indexes on them)."""
    md = MetaData()
    for table in schema.metadata.sorted_tables:
        columns = [c._copy() for c in table.columns if _version_of(table, c) <= version]
        constraints = [ForeignKeyConstraint([e.parent.name for e in fk.elements],
                                            [e.target_fullname for e in fk.elements], ondelete=fk.ondelete)
                       for fk in table.foreign_key_constraints if len(fk.elements) > 1]
        copy = Table(table.name, md, *columns, *constraints)
        for index in table.indexes:
            names = [c.name for c in index.columns]
            if all(n in copy.c for n in names):
                Index(index.name, *[copy.c[n] for n in names], unique=index.unique)
    return md


def _create_tables(conn: Connection) -> None:
    _first_tables(1).create_all(conn)


def _add_columns(version: int) -> Callable[[Connection], None]:
    def add(conn: Connection) -> None:
        for table in schema.metadata.sorted_tables:
            for column in table.columns:
                if _version_of(table, column) == version:
                    ddl = CreateColumn(column).compile(dialect=conn.dialect)
                    conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))
    return add


#: The migrations, in order: (version, what it does, the function that does it).
MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "runs, requested APIs, API rows and check outcomes of tenant runs, fleet tenants", _create_tables),
    (2, "summary schema 2 (verified, blocked, inconclusive, blocked_by, requirements) and TLS facts",
     _add_columns(2)),
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
