"""The marking of end-to-end runs holds: a test not marked e2e cannot start the harness's run or fleet."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import e2e


def test_what_counts_as_a_run() -> None:
    assert e2e.is_harness_run([sys.executable, "-m", "harness", "run", "--tenant", "t.toml"])
    assert e2e.is_harness_run(["/venv/bin/epic-harness", "fleet", "--limit", "3"])
    assert not e2e.is_harness_run([sys.executable, "-m", "harness", "sandbox", "--port", "0"])
    assert not e2e.is_harness_run([sys.executable, "-m", "harness.sandbox.child"])
    assert not e2e.is_harness_run(["/venv/bin/epic-harness", "report", "reports/x"])


def test_an_unmarked_test_cannot_start_a_run() -> None:
    with pytest.raises(RuntimeError, match="mark it @pytest.mark.e2e"):
        subprocess.run([sys.executable, "-m", "harness", "run", "--help"], capture_output=True, timeout=60)
    # anything else may still start a child process
    assert subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True, text=True).stdout == "ok\n"


@pytest.mark.e2e
def test_a_marked_test_can() -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--tenant" in done.stdout
