"""The token endpoint's checks (suites/test_token_endpoint.py) judged in process: every bad token request
refused by a correct endpoint, and caught when the sandbox skips exactly the rule(s) it breaks; no refusal
called proof without an accepted control; the FHIR side's 401s, on the sandbox and on an independent,
non-Epic server that checks the scope first."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

import suites.test_token_endpoint as token_checks
from harness.checks import CheckContext, CheckFailed, Inconclusive
from harness.report.html import render
from harness.scrub import REDACTED
from harness.token_probes import PROBES
from tests.conftest import tenant_variant
from tests.support.checks import Judged, judge, judge_each, judge_run, results_of, sandbox_app, tenant_state
from tests.support.smart_server import independent_state

# The sandbox rule(s) a probe breaks: skipping them makes the sandbox accept that probe's request.
SKIPPED_RULES = {
    "grant-type": ["grant-type"],
    "assertion-type": ["assertion-type"],
    "json-body": ["form-body"],
    "aud": ["aud"],
    "iss": ["client", "iss-sub"],
    "iss-sub": ["iss-sub"],
    "unknown-client": ["client"],
    "exp-missing": ["exp-missing"],
    "exp-expired": ["exp-expired"],
    "exp-max": ["exp-max", "exp-nbf", "exp-iat"],
    "iat-future": ["iat-future", "nbf-future"],
    "jti-missing": ["jti-missing"],
    "alg-none": ["alg", "signature"],
    "hs256-public-key": ["alg", "signature"],
    "signature": ["signature"],
    "kid": ["kid"],
    "jku": ["jku"],
}
BY_ID = {p.id: p for p in PROBES}
REPLAY = "auth.token.refuses-replayed-jti"
FHIR_SIDE = ("auth.fhir.no-token", "auth.fhir.invalid-token", "auth.fhir.expired-token")
PATIENT_READ = "Patient.Read (Demographics) (R4)"
LAX = frozenset({"exp-max", "jti-missing", "jti-replay"})


def refusals(state) -> dict[str, Judged]:  # type: ignore[no-untyped-def]
    """Every bad-request check of a run: one per probe, and the replayed jti."""
    return {**judge_each(state, "auth.token.refuses"), **judge_each(state, REPLAY)}


def failed(judged: dict[str, Judged]) -> set[str]:
    return {k for k, j in judged.items() if j.outcome == "failed"}


def test_every_probe_has_a_fault_or_is_unskippable() -> None:
    assert set(SKIPPED_RULES) | {"missing-assertion"} == {p.id for p in PROBES}


def test_a_correct_token_endpoint_refuses_every_probe_against_an_accepted_control() -> None:
    with tenant_state() as state:
        judged = refusals(state)
    assert len(judged) == len(PROBES) + 1
    assert {j.outcome for j in judged.values()} <= {"passed", "warning"}, {k: j for k, j in judged.items()
                                                                         if j.outcome not in ("passed", "warning")}
    assert all(any("the control was accepted" in n for n in j.result.notes) for j in judged.values())


@pytest.mark.parametrize("probe", sorted(SKIPPED_RULES))
def test_each_probe_fails_exactly_when_its_rules_are_skipped(probe: str) -> None:
    skipped = set(SKIPPED_RULES[probe])
    app = sandbox_app(*[f"token-skip:{rule}" for rule in sorted(skipped)])
    with tenant_state(app=app) as state:
        judged = refusals(state)
        before = set(app.state.sandbox.tokens._tokens)
    # the probes that break only skipped rules are accepted, and only they: the replay and the rest still refused
    expected = {f"auth.token.refuses[{p}]" for p, rules in SKIPPED_RULES.items() if set(rules) <= skipped}
    assert failed(judged) == expected
    bad = judged[f"auth.token.refuses[{probe}]"]
    assert bad.message.startswith("SECURITY: the token endpoint issued a token for a request with")
    assert bad.result.category == "tenant-fault"
    # the token it was wrongly issued is one of the run's secrets: no report can carry it
    assert before and all(state.secrets.scrub_text(t) == REDACTED for t in before)


def test_a_replayed_jti_is_caught_by_its_own_check_alone() -> None:
    with tenant_state("token-skip:jti-replay") as state:
        judged = refusals(state)
    assert failed(judged) == {REPLAY}
    assert judged[REPLAY].message == "SECURITY: the token endpoint issued a token for a request with a jti already used"


def test_negative_checks_switched_off_send_no_bad_request(tmp_path: Path) -> None:
    tenant = tenant_variant(tmp_path, replace={"[checks]\n": "[checks]\nnegative_auth = false\n"})
    with tenant_state("token-skip:aud", tenant_file=tenant) as state:
        judged = refusals(state)
        posts = [e for e in state.client.log if e.method == "POST"]
    assert {j.outcome for j in judged.values()} == {"skipped"}
    assert all("negative auth checks are off" in j.message for j in judged.values())
    assert len(posts) == 1 and state.token_requests == 1  # the run's own token; no probe, no control


# -- no control accepted, no proof: an endpoint that checks the scope first ----------------------------------

def test_an_epic_endpoint_checking_scope_first_gives_no_false_refusal(tmp_path: Path) -> None:
    faults = ("token-order:scope", "token-scope-grant:required", "token-skip:jti-missing", "token-skip:jti-replay",
              "token-skip:exp-max", "token-skip:exp-nbf", "token-skip:exp-iat")  # exp-max breaks the windows too
    with tenant_state(*faults) as state:
        without = refusals(state)
    assert {j.outcome for j in without.values()} == {"inconclusive"}, without  # no control accepted: nothing proven
    scoped = tenant_variant(tmp_path, replace={'algorithm = "RS384"': 'algorithm = "RS384"\nscope = "system/Patient.rs"'})
    with tenant_state(*faults, tenant_file=scoped) as state:
        with_scope = refusals(state)
    assert failed(with_scope) == {"auth.token.refuses[exp-max]", "auth.token.refuses[jti-missing]", REPLAY}


def test_without_an_accepted_control_no_probe_is_called_refused(tmp_path: Path) -> None:
    with independent_state(tmp_path, lax=LAX) as state:  # no scope asked: the server refuses even the control
        judged = judge_run(state)
        results = results_of(state)
    probes = {k: j for k, j in judged.items() if k.startswith("auth.token.refuses")}
    assert len(probes) == len(PROBES) + 1
    assert {j.outcome for j in probes.values()} == {"inconclusive"}, probes
    assert all("not proven" in j.message and "invalid_scope" in j.message for j in probes.values())
    issued = judged["auth.token.issued"]
    assert issued.outcome == "failed" and "invalid_scope" in issued.message
    assert issued.result.category == "vendor-credentials"
    assert judged[f"exercise.read[{PATIENT_READ}]"].result.blocked_by == "auth.token.issued"
    assert results.gate.exit_code == 1
    html = render(results)
    assert "Not proven: not proven" in html and "READY" not in html.replace("NOT READY", "")


def test_with_the_scope_sent_the_lax_rules_are_security_failures(tmp_path: Path) -> None:
    with independent_state(tmp_path, lax=LAX, scope="system/Patient.rs") as state:
        judged = judge_run(state)  # every check of a run, in a run's order: the FHIR-side ones last
        results = results_of(state)
    lax = {"auth.token.refuses[exp-max]", "auth.token.refuses[jti-missing]", REPLAY}
    assert failed(judged) == lax
    assert all(judged[k].message.startswith("SECURITY") for k in lax)
    refused = {k: j.outcome for k, j in judged.items() if k.startswith("auth.token.refuses") and k not in lax}
    assert len(refused) == len(PROBES) - 2 and set(refused.values()) <= {"passed", "warning"}, refused
    for check in ("auth.fhir.no-token", "auth.fhir.invalid-token"):  # probing the read that answered the token
        assert judged[check].outcome == "passed" and "Patient/p1" in judged[check].result.notes[0]
    assert judged[f"exercise.read[{PATIENT_READ}]"].outcome == "passed"
    assert results.gate.exit_code == 1
    html = render(results)
    assert "server&#x27;s operators" in html and "Epic technical services" not in html  # not Epic: plain words


def test_a_correct_non_epic_server_passes_every_check(tmp_path: Path) -> None:
    with independent_state(tmp_path, scope="system/Patient.rs") as state:
        judged = judge_run(state)  # every check: no false failure on a correct server that is not Epic-shaped
        results = results_of(state)
    auth = {k: j.outcome for k, j in judged.items() if k.startswith("auth.") and k != "auth.fhir.expired-token"}
    assert len(auth) > len(PROBES) and set(auth.values()) <= {"passed", "warning"}, auth
    assert not {k for k, j in judged.items() if j.outcome in ("failed", "broken")}
    assert results.gate.state.value in ("passed", "incomplete") and not results.gate.reasons


# -- the FHIR side: no token, an invalid one, an expired one -------------------------------------------------

class SandboxClock:
    """The sandbox's token clock, moved on by the expired-token check's wait instead of that wait taking time."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.offset = 0.0
        self.waits: list[float] = []
        app.state.sandbox.tokens.clock = lambda: time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.offset += seconds


