"""Writing is atomic per run: a write that fails halfway, or a process killed halfway through one, leaves
the history readable and exactly as it was; the next write works."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.history import record as record_module
from harness.history.errors import HistoryError
from harness.history.queries import list_runs
from harness.history.record import record_fleet, record_run
from harness.history.store import History
from tests.history.history_helpers import dump, sandbox_summary, tenant_runs


def test_a_write_that_fails_halfway_changes_nothing(history_path, fleet_days, monkeypatch):
    record_run(sandbox_summary(), history=history_path)
    before = dump(f"sqlite:///{history_path}")
    real = record_module.write_fleet_run

    def fails_after_the_tenants(conn, record):
        real(conn, record)  # the run, its requested APIs, its tenants and their API states are all written...
        raise OSError("disk unplugged")  # ...and then the process fails before the end

    monkeypatch.setattr(record_module, "write_fleet_run", fails_after_the_tenants)
    with pytest.raises(OSError, match="disk unplugged"):
        record_fleet(fleet_days[1], history=history_path)
    assert dump(f"sqlite:///{history_path}") == before
    monkeypatch.setattr(record_module, "write_fleet_run", real)
    assert record_fleet(fleet_days[1], history=history_path).created
    with History(history_path) as h, h.read() as conn:
        assert sorted(r["kind"] for r in list_runs(conn)) == ["fleet", "tenant"]


def test_a_row_the_database_refuses_rolls_the_whole_run_back(history_path):
    record_run(sandbox_summary(), history=history_path)
    before = dump(f"sqlite:///{history_path}")
    with sqlite3.connect(history_path) as db:  # a constraint the last rows of a run break
        db.execute("CREATE TRIGGER no_blocked BEFORE INSERT ON run_checks WHEN NEW.outcome = 'blocked' "
                   "BEGIN SELECT RAISE(ABORT, 'blocked refused'); END")
    before["_trigger"] = True
    with pytest.raises(HistoryError, match="cannot write the history: blocked refused"):
        record_run(tenant_runs()[2], history=history_path)
    after = dump(f"sqlite:///{history_path}")
    after["_trigger"] = True
    assert after == before


_WRITER = r"""
import json, sys, time
from pathlib import Path
from sqlalchemy import event
from harness.history.record import record_fleet
from harness.history.store import History

history = History(sys.argv[1])
inserts = []

@event.listens_for(history.engine, "after_cursor_execute")
def slow_down(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("INSERT INTO FLEET_TENANTS"):
        Path(sys.argv[3]).write_text("halfway")  # the run's row and its requested APIs are written
        time.sleep(60)  # killed here

record_fleet(json.loads(Path(sys.argv[2]).read_text()), history=history)
print("finished")
"""


def test_a_process_killed_halfway_through_a_write_leaves_the_history_as_it_was(history_path, fleet_days,
                                                                              tmp_path):
    record_fleet(fleet_days[0], history=history_path)
    before = dump(f"sqlite:///{history_path}")
    day = tmp_path / "day2.json"
    day.write_text(json.dumps(fleet_days[1]))
    marker = tmp_path / "halfway"
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(history_path), str(day), str(marker)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the writer never reached the middle of its write"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    journal = Path(f"{history_path}-journal")
    assert journal.exists() and journal.stat().st_size > 0, "the kill came before any write reached the file"
    assert dump(f"sqlite:///{history_path}") == before  # the hot journal is rolled back by the next reader
    with sqlite3.connect(history_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert record_fleet(fleet_days[1], history=history_path).created
    with History(history_path) as h, h.read() as conn:
        assert len(list_runs(conn)) == 2
