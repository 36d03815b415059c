"""Fixtures for the history tests: a real run over a sandbox fleet, simulated days derived from it, and
histories holding them."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness.catalog import load_named_set
from harness.fleet.directory import distinct_targets, parse_bundle
from harness.fleet.fetch import FetchOptions
from harness.fleet.run import run_fleet
from harness.history.record import record_fleet, record_run
from harness.history.simulate import simulate_days
from harness.sandbox.fleet import EmbeddedFleet, build_fleet
from tests.history.history_helpers import tenant_runs

DAYS = 4
START = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Plain output, as in CI; the history the environment names is one of the test's own (a command a test
    runs without --history writes there, never into the repository). Returns its path."""
    monkeypatch.setenv("CI", "true")
    path = tmp_path / "environment-history.sqlite"
    monkeypatch.setenv("EPIC_HARNESS_HISTORY", str(path))
    return path


@pytest.fixture(scope="session")
def fleet_json() -> dict:
    """fleet.json of a real run over a 60-tenant sandbox fleet (seed 3)."""
    options = FetchOptions(concurrency=32, per_host_rps=None, connect_timeout=1.0, read_timeout=1.0, retries=1,
                           backoff=0.05, allow_loopback=True)
    with EmbeddedFleet(build_fleet(seed=3, size=60)) as fleet:
        directory = parse_bundle(fleet.directory(), "sandbox-fleet.json")
        run = run_fleet(directory, distinct_targets(directory), load_named_set("careforce-phoenix"), options)
    return run.as_dict()


@pytest.fixture(scope="session")
def fleet_days(fleet_json: dict) -> list[dict]:
    """Four simulated days derived from it (upgrades, outages and returns, TLS facts)."""
    return simulate_days(fleet_json, DAYS, seed=5, start=START)


@pytest.fixture(scope="session")
def filled_history(tmp_path_factory: pytest.TempPathFactory, fleet_days: list[dict]) -> Path:
    """A SQLite history holding the four fleet days and three runs of one tenant (do not write to it)."""
    path = tmp_path_factory.mktemp("history") / "history.sqlite"
    for day in fleet_days:
        record_fleet(day, history=path)
    for summary in tenant_runs():
        record_run(summary, history=path)
    return path


@pytest.fixture
def history_path(tmp_path: Path) -> Path:
    return tmp_path / "reports" / "history.sqlite"
