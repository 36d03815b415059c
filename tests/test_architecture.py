"""The layering ARCHITECTURE.md states, enforced: who may import whom (import-linter's contracts in
pyproject.toml), every module placed in a layer, and only the client and the fleet's fetcher send HTTP."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_hold() -> None:
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "broken" in done.stdout and " 0 broken" in done.stdout


def test_every_module_of_the_harness_has_a_layer() -> None:
    layers = next(c for c in _contracts() if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    tops = {f"harness.{p.stem if p.is_file() else p.name}" for p in (ROOT / "harness").iterdir()
            if (p.suffix == ".py" and p.stem not in ("__init__", "__main__")) or (p.is_dir() and (p / "__init__.py").exists())}
    assert tops - placed == set(), f"add these to a layer in pyproject.toml and ARCHITECTURE.md: {sorted(tops - placed)}"


def test_the_checks_never_know_they_face_a_sandbox() -> None:
    for path in sorted((ROOT / "suites").rglob("*.py")):
        text = path.read_text("utf-8").lower()
        assert "127.0.0.1" not in text and "harness-sandbox" not in text, path.relative_to(ROOT)


def test_only_the_client_and_the_fleet_fetcher_send_http() -> None:
    senders = {"harness/client.py", "harness/fleet/fetch.py"}
    for path in sorted((ROOT / "harness").rglob("*.py")) + sorted((ROOT / "suites").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in senders or rel.startswith("harness/sandbox/"):
            continue
        text = path.read_text("utf-8")
        assert "httpx.Client(" not in text and "httpx.AsyncClient(" not in text, f"{rel} builds its own HTTP client"


def _modules(folder: Path) -> set[str]:
    return {p.stem if p.is_file() else p.name for p in folder.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}


def _tests_of(name: str, modules: set[str]) -> bool:
    """``test_<module>.py`` or ``test_<module>_<what>.py`` for one of ``modules``."""
    return any(name == f"test_{m}" or name.startswith(f"test_{m}_") for m in modules)


def test_the_tests_mirror_the_source_tree() -> None:
    """tests/<package>/ holds the tests of harness/<package>/, tests/test_<module>*.py those of harness/<module>.py,
    tests/suites/ those of the checks in suites/; tests/e2e/ the end-to-end runs, tests/support/ what tests share."""
    tests = ROOT / "tests"
    packages = {p.name for p in (ROOT / "harness").iterdir() if (p / "__init__.py").exists()}
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name not in ("__pycache__", "data")}
    assert folders - packages - {"suites", "e2e", "support"} == set(), "a test folder that mirrors nothing"
    top = {p.stem for p in tests.glob("test_*.py")} - {"test_architecture"}
    stray = sorted(n for n in top if not _tests_of(n, _modules(ROOT / "harness") - packages))
    assert stray == [], f"name these after the harness module they test, or move them into its folder: {stray}"
    checks = sorted(p.stem for p in (tests / "suites").glob("test_*.py"))
    suites = {m.removeprefix("test_") for m in _modules(ROOT / "suites")} | _modules(ROOT / "suites")
    assert [n for n in checks if not _tests_of(n, suites)] == [], "tests/suites/ mirrors suites/"
    for path in (tests / "e2e").glob("test_*.py"):
        text = path.read_text("utf-8")
        assert "pytest.mark.e2e" in text, f"{path.name}: tests/e2e/ holds end-to-end runs, marked e2e"
