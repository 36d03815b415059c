"""The CLI as a user meets it: several tenants at once, progress only at a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_harness, tenant_variant


def _tenant(tmp_path: Path, name: str, extra: str = "") -> Path:
    return tenant_variant(tmp_path, replace={'name = "sandbox"': f'name = "{name}"'}, append=extra,
                          file_name=f"{name}.toml")


@pytest.mark.e2e
def test_several_tenants_each_with_its_own_report_and_gate(tmp_path: Path) -> None:
    from harness.sandbox import EmbeddedSandbox

    with EmbeddedSandbox() as sandbox:
        good = _tenant(tmp_path, "good")
        broken = _tenant(tmp_path, "broken", f'\n[fhir]\nR4 = "{sandbox.base_url}/nowhere/api/FHIR/R4"\n')
        run = run_harness(tmp_path / "report", "--tenant", str(good), "--tenant", str(broken),
                          "--base-url", sandbox.base_url, pytest_args=["-m", "discovery"])
    assert run.exit_code == 1
    assert "good: gate INCOMPLETE" in run.stdout and "broken: gate FAILED" in run.stdout  # -m: a selection
    assert (run.report_dir / "good" / "summary.json").is_file()
    assert (run.report_dir / "broken" / "summary.json").is_file()


def test_progress_is_quiet_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.report import progress

    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    monkeypatch.setenv("CI", "true")
    assert progress.wanted() is False
    monkeypatch.delenv("CI")
    assert progress.wanted() is True
