"""Cassettes: record against the sandbox, replay with nothing served, find drift, and keep secrets and patient data out.

The checks are recorded and replayed in process (``tests/support/recorded.py``: vcrpy, the scrubbing and the
matching of ``harness.cassettes``, the preflight in the session cassette and each check in its own, as a run
does); one end-to-end record and replay runs the whole path, offline and without the app's secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cassettes import Pseudonymizer, Scrubber, cassette_name
from harness.cli import main
from harness.report.summary import write_summary_json
from harness.scrub import SecretRegistry
from harness.token_probes import PROBES
from tests.conftest import DATA, INCOMPLETE, SANDBOX_TENANT, run_harness, tenant_variant
from tests.support.checks import Judged, judge, requested_api, results_of, sandbox_app, tenant_state
from tests.support.patient_data import enrich_store, written_values
from tests.support.recorded import Offline, cassette_text, differing, judge_recorded, outcomes, recorded_state

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")
ELSEWHERE = "http://127.0.0.1:9999"  # a replay's base URL: not the recording's, and nothing listens there

SESSION_CHECKS = ("preflight.reachable", "discovery.smart-configuration.served", "discovery.smart-configuration.token-endpoint",
                  "discovery.foreign-origins", "auth.token.issued", "auth.token.response", "auth.token.scopes-parse",
                  "auth.assertion.rules", "auth.jwks.matches-key", "auth.token.refuses-replayed-jti",
                  "auth.fhir.no-token", "auth.fhir.invalid-token", "scopes.granted-as-requested", "scopes.narrowing",
                  "scopes.unknown-refused", "scopes.v1-v2", "scopes.write-outside-registration")
API_CHECKS = {  # paging through opaque next links, POST _search, $match, hypothesis probes drawn reproducibly
    "Patient.Read (Demographics) (R4)": ("coverage.declared", "coverage.granted", "exercise.read", "contract.fields"),
    "Patient.Search (Demographics) (R4)": ("exercise.search", "search.patient-restriction", "search.post-equivalence",
                                           "search.identifier", "probe.search"),
    "Practitioner.Search (Organizational Directory) (R4)": ("exercise.search", "search.or-list", "search.token",
                                                            "search.count", "profile.us-core"),
    "Patient.$match (Patient Match) (R4)": ("exercise.patient-match",),
    "Patient.Search (STU3)": ("exercise.search",),
}


def battery(state) -> list[Judged]:  # type: ignore[no-untyped-def]
    """The discovery, token, token-probe and scope checks, and some checks of five APIs, in a fixed order."""
    judged = [judge_recorded(state, check_id) for check_id in SESSION_CHECKS]
    judged += [judge_recorded(state, "discovery.metadata.served", fhir_version=v) for v in state.discovery.versions]
    judged += [judge_recorded(state, "auth.token.refuses", probe=p) for p in PROBES]
    for name, checks in API_CHECKS.items():
        judged += [judge_recorded(state, check_id, api=requested_api(state, name)) for check_id in checks]
    return judged


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Judged], list[str]]:
    """One recording of the battery, in process: its folder, the outcomes and every token the sandbox issued."""
    folder = tmp_path_factory.mktemp("recorded")
    app = sandbox_app()
    with recorded_state("record", folder / "cassettes", app=app, tmp_path=folder) as state:
        judged = battery(state)
    return folder / "cassettes", judged, list(app.state.sandbox.tokens._tokens)


def test_a_recording_replays_with_identical_outcomes_elsewhere_and_offline(recorded, tmp_path: Path) -> None:
    cassettes, before, _ = recorded
    assert len(before) > 50 and set(outcomes(before).values()) <= {"passed", "warning", "inconclusive"}, before
    offline = Offline()
    with recorded_state("replay", cassettes, offline=offline, base_url=ELSEWHERE, tmp_path=tmp_path) as state:
        after = battery(state)
    assert offline.sent == []  # every answer came from the cassettes
    # matched on method, path and query, not on the host and port
    assert not differing(before, after) and len(after) == len(before), differing(before, after)


def test_a_replay_past_its_cassettes_sends_nothing(recorded, tmp_path: Path) -> None:
    """The control of the test above: without vcrpy in front, the offline transport is reached and says so."""
    cassettes, _, _ = recorded
    offline = Offline()
    with tenant_state(handler=offline, mode="replay", cassette_dir=cassettes, base_url=ELSEWHERE, tmp_path=tmp_path) as state:
        assert judge(state, "discovery.smart-configuration.served").outcome == "failed"
    assert offline.sent and offline.sent[0].endswith("/.well-known/smart-configuration")


def test_the_cassettes_hold_no_token_assertion_key_or_authorization(recorded) -> None:
    cassettes, _, issued = recorded
    files = cassette_text(cassettes)
    assert len(files) > 30 and len(issued) >= 3
    everything = "\n".join(files.values())
    assert "/oauth2/token" in everything and "client_assertion" in everything  # the token requests are there
    assert not JWT.search(everything) and "PRIVATE KEY" not in everything
    assert not [token for token in issued if token in everything]
    assert "authorization:" not in everything.lower()


def test_replay_fails_clearly_on_a_request_the_cassettes_lack(tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    with recorded_state("record", cassettes, tmp_path=tmp_path):
        pass  # the session only: discovery and the token
    with recorded_state("replay", cassettes, tmp_path=tmp_path) as state:
        aud = next(p for p in PROBES if p.id == "aud")
        refused = judge_recorded(state, "auth.token.refuses", probe=aud)
        assert refused.outcome == "broken" and "record the tenant again" in refused.message
        assert refused.result.category == "harness-error"
        results = results_of(state)
    assert results.gate.state.value == "error" and results.gate.exit_code == 3  # the harness could not judge


def _declared_summary(folder: Path, *faults: str, mode: str = "live") -> Path:
    """summary.json of a run of coverage.declared for every requested API (recorded into ``folder`` when recording)."""
    folder.mkdir(parents=True)
    if mode == "record":
        context = recorded_state("record", folder, *faults, tmp_path=folder)
    else:
        context = tenant_state(*faults, tmp_path=folder)
    with context as state:
        for api in state.tenant.requested.apis:
            (judge_recorded if mode == "record" else judge)(state, "coverage.declared", api=api)
        write_summary_json(results_of(state), folder / "summary.json")
    return folder


def test_drift_lists_what_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cassettes = _declared_summary(tmp_path / "cassettes", mode="record")
    live = _declared_summary(tmp_path / "live", "metadata-drop-resource:R4=Practitioner")
    assert main(["diff", str(cassettes), str(live)]) == 1
    out = capsys.readouterr().out
    assert "Practitioner.Read (Organizational Directory) (R4): declared True -> False" in out
    assert "coverage.declared[Practitioner.Read (Organizational Directory) (R4)]: outcome 'passed' -> 'failed'" in out
    assert "Patient.Read (Demographics) (R4)" not in out  # only what changed
    assert main(["diff", str(cassettes), str(cassettes / "summary.json")]) == 0
    assert "no drift" in capsys.readouterr().out


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


# -- end to end: the whole path, offline, without the app's secrets -------------------------------------------

E2E_APIS = ["Patient.Read (Demographics) (R4)", "Patient.Search (Demographics) (R4)", "Patient.Create (Demographics) (R4)",
            "Patient.$match (Patient Match) (R4)", "Coverage.Search (Patient Insurance Information) (R4)",
            "Condition.Search (Reason for Visit) (R4)", "QuestionnaireResponse.Search (Patient-Entered Questionnaires) (R4)",
            "QuestionnaireResponse.Create (Patient-Entered Questionnaires) (R4)",
            "DocumentReference.Create (Clinical Notes) (R4)", "RelatedPerson.Search (Friends and Family) (R4)",
            "Encounter.Search (Patient Chart) (R4)", "Communication.Search (Patient Education) (R4)",
            "Flag.Search (Patient FYI) (R4)", "List.Search (Problems) (R4)", "Consent.Search (Document) (R4)",
            "ServiceRequest.Search (Orders) (R4)", "Task.Update (Community Resource) (R4)",
            "Practitioner.Search (Organizational Directory) (R4)", "Patient.Search (STU3)"]
PSEUDONYM_KEY = "test-only-pseudonym-key"


@pytest.mark.e2e
def test_record_then_replay_offline_without_secrets_writes_no_secret_or_patient_value(tmp_path: Path) -> None:
    """`epic-harness run --mode record` against a sandbox rich in patient data, with the app's client id and key
    given by environment variables and patient-data scrubbing on; then `--mode replay` with the sandbox stopped
    and those variables unset: the same outcomes (the app's own credentials reported as not checked), the same
    exit code, and no secret and no patient value in any file either run wrote or in what they printed."""
    from harness.history.load import summary as stored_summary
    from harness.history.store import History
    from harness.sandbox import EmbeddedSandbox
    from tests.history.test_history_real_runs import assert_summary_kept

    key = (SANDBOX_TENANT.parent / "keys" / "sandbox-rs384.pem").read_text()
    tenant = tenant_variant(tmp_path, replace={
        'client_id = "harness-sandbox-nonprod"': 'client_id_env = "TEST_EPIC_CLIENT_ID"',
        'private_key = "keys/sandbox-rs384.pem"': 'private_key_env = "TEST_EPIC_PRIVATE_KEY"',
        'set = "careforce-phoenix"': f"list = {json.dumps(E2E_APIS)}"},
        append='\n[cassettes]\nscrub_patient_data = true\npseudonym_key_env = "EH_PSEUDONYM_KEY"\n')
    secrets = {"TEST_EPIC_CLIENT_ID": "harness-sandbox-nonprod", "TEST_EPIC_PRIVATE_KEY": key}
    cassettes, named = tmp_path / "cassettes", tmp_path / "named" / "history.sqlite"
    selection = ["-k", "not expired"]  # the expired-token check waits for a token to expire
    with EmbeddedSandbox() as sandbox:
        values = enrich_store(sandbox.app.state.sandbox.fhir.store)
        url = sandbox.base_url
        recorded = run_harness(tmp_path / "recorded", "--tenant", str(tenant), "--base-url", url, "--mode", "record",
                               "--cassette-dir", str(cassettes), "--history", str(named), pytest_args=selection,
                               env={**secrets, "EH_PSEUDONYM_KEY": PSEUDONYM_KEY})
        issued = list(sandbox.app.state.sandbox.tokens._tokens)
    assert recorded.exit_code == INCOMPLETE, recorded.stderr[-2000:]  # one check deselected, nothing failed
    replay = run_harness(tmp_path / "replayed", "--tenant", str(tenant), "--base-url", url, "--mode", "replay",
                         "--cassette-dir", str(cassettes), pytest_args=selection,
                         env={**{k: "" for k in secrets}, "EH_PSEUDONYM_KEY": PSEUDONYM_KEY})
    assert replay.exit_code == recorded.exit_code == recorded.summary["exit_code"], replay.stderr[-2000:]

    own = ("auth.assertion.rules", "auth.jwks.matches-key")  # the app's own credentials: a stand-in signed the replay
    for check_id in own:
        check = replay.check(check_id)
        assert check["outcome"] == "skipped" and "stand-in" in check["message"] and check["required"] is False
        assert recorded.check(check_id)["outcome"] == "passed"
    before = {k: v for k, v in recorded.outcomes().items() if k not in own}
    after = {k: v for k, v in replay.outcomes().items() if k not in own}
    assert after == before and len(before) > 150 and "broken" not in before.values()
    assert {"passed", "inconclusive"} <= set(before.values())

    phones = [v for v in values if re.fullmatch(r"\d{3}-\d{3}-\d{4}", v)]
    assert len(values) > 100 and phones and "Cedarbrook1" in " ".join(values)
    written = {str(p): p.read_text("utf-8", "replace")  # every file the two runs wrote, and what they printed
               for folder in (cassettes, recorded.report_dir, replay.report_dir) for p in folder.rglob("*") if p.is_file()}
    written |= {"stdout": recorded.stdout + replay.stdout, "stderr": recorded.stderr + replay.stderr}
    everything = "\n".join(written.values())
    assert len(written) > 40 and "pseudo-" in everything and "subscriberId" in everything
    assert "client_assertion" in everything and len(issued) >= 3
    found = written_values(values, everything) + [v for v in ("Camila", "1987-09-12", "1234567893") if v in everything]
    assert found == [], f"{len(found)} patient values written, e.g. {found[:5]}"
    assert not JWT.search(everything) and "PRIVATE KEY" not in everything and key.splitlines()[1] not in everything
    assert not [token for token in issued if token in everything]
    assert "authorization:" not in "\n".join(cassette_text(cassettes).values()).lower()

    # the record run went into the history it named, whole, and into no other
    assert not (tmp_path / "recorded-history.sqlite").exists()
    with History(named) as history, history.read() as conn:
        assert_summary_kept(stored_summary(conn, 1), recorded.summary)
