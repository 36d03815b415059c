"""Fixtures the checks share across modules: the run's searches, and what each API answered."""

from __future__ import annotations

import pytest

from suites.exercise import SearchCache, SeenResources


@pytest.fixture(scope="session")
def search_cache() -> SearchCache:
    """One search per (version, resource, query) per run, shared by the search, read and data checks."""
    return SearchCache()


@pytest.fixture(scope="session")
def seen() -> SeenResources:
    """A bounded sample of what each API answered, for the US Core and data-contract checks."""
    return SeenResources()
