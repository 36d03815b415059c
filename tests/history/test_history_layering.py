"""The history reads and writes a database and nothing else: of the harness it imports, directly or through
another module, only the catalog, the drift comparison, the fleet's pure comparison and release parsing
and the errors; never the plugin, the CLI, the checks, the sandbox, a sender or anything that opens a
connection. The import graph is grimp's, as import-linter builds it for the contracts in pyproject.toml
(``tests/test_architecture.py`` runs those: the layers, so the fleet never imports the history; these
are stricter, and for the history alone)."""

from __future__ import annotations

import grimp
import pytest

HISTORY = "harness.history"
#: harness modules the history may reach (``harness`` itself: the version; ``harness.lazy``: the packages'
#: names imported on first use, standard library only)
ALLOWED = {"harness", "harness.catalog", "harness.drift", "harness.errors", "harness.fleet.baseline",
           "harness.fleet.release", "harness.lazy"}
#: packages that open connections
SENDERS = {"httpx", "httpcore", "requests", "urllib3", "aiohttp", "socket", "ssl", "http", "asyncio", "vcr"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("harness", "suites", include_external_packages=True, cache_dir=None)  # writes nothing


def _outside(graph: grimp.ImportGraph) -> set[str]:
    """Every module outside the history that the history reaches, packages as one."""
    return {m for m in graph.find_upstream_modules(HISTORY, as_package=True) if not m.startswith(HISTORY + ".")}


def test_the_history_reaches_only_its_allowed_layers(graph):
    reached = {m for m in _outside(graph) if m == "harness" or m.startswith(("harness.", "suites"))}
    catalog = {m for m in reached if m.startswith("harness.catalog.")}
    assert reached - catalog - ALLOWED == set(), sorted(reached - catalog - ALLOWED)


def test_nothing_the_history_reaches_opens_a_connection(graph):
    assert _outside(graph) & SENDERS == set()
    importers = sorted(m for m in graph.find_descendants(HISTORY) | {HISTORY}
                       if "urllib" in graph.find_modules_directly_imported_by(m))
    for module in importers:
        lines = [d["line_contents"] for d in graph.get_import_details(importer=module, imported="urllib")]
        assert all(line.startswith("from urllib.parse import") for line in lines), (module, lines)


def test_the_check_fails_when_the_history_imports_a_sender(graph):
    """The rule can fail: a history module importing the fleet's fetcher (which reaches httpx) breaks both."""
    graph.add_import(importer="harness.history.store", imported="harness.fleet.fetch")
    try:
        reached = _outside(graph)
        assert "harness.fleet.fetch" in reached and "httpx" in reached
    finally:
        graph.remove_import(importer="harness.history.store", imported="harness.fleet.fetch")
    assert "harness.fleet.fetch" not in _outside(graph)