def _fhir_side(monkeypatch: pytest.MonkeyPatch, *faults: str) -> tuple[dict[str, Judged], SandboxClock]:
    app = sandbox_app("token-lifetime:1", *faults)
    clock = SandboxClock(app)
    monkeypatch.setattr(token_checks, "time", SimpleNamespace(sleep=clock.sleep))
    with tenant_state(app=app) as state:
        return {c: judge(state, c) for c in FHIR_SIDE}, clock


def test_the_fhir_side_refuses_requests_without_a_valid_token(monkeypatch: pytest.MonkeyPatch) -> None:
    judged, clock = _fhir_side(monkeypatch)
    assert {c: j.outcome for c, j in judged.items()} == dict.fromkeys(FHIR_SIDE, "passed"), judged
    assert clock.waits == [3.0]  # the token's 1 s life and 2 s more: it had expired when it was sent
    assert all(": 401" in j.result.notes[-1] for j in judged.values())


def test_a_fhir_server_ignoring_the_token_fails_all_three(monkeypatch: pytest.MonkeyPatch) -> None:
    judged, _ = _fhir_side(monkeypatch, "fhir-ignore-token")
    assert {c: j.outcome for c, j in judged.items()} == dict.fromkeys(FHIR_SIDE, "failed"), judged
    assert all(j.message.startswith("SECURITY: GET ") and "was answered 200" in j.message for j in judged.values())


