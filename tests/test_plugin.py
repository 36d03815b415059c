"""The pytest plugin on its own (pytester): a crash is an ERROR, never a pass; plain pytest with xdist writes the
same verdict as `epic-harness run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SANDBOX_TENANT

pytest_plugins = ["pytester"]

CHECK_MODULE = '''
from harness.checks import check

@check("demo.ok", title="a check that passes", why="w", source="s", group="discovery", needs=())
def test_ok():
    pass
'''


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    report = pytester.path / "report"
    result = pytester.runpytest_inprocess("--tenant", str(SANDBOX_TENANT), "--base-url", "http://127.0.0.1:9",
                                          "--report-dir", str(report), "--no-history", "-p", "no:cacheprovider",
                                          "-p", "no:randomly", *args)
    return result, json.loads((report / "summary.json").read_text())


def test_a_check_that_passes_alone_is_incomplete_not_ready(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=CHECK_MODULE)
    result, summary = _run(pytester)
    assert summary["counts"]["passed"] == 1
    # nothing of the requested APIs was verified: the gate cannot say READY
    assert summary["gate"] == "incomplete" and result.ret == 5


def test_a_collection_error_is_an_error_with_a_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=CHECK_MODULE, test_broken="raise RuntimeError('this module cannot be imported')")
    result, summary = _run(pytester)
    assert summary["gate"] == "error" and result.ret == 3
    assert "collecting" in summary["gate_reasons"][0] and "cannot be imported" in summary["gate_reasons"][0]
    html = (pytester.path / "report" / "summary.html").read_text()
    assert ">ERROR<" in html and "READY<" not in html.replace("NOT READY<", "")


def test_a_duplicate_check_id_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=CHECK_MODULE + CHECK_MODULE.replace("def test_ok", "def test_other"))
    result, summary = _run(pytester)
    assert summary["gate"] == "error"
    assert "declared twice" in " ".join(summary["gate_reasons"])


def test_plain_pytest_with_xdist_writes_the_verdict_of_epic_harness_run(tmp_path: Path) -> None:
    from harness.sandbox import EmbeddedSandbox

    with EmbeddedSandbox() as sandbox:
        done = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "suites"), "-n", "2", "--tenant",
                               str(SANDBOX_TENANT), "--base-url", sandbox.base_url, "--report-dir",
                               str(tmp_path / "report"), "--no-history", "-m", "discovery", "-p", "no:cacheprovider"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["gate"] == "incomplete" and done.returncode == 5, done.stdout[-2000:]
    assert summary["counts"]["passed"] >= 15 and summary["counts"]["failed"] == 0
    assert "gate: INCOMPLETE" in done.stdout
