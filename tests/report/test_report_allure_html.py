"""``epic-harness report``: the Allure HTML report built offline from a report folder, with no tracking tag in it;
without a pinned Allure, one line naming the command that installs it, and nothing fetched or half-built."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.report.allure_html import find_allure, strip_tracking
from harness.report.writers import WriteContext, write_all
from harness.scrub import SecretRegistry
from tests.report.sample import sample_results


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "report"
    folder.mkdir()
    write_all(sample_results(), WriteContext(report_dir=folder, secrets=SecretRegistry(),
                                             allure_dir=folder / "allure-results"))
    return folder


def test_tracking_tags_are_stripped() -> None:
    page = ('<html><head><script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
            '<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}</script>'
            '<script src="app.js"></script></head></html>')
    assert strip_tracking(page) == '<html><head><script src="app.js"></script></head></html>'
    bundle = '<script src="data:text/javascript;base64,KGZ1bmN0aW9uKCl7gtagdataLayerxx"></script>'
    assert strip_tracking(bundle) == bundle


def test_without_allure_it_says_the_command_that_installs_it(report_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("EPIC_HARNESS_ALLURE", raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    assert main(["report", str(report_dir)]) == 2
    err = capsys.readouterr().err
    assert f"npm install --prefix {tmp_path / 'empty-cache'}/epic-harness/allure allure@3.18.0" in err
    assert "allure-results" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (report_dir / "allure-report").exists()  # nothing fetched, nothing half-built


def test_a_folder_without_allure_results_is_named(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert f"{tmp_path} has no allure-results/ folder" in capsys.readouterr().err


def test_the_report_is_one_file_without_analytics(report_dir: Path, capsys) -> None:
    try:
        find_allure()
    except UsageError as exc:
        pytest.skip(f"no pinned Allure installed here ({exc}); the message without it is tested above")
    assert main(["report", str(report_dir)]) == 0, capsys.readouterr().err[-1000:]
    index = report_dir / "allure-report" / "index.html"
    html = index.read_text("utf-8", "replace")
    assert index.stat().st_size > 1_000_000, "the report's own bundle was lost"
    assert "googletagmanager" not in html and "google-analytics" not in html
    assert [p.name for p in index.parent.iterdir()].count("index.html") == 1
    assert f"Allure report: {index}" in capsys.readouterr().out
