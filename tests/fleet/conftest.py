"""Fixtures for the fleet tests: a sandbox fleet served on loopback, and fast fetch options."""

from __future__ import annotations

import pytest

from harness.fleet.fetch import FetchOptions
from harness.sandbox.fleet import EmbeddedFleet, build_fleet


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
def big_fleet():
    """420 tenants with every variation (seed 7), served for the whole module."""
    with EmbeddedFleet(build_fleet(seed=7, size=420)) as fleet:
        yield fleet


@pytest.fixture
def small_fleet():
    """A 60-tenant fleet of its own (its spec may be swapped by the test)."""
    with EmbeddedFleet(build_fleet(seed=3, size=60)) as fleet:
        yield fleet
