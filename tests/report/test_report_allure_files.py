"""The Allure results the harness writes from its verdicts: one result per check that ran, named by its API and
title, with the API (never a Python repr) as its parameter, a history id stable across runs, statuses counted as
the harness counts them, messages saying who must act, and no tenant text raw in them that a terminal or a
browser would act on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.report.allure_files import write_allure
from harness.scrub import REDACTED, SecretRegistry
from tests.report.sample import PATIENT, SECRET, sample_results


def _write(folder: Path, evidence: dict[str, dict[str, Any]] | None = None,
           secrets: SecretRegistry | None = None) -> dict[str, dict[str, Any]]:
    write_allure(sample_results(), folder, secrets or SecretRegistry(), evidence or {})
    documents = [json.loads(p.read_text("utf-8")) for p in folder.glob("*-result.json")]
    return {d["fullName"]: d for d in documents}


def test_one_result_per_check_that_ran_with_the_harnesss_counts(tmp_path: Path) -> None:
    results = sample_results()
    documents = _write(tmp_path / "allure")
    ran = [c for c in results.checks if not c.deselected]
    assert len(documents) == len(ran) == len(results.checks) - 1  # the deselected are in the summary only
    statuses = [d["status"] for d in documents.values()]
    counts = results.counts()
    assert statuses.count("failed") == counts["failed"] and statuses.count("broken") == counts["broken"]
    assert statuses.count("passed") == counts["passed"] + counts["warning"]
    assert statuses.count("unknown") == counts["inconclusive"]
    assert statuses.count("skipped") == counts["blocked"] + counts["skipped"] - 1


def test_names_and_parameters_are_the_apis_and_titles(tmp_path: Path) -> None:
    documents = _write(tmp_path / "allure")
    read = documents[f"exercise.read[{PATIENT}]"]
    assert read["name"] == f"{PATIENT} — title of exercise.read" and read["parameters"] == [{"name": "API", "value": PATIENT}]
    probe = documents["auth.token.refuses[aud]"]
    assert probe["name"] == "title of auth.token.refuses — aud"
    assert probe["parameters"] == [{"name": "parameter", "value": "aud"}]
    assert documents["discovery.smart-configuration.served[]"]["name"] == "title of discovery.smart-configuration.served"
    assert not [d for d in documents.values() for p in d["parameters"] if " at 0x" in p["value"] or "<" in p["value"]]
    labels = {label["name"]: label["value"] for label in read["labels"]}
    assert labels["epic"] == "API exercise" and labels["feature"] == "Patients & demographics"
    assert labels["story"] == PATIENT and labels["severity"] == "critical" and labels["check_id"] == "exercise.read"


def test_history_ids_are_stable_across_runs_and_distinct_per_result(tmp_path: Path) -> None:
    first, second = _write(tmp_path / "one"), _write(tmp_path / "two")
    assert {k: d["historyId"] for k, d in first.items()} == {k: d["historyId"] for k, d in second.items()}
    assert len({d["historyId"] for d in first.values()}) == len(first)
    assert not {d["uuid"] for d in first.values()} & {d["uuid"] for d in second.values()}
    refuses = {d["testCaseId"] for k, d in first.items() if k.startswith("auth.token.refuses[")}
    assert len(refuses) == 1  # one test case, one history per parameter
    write_allure(sample_results(tenant="another tenant"), tmp_path / "other", SecretRegistry(), {})
    other = {json.loads(p.read_text())["historyId"] for p in (tmp_path / "other").glob("*-result.json")}
    assert not other & {d["historyId"] for d in first.values()}  # each tenant keeps its own history


def test_messages_say_who_must_act_without_python_names(tmp_path: Path) -> None:
    documents = _write(tmp_path / "allure")
    message = {k: d["statusDetails"]["message"] for k, d in documents.items()}
    assert message["coverage.declared[Practitioner.Read (Care Team) (R4)]"] == \
        "customer's Epic team: Practitioner is not in the R4 CapabilityStatement"
    assert message["auth.token.refuses[expired]"] == "Epic technical services: issued a token for an expired assertion"
    assert message["exercise.search[Patient.Search (Demographics) (R4)]"].startswith("harness maintainers: ")
    assert message["exercise.paging.0[Patient.Search (Demographics) (R4)]"].startswith(
        "blocked by exercise.search[Patient.Search (Demographics) (R4)]: ")
    assert message["discovery.smart-configuration.signing-algorithms[]"].startswith("warning: token_endpoint_auth")
    assert not [m for m in message.values() if "CheckFailed" in m or "harness.checks" in m or "[tenant-" in m]
    categories = json.loads((tmp_path / "allure" / "categories.json").read_text())
    by_name = {c["name"]: c for c in categories}
    assert {"Who must act: customer's Epic team", "Blocked by a failed precondition"} <= set(by_name)
    for key, document in documents.items():  # each failure lands in the category of who must act
        if document["status"] == "failed":
            matched = [c["name"] for c in categories if document["status"] in c["matchedStatuses"]
                       and re.match(c.get("messageRegex", ""), document["statusDetails"]["message"])]
            assert len(matched) == 1 and matched[0].startswith("Who must act: "), (key, matched)


def test_the_run_level_files(tmp_path: Path) -> None:
    _write(tmp_path / "allure")
    lines = (tmp_path / "allure" / "environment.properties").read_text("utf-8").splitlines()
    assert "Epic.version=May 2026" in lines and "Gate=failed" in lines and "Verified.APIs=30/43" in lines
    # the tenant's line break stays in its own line: no second "Gate=" line
    assert [line for line in lines if line.startswith("Gate=")] == ["Gate=failed"] and len(lines) == 9
    executor = json.loads((tmp_path / "allure" / "executor.json").read_text())
    assert executor["name"] == "epic-harness" and executor["buildName"].endswith("2026-05-01T10:00:00+00:00")


def test_tenant_text_is_plain_and_nothing_raw_acts_in_the_files(tmp_path: Path) -> None:
    evidence = {"suites/test_exercise.py::test_read[Patient.Read]": {
        "HTTP exchanges (scrubbed)": [{"url": "https://epic.example.org/Patient/1", "body": "\u202e\x1b[2J ok, Zoë",
                                       "authorization": f"Bearer {SECRET}"}]}}
    folder = tmp_path / "allure"
    documents = _write(folder, evidence, SecretRegistry([SECRET]))
    for path in folder.iterdir():  # no raw control, bidirectional or line-separator character; no secret
        text = path.read_text("utf-8")
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]",
                             text) and SECRET not in text, path.name
    read = documents[f"exercise.read[{PATIENT}]"]
    for text in (read["name"], read["statusDetails"]["message"]):
        assert not re.search("[\x00-\x1f\x7f-\x9f\u202a-\u202e]", text), text
    assert read["statusDetails"]["message"].startswith('Epic technical services: said "no" <script>')
    (attachment,) = read["attachments"]
    assert attachment["name"] == "HTTP exchanges (scrubbed)"
    exchange = json.loads((folder / attachment["source"]).read_text("utf-8"))[0]
    assert exchange["authorization"] == f"Bearer {REDACTED}" and exchange["body"] == "\u202e\x1b[2J ok, Zoë"
    assert "Zoë" in (folder / attachment["source"]).read_text("utf-8")  # letters stay as they are: searchable
