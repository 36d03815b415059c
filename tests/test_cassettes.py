"""Cassettes: record against the sandbox, replay with it stopped, find drift, and keep secrets and patient data out."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cassettes import Pseudonymizer, Scrubber, cassette_name
from harness.scrub import SecretRegistry
from tests.conftest import DATA, SANDBOX_TENANT, run_harness

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")
SELECTION = ["-m", "discovery or auth or coverage or exercise", "-k", "not expired"]


def record(tmp_path: Path, *faults: str) -> tuple[Path, str, list[str]]:
    from harness.sandbox import EmbeddedSandbox, default_settings

    cassettes = tmp_path / "cassettes"
    with EmbeddedSandbox(default_settings(faults)) as sandbox:
        run = run_harness(tmp_path / "recorded", "--tenant", str(SANDBOX_TENANT), "--base-url", sandbox.base_url,
                          "--mode", "record", "--cassette-dir", str(cassettes), pytest_args=SELECTION)
        issued = list(sandbox.app.state.sandbox.tokens._tokens)
        url = sandbox.base_url
    assert run.exit_code in (0, 1, 5), run.stderr[-2000:]
    return cassettes, url, issued


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[str]]:
    """One record run of the sandbox, shared by the tests that only read what it wrote."""
    return record(tmp_path_factory.mktemp("recorded"))


def test_record_then_replay_offline_gives_identical_results(tmp_path: Path, recorded) -> None:
    cassettes, url, issued = recorded
    replay = run_harness(tmp_path / "replayed", "--tenant", str(SANDBOX_TENANT), "--base-url", url,
                         "--mode", "replay", "--cassette-dir", str(cassettes), pytest_args=SELECTION)
    recorded = json.loads((cassettes / "summary.json").read_text())
    assert {c["id"]: c["outcome"] for c in replay.summary["checks"]} == {c["id"]: c["outcome"] for c in recorded["checks"]}
    assert replay.exit_code == recorded["exit_code"]
    assert len(recorded["checks"]) > 100
    files = list(cassettes.rglob("*.yaml"))
    assert len(files) > 20
    for file in files:
        text = file.read_text("utf-8")
        assert not JWT.search(text) and "PRIVATE KEY" not in text
        assert not any(token in text for token in issued)
        assert "authorization:" not in text.lower()


def test_replay_fails_clearly_on_a_request_the_cassettes_lack(tmp_path: Path) -> None:
    from harness.sandbox import EmbeddedSandbox

    cassettes = tmp_path / "cassettes"
    with EmbeddedSandbox() as sandbox:
        url = sandbox.base_url
        run_harness(tmp_path / "recorded", "--tenant", str(SANDBOX_TENANT), "--base-url", url, "--mode", "record",
                    "--cassette-dir", str(cassettes), pytest_args=["-m", "discovery"])
    replay = run_harness(tmp_path / "replayed", "--tenant", str(SANDBOX_TENANT), "--base-url", url,
                         "--mode", "replay", "--cassette-dir", str(cassettes), pytest_args=["-k", "refuses and aud"])
    check = replay.check("auth.token.refuses[aud]")
    assert check["outcome"] == "broken" and "record the tenant again" in check["message"]
    assert replay.exit_code == 3  # error: the harness could not judge


def test_drift_lists_what_changed(tmp_path: Path, recorded) -> None:
    from harness.sandbox import EmbeddedSandbox, default_settings

    cassettes, _, _ = recorded
    with EmbeddedSandbox(default_settings(["metadata-drop-resource:R4=Practitioner"])) as sandbox:
        live = run_harness(tmp_path / "live", "--tenant", str(SANDBOX_TENANT), "--base-url", sandbox.base_url,
                           pytest_args=SELECTION)
    done = subprocess.run([sys.executable, "-m", "harness", "diff", str(cassettes), str(live.report_dir)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Practitioner.Read (Organizational Directory) (R4): declared True -> False" in done.stdout
    same = subprocess.run([sys.executable, "-m", "harness", "diff", str(cassettes), str(cassettes / "summary.json")],
                          capture_output=True, text=True, timeout=60)
    assert same.returncode == 0 and "no drift" in same.stdout


def test_pseudonyms_are_stable_and_cover_patient_data() -> None:
    patient = json.loads((DATA / "epic" / "mh-patient-read-erXuFYUfucBZaryVksYEcMg3.json").read_text())["body"]
    pseudo = Pseudonymizer(b"test-key")
    once = pseudo.resource(patient)
    text = json.dumps(once)
    for real in ("Lopez", "Camila", patient["birthDate"]):
        assert real not in text
    assert pseudo.resource(once) == once
    assert once["id"] == patient["id"]
    assert Pseudonymizer(b"test-key").resource(patient) == once
    assert pseudo.query("https://x/api/FHIR/R4/Patient?family=Lopez&_count=5") == \
        f"https://x/api/FHIR/R4/Patient?family={pseudo('Lopez')}&_count=5"


def test_scrubber_is_idempotent_on_responses() -> None:
    secrets = SecretRegistry()
    secrets.add("abcdefgh-token")
    response = {"headers": {"Content-Type": ["application/json"], "Date": ["x"]},
                "body": {"string": b'{"access_token": "abcdefgh-token", "scope": "system/Patient.r"}'}}
    scrubber = Scrubber(secrets)
    once = scrubber.response(response)
    body = once["body"]["string"]
    assert b"abcdefgh-token" not in body and "Date" not in once["headers"]
    assert scrubber.response(once)["body"]["string"] == body


def test_cassette_names_are_file_safe() -> None:
    assert cassette_name("suites/test_exercise.py::test_read[Patient.read.Demographics.R4]") == \
        "test_exercise/test_read[Patient.read.Demographics.R4].yaml"


def test_patient_data_scrubbed_consistently_and_replay_still_agrees(tmp_path: Path) -> None:
    from harness.sandbox import EmbeddedSandbox
    from tests.conftest import tenant_variant

    tenant = tenant_variant(tmp_path, append='\n[cassettes]\nscrub_patient_data = true\npseudonym_key_env = "EH_PSEUDONYM_KEY"\n')
    env = {"EH_PSEUDONYM_KEY": "test-only-pseudonym-key"}
    selection = ["-m", "exercise or probing", "-k", "Patient or Practitioner or RelatedPerson"]
    cassettes = tmp_path / "cassettes"
    with EmbeddedSandbox() as sandbox:
        url = sandbox.base_url
        recorded = run_harness(tmp_path / "recorded", "--tenant", str(tenant), "--base-url", url, "--mode", "record",
                               "--cassette-dir", str(cassettes), pytest_args=selection, env=env)
    text = "\n".join(p.read_text() for p in cassettes.rglob("*.yaml"))
    assert "Practitioner" in text and "pseudo-" in text
    for real in ("Camila", "Lopez", "1987-09-12", "1234567893"):
        assert real not in text, real
    replay = run_harness(tmp_path / "replayed", "--tenant", str(tenant), "--base-url", url, "--mode", "replay",
                         "--cassette-dir", str(cassettes), pytest_args=selection, env=env)
    outcomes = {c["id"]: c["outcome"] for c in replay.summary["checks"]}
    assert outcomes == {c["id"]: c["outcome"] for c in recorded.summary["checks"]}
    assert "broken" not in outcomes.values()
