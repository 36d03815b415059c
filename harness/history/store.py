"""Where the history lives: a SQLite file by default, or any SQLAlchemy URL (PostgreSQL).

:func:`make_engine` turns ``--history PATH|URL`` into an engine; :class:`History` opens it, brings
its schema up to date before the first write, and gives one transaction per recorded run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from harness.history.errors import HistoryError
from harness.history.location import default_target
from harness.history.migrations import LATEST, current_version, migrate

def is_url(target: str) -> bool:
    return "://" in target


def describe(target: str | Path) -> str:
    """The target as it can be shown: a path, or a URL with its password hidden."""
    text = str(target)
    if not is_url(text):
        return text
    try:
        return make_url(text).render_as_string(hide_password=True)
    except ArgumentError:
        return "the history URL"


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun by the listener below, so that DDL and DML of a run share one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A writer takes the write lock at once: two runs recorded at the same moment queue, never fail
        # halfway; readers begin a deferred transaction and never block a writer for long.
        immediate = conn.get_execution_options().get("history_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_engine(target: str | Path) -> Engine:
    """An engine for a SQLite path or a SQLAlchemy URL (``postgresql://`` uses psycopg 3).

    Nothing is connected yet; a URL whose driver is not installed, or that cannot be parsed, is a
    :class:`HistoryError` naming it (without its password)."""
    text = str(target)
    if not is_url(text):
        return _sqlite_engine(Path(text))
    try:
        url = make_url(text)
    except ArgumentError:
        raise HistoryError(f"{describe(text)}: not a database URL (give a file path or a SQLAlchemy URL such as "
                           "postgresql://user@host/db)") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(Path(url.database or ":memory:")) if url.database else create_engine(url)
    try:
        return create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError:
        raise HistoryError(f"{describe(text)}: no SQLAlchemy dialect for {url.drivername!r}") from None
    except ImportError as exc:
        hint = " (pip install 'epic-fhir-harness[postgres]')" if url.get_backend_name() == "postgresql" else ""
        raise HistoryError(f"{describe(text)}: its database driver is not installed: {exc.name or exc}{hint}") from None


class History:
    """One history database. ``with History(target) as h:`` or ``h.close()`` when done."""

    def __init__(self, target: str | Path | None = None) -> None:
        self.target = str(target) if target is not None else default_target()
        self.label = describe(self.target)
        self._path = None if is_url(self.target) else Path(self.target)
        self.engine = make_engine(self.target)
        self._ready = False

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def _fail(self, exc: Exception, doing: str) -> HistoryError:
        reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        first = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
        return HistoryError(f"{self.label}: cannot {doing}: {first}")

    def exists(self) -> bool:
        """Whether there is a history to read (a SQLite file that exists; a URL always)."""
        return self._path is None or self._path.is_file()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, the schema brought up to date first: committed when the block ends,
        rolled back whole when it raises (or when the process dies before the end)."""
        if self._path is not None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryError(f"{self.label}: cannot create its folder ({exc.strerror or exc})") from None
        try:
            with self.engine.connect().execution_options(history_write=True) as conn:
                with conn.begin():
                    if not self._ready:
                        migrate(conn)
                    yield conn
                self._ready = True
        except HistoryError:
            raise
        except SQLAlchemyError as exc:
            raise self._fail(exc, "write the history") from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction on a database at the current schema (upgraded first when older)."""
        if not self.exists():
            raise HistoryError(f"{self.label}: no history there yet (runs are recorded into it with --history)")
        try:
            if not self._ready:
                with self.engine.connect() as conn:
                    version = current_version(conn)
                if version != LATEST:
                    with self.write():
                        pass
                self._ready = True
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except HistoryError:
            raise
        except SQLAlchemyError as exc:
            raise self._fail(exc, "read the history") from None

    def version(self) -> int:
        with self.engine.connect() as conn:
            return current_version(conn)

    def table_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())


def open_history(target: str | Path | History | None = None) -> History:
    """A :class:`History` for a path, URL or an open history (returned as is); None: the default."""
    return target if isinstance(target, History) else History(target)
