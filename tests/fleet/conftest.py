"""Fixtures for the fleet tests: a sandbox fleet served on loopback, and fast fetch options."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.fleet.fetch import FetchOptions
from harness.sandbox.fleet import EmbeddedFleet
from tests.fleet.fleet_helpers import AT_ONCE, QUICK, SMALL, ShardsInProcess


@pytest.fixture(autouse=True)
def ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fleet command prints plain lines, as in CI (a test may delete CI to see a terminal)."""
    monkeypatch.setenv("CI", "true")


@pytest.fixture(scope="session")
def fast_options() -> FetchOptions:
    """Short timeouts and backoff: a hanging tenant costs two seconds, not a minute. Loopback
    allowed: the sandbox fleet is served there."""
    return FetchOptions(concurrency=32, per_host_rps=None, connect_timeout=1.0, read_timeout=1.0, retries=1,
                        backoff=0.05, allow_loopback=True)


@pytest.fixture(scope="module")
def served_fleet() -> Iterator[EmbeddedFleet]:
    """One loopback server for the module's fleets (each test loads the spec it serves)."""
    with EmbeddedFleet(QUICK) as fleet:
        yield fleet


@pytest.fixture
def small_fleet(served_fleet: EmbeddedFleet) -> EmbeddedFleet:
    """The 60-tenant fleet of seed 3, served afresh for the test (flaky tenants fail their first request
    again, nothing written is kept); the test may swap its spec."""
    served_fleet.load(SMALL)
    return served_fleet


@pytest.fixture
def quick_fleet(served_fleet: EmbeddedFleet) -> EmbeddedFleet:
    """:data:`QUICK`, one tenant of each variation that answers at once, served afresh for the test;
    the test may swap its spec."""
    served_fleet.load(QUICK)
    return served_fleet


@pytest.fixture
def at_once_fleet(served_fleet: EmbeddedFleet) -> EmbeddedFleet:
    """:data:`AT_ONCE`, served afresh for the test; the test may swap its spec."""
    served_fleet.load(AT_ONCE)
    return served_fleet


@pytest.fixture
def shards_in_process(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """``--workers N`` runs its shards in this process (:class:`ShardsInProcess`); the commands it would
    have started."""
    import subprocess
    from types import SimpleNamespace

    from harness.fleet import distribute

    commands: list[list[str]] = []
    monkeypatch.setattr(ShardsInProcess, "commands", commands)
    monkeypatch.setattr(distribute, "subprocess", SimpleNamespace(
        Popen=ShardsInProcess, STDOUT=subprocess.STDOUT, TimeoutExpired=subprocess.TimeoutExpired))
    return commands