def test_a_fhir_server_refusing_every_token_passes_none_of_them() -> None:
    with tenant_state("fhir-reject-tokens") as state:
        no_token, invalid = judge(state, "auth.fhir.no-token"), judge(state, "auth.fhir.invalid-token")
    # a 401 without a token proves nothing where the token gets 401 too
    assert no_token.outcome == "inconclusive" and "no FHIR read answered 200 to the run's token" in no_token.message
    # and once the client's fresh tokens are spent, that refusal of its own tokens is the finding
    assert invalid.outcome == "failed" and "refused the access token with 401 invalid_token" in invalid.message


def test_the_expired_token_is_not_waited_for_when_tokens_live_long() -> None:
    with tenant_state() as state:  # the sandbox's tokens live an hour, as Epic's do
        expired = judge(state, "auth.fhir.expired-token")
    assert expired.outcome == "skipped" and "tokens live 3600 s" in expired.message
    assert not expired.result.required  # a check the gate does not wait for


def _expect_401(status: int, headers: dict | None = None) -> CheckContext:
    verdict = CheckContext()
    token_checks._expect_401(httpx.Response(status, headers=headers or {}), "no token",
                             "https://t/api/FHIR/R4/Patient/p", verdict)
    return verdict


def test_only_401_proves_the_token_is_checked() -> None:
    with pytest.raises(Inconclusive, match="answered HTTP 404"):  # a path that answers otherwise proves nothing
        _expect_401(404)
    with pytest.raises(CheckFailed, match="SECURITY"):
        _expect_401(200)
    assert _expect_401(401).notes and not _expect_401(401).warnings
    assert _expect_401(403).warnings  # refused, but not with the status RFC 6750 gives
