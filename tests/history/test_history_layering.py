"""The history layer imports what ARCHITECTURE.md says: the catalog, the drift and the fleet's pure
comparison and release modules, the errors; never the plugin, the CLI, the checks, the sandbox or a sender."""

from __future__ import annotations

from pathlib import Path

from tests.test_architecture import imports_of

ROOT = Path(__file__).parents[2]
ALLOWED = ("harness.history", "harness.catalog", "harness.drift", "harness.fleet.baseline", "harness.fleet.release",
           "harness.errors")


def test_the_history_imports_only_its_own_layers():
    for path in sorted((ROOT / "harness" / "history").rglob("*.py")):
        for name in imports_of(path):
            if name == "harness":  # the version
                continue
            if name.startswith(("harness", "suites")):
                assert name.startswith(ALLOWED), f"{path.relative_to(ROOT)} imports {name}"
            assert not name.startswith(("httpx", "requests", "urllib.request")), f"{path.relative_to(ROOT)} sends"
