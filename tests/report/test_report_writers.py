"""Every writer at once (``write_all``): one scrubbing boundary before any of them, so that no secret of the run
is in any file written; every report counting what the results count; a writer that fails named, the others
still written."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report.writers import WriteContext, write_all
from harness.scrub import REDACTED, SecretRegistry
from tests.report.sample import PATIENT, SECRET, sample_results

FILES = ("summary.json", "summary.md", "summary.html", "junit.xml")


def _context(tmp_path: Path, secrets: SecretRegistry | None = None) -> WriteContext:
    evidence = {"suites/test_exercise.py::test_read[Patient.Read]": {
        "HTTP exchanges (scrubbed)": [{"url": "https://epic.example.org/Patient/1", "said": f"token {SECRET}"}]}}
    return WriteContext(report_dir=tmp_path, secrets=secrets or SecretRegistry([SECRET]),
                        allure_dir=tmp_path / "allure-results", evidence=evidence)


def test_no_secret_of_the_run_is_in_any_file(tmp_path: Path) -> None:
    leaked = f"the tenant echoed {SECRET} back"
    results = sample_results(tenant=f"tenant {SECRET}", message=leaked)
    clean, errors = write_all(results, _context(tmp_path))
    assert errors == []
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= set(FILES) and len(list((tmp_path / "allure-results").iterdir())) > 40
    for path in written:
        assert SECRET not in path.read_text("utf-8"), path.relative_to(tmp_path)
    read = next(c for c in clean.checks if c.id == f"exercise.read[{PATIENT}]")
    assert read.message == f"the tenant echoed {REDACTED} back" and clean.tenant == f"tenant {REDACTED}"
    assert results.tenant == f"tenant {SECRET}"  # the run's own results are left as they were


def test_a_secret_learnt_from_the_tenants_answer_is_scrubbed_too(tmp_path: Path) -> None:
    learnt = "learnt-access-token-abcdefghij0123"
    results = sample_results(message=f'the tenant echoed {{"access_token": "{learnt}"}}')
    results.checks[0].notes = [f"seen again: {learnt}"]  # written before the message that teaches it
    write_all(results, _context(tmp_path, SecretRegistry()))
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and learnt in p.read_text("utf-8")]


def test_every_report_counts_what_the_results_count(tmp_path: Path) -> None:
    results = sample_results()
    write_all(results, _context(tmp_path))
    counts = results.counts()
    assert json.loads((tmp_path / "summary.json").read_text())["counts"] == counts
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == (
        str(sum(counts.values())), str(counts["failed"]), str(counts["broken"]))
    statuses = [json.loads(p.read_text())["status"] for p in (tmp_path / "allure-results").glob("*-result.json")]
    assert statuses.count("failed") == counts["failed"] and statuses.count("broken") == counts["broken"]
    line = "12 failed, 1 broken, 5 blocked, 1 inconclusive, 3 skipped, 1 warning, 32 passed"
    assert f"- Checks: {line}\n" in (tmp_path / "summary.md").read_text()
    assert f"<td>Checks</td><td>{line}</td>" in (tmp_path / "summary.html").read_text()


def test_a_writer_that_fails_is_named_and_the_others_still_write(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").mkdir()  # a folder where the file should go
    _, errors = write_all(sample_results(), _context(tmp_path))
    assert len(errors) == 1 and errors[0].startswith("junit.xml: ")
    assert all((tmp_path / name).is_file() for name in FILES if name != "junit.xml")
    assert (tmp_path / "allure-results" / "environment.properties").is_file()
