"""Shared fixtures for the harness's own tests: run the harness as a user does, against a sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest

from tests.support import e2e

ROOT = Path(__file__).resolve().parents[1]
PASSED, FAILED, USAGE, ERROR, INCOMPLETE = 0, 1, 2, 3, 5  # the gate's exit codes
SANDBOX_TENANT = ROOT / "harness" / "sandbox" / "tenant" / "sandbox.toml"
DATA = Path(__file__).parent / "data"


@dataclass
class HarnessRun:
    exit_code: int
    stdout: str
    stderr: str
    report_dir: Path

    @cached_property
    def summary(self) -> dict[str, Any]:
        """summary.json, read once (it is a few MB: a test asking for it in a loop would parse it each time)."""
        return json.loads((self.report_dir / "summary.json").read_text("utf-8"))

    def outcomes(self, *, deselected: bool = False) -> dict[str, str]:
        """Each check's outcome; checks deselected by -m/-k are left out unless asked for."""
        return {c["id"]: c["outcome"] for c in self.summary["checks"]
                if deselected or not (c["message"] or "").startswith("deselected")}

    def check(self, check_id: str) -> dict[str, Any]:
        found = [c for c in self.summary["checks"] if c["id"] == check_id]
        assert found, f"no check {check_id} in the run; checks: {sorted(self.outcomes())[:20]}..."
        return found[0]

    def api(self, name: str) -> dict[str, Any]:
        return next(a for a in self.summary["apis"] if a["name"] == name)


HISTORY_ENV = "EPIC_HARNESS_HISTORY"

@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Only a test marked e2e may start the harness's run or fleet in a child process (tests/support/e2e.py)."""
    e2e.allowed = item.get_closest_marker("e2e") is not None
    try:
        return (yield)
    finally:
        e2e.allowed = False


@pytest.fixture(scope="session", autouse=True)
def history_outside_the_repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every run the tests start (in this process or a child) records into a history of the test session's
    own unless it names one: never into the repository's reports/history.sqlite."""
    path = tmp_path_factory.mktemp("history") / "session-history.sqlite"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HISTORY_ENV, str(path))
        yield path


@pytest.fixture(autouse=True)
def checks_of_a_test_leave_with_it() -> Iterator[None]:
    """A check a test declares in process (a pytester checks file, say) is forgotten after it, so that no other
    test of the same worker finds it among the harness's checks; the checks of suites/ stay registered."""
    from harness.checks import REGISTRY

    before = set(REGISTRY)
    yield
    for check_id in set(REGISTRY) - before:
        if not REGISTRY[check_id].origin.startswith("suites."):
            del REGISTRY[check_id]


def run_harness(report_dir: Path, *args: str, pytest_args: Iterable[str] = (), timeout: float = 300,
                env: dict[str, str] | None = None) -> HarnessRun:
    """``epic-harness run`` in a child process, exactly as a user types it. The run is recorded, as every run
    is, into a history beside its report folder (``$EPIC_HARNESS_HISTORY``) unless ``args`` name another."""
    argv = [sys.executable, "-m", "harness", "run", "--report-dir", str(report_dir), *args]
    extra = list(pytest_args)
    if extra:
        argv += ["--", *extra]
    history = {HISTORY_ENV: str(report_dir.parent / f"{report_dir.name}-history.sqlite")}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=report_dir.parent,
                          env={**os.environ, "CI": "true", **history, **(env or {})})
    return HarnessRun(done.returncode, done.stdout, done.stderr, report_dir)


@pytest.fixture
def sandbox_run(tmp_path: Path):
    """Start a sandbox with the given faults in this process, run the harness against it."""
    from harness.sandbox import EmbeddedSandbox, default_settings

    def run(*faults: str, pytest_args: Iterable[str] = (), tenant: Path = SANDBOX_TENANT,
            extra: Iterable[str] = ()) -> HarnessRun:
        with EmbeddedSandbox(default_settings(faults)) as sandbox:
            return run_harness(tmp_path / "report", "--tenant", str(tenant), "--base-url", sandbox.base_url,
                               *extra, pytest_args=pytest_args)

    return run


def tenant_variant(tmp_path: Path, *, replace: dict[str, str] | None = None, append: str = "",
                   drop_table: str | None = None, file_name: str = "variant.toml") -> Path:
    """A copy of the sandbox tenant file with some text changed; its key paths stay valid."""
    text = SANDBOX_TENANT.read_text()
    if drop_table:
        start = text.index(f"[{drop_table}]")
        end = text.index("\n[", start + 1) + 1
        text = text[:start] + text[end:]
    for old, new in (replace or {}).items():
        assert old in text, f"{old!r} is not in the sandbox tenant file"
        text = text.replace(old, new)
    text = text.replace('"keys/', f'"{SANDBOX_TENANT.parent}/keys/').replace(
        '"sandbox-app.jwks.json"', f'"{SANDBOX_TENANT.parent}/sandbox-app.jwks.json"')
    path = tmp_path / file_name
    path.write_text(text + append)
    return path
