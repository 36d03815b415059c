"""The scope checks (suites/test_scopes.py) judged in process: what the token endpoint grants against what was
asked, and whether the FHIR server enforces it; each on the Epic-shaped sandbox, on a correct server that is not
Epic-shaped, and with the fault that breaks it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

import httpx

from tests.conftest import tenant_variant
from tests.support.checks import judge, tenant_state
from tests.support.smart_server import independent_state

PATIENT_READ = "Patient.Read (Demographics) (R4)"


def token_request_scope(request: httpx.Request) -> str | None:
    """The scope a token request asks for ('' for none); None for any other request."""
    if not request.url.path.endswith("/oauth2/token"):
        return None
    return parse_qs(request.content.decode()).get("scope", [""])[0]


def refusing(when: Callable[[str], bool]) -> Callable[[httpx.Request], httpx.Response | None]:
    """A token endpoint that refuses, with invalid_scope, the requests whose scope ``when`` picks."""
    def answer(request: httpx.Request) -> httpx.Response | None:
        scope = token_request_scope(request)
        if scope is not None and when(scope):
            return httpx.Response(400, json={"error": "invalid_scope", "error_description": "not for this client"})
        return None

    return answer


# -- scopes.granted-as-requested -----------------------------------------------------------------------------

def test_epic_granting_every_registered_scope_is_a_warning_not_a_failure() -> None:
    with tenant_state() as state:
        judged = judge(state, "scopes.granted-as-requested")
    assert judged.outcome == "warning" and "granted wider than requested" in judged.message
    assert "Epic grants every scope registered" in judged.message and judged.result.data["scopes"]["wider"]


def test_a_server_granting_what_was_asked_passes(tmp_path: Path) -> None:
    with independent_state(tmp_path, scope="system/Patient.rs") as state:
        judged = judge(state, "scopes.granted-as-requested")
    assert judged.outcome == "passed" and judged.result.notes == ["granted exactly the 1 scope(s) asked"]


def test_a_narrower_grant_is_reported_for_the_coverage_to_explain() -> None:
    with tenant_state("grant-fewer-scopes:Patient") as state:
        judged = judge(state, "scopes.granted-as-requested")
    assert any(n.startswith("granted narrower than requested") and "system/Patient" in n for n in judged.result.notes)
    assert any(m.startswith("system/Patient.") for m in judged.result.data["scopes"]["missing"])


def test_a_refused_request_for_the_needed_scopes_fails_for_the_vendor() -> None:
    with tenant_state(answer=refusing(bool)) as state:  # the run's own token (no scope) is issued
        judged = judge(state, "scopes.granted-as-requested")
    assert judged.outcome == "failed" and "was refused: HTTP 400 invalid_scope" in judged.message
    assert judged.result.category == "vendor-credentials"


def test_production_gets_no_second_token_request_to_compare(tmp_path: Path) -> None:
    tenant = tenant_variant(tmp_path, replace={'environment = "non-production"': 'environment = "production"',
                                               "allow_writes = true": "allow_writes = false"})
    with tenant_state(tenant_file=tenant) as state:
        judged = judge(state, "scopes.granted-as-requested")
        sent = state.token_requests, len([e for e in state.client.log if e.method == "POST"])
    assert judged.outcome == "skipped" and "set auth.scope" in judged.message
    assert not judged.result.required  # advisory: nothing the gate waits for
    assert sent == (1, 1)  # the run's own token only


# -- scopes.narrowing ----------------------------------------------------------------------------------------

def _narrowing(*faults: str) -> tuple[str, str, list[str], dict]:
    with tenant_state(*faults) as state:
        assert judge(state, "exercise.read", api=PATIENT_READ).outcome == "passed"  # the read it probes
        judged = judge(state, "scopes.narrowing")
    return judged.outcome, judged.message, judged.result.notes, judged.result.data["narrowing"]


def test_epic_ignoring_a_narrower_request_is_a_warning() -> None:
    outcome, message, _, data = _narrowing()
    assert outcome == "warning" and "the token still grants Patient" in message and "as Epic does" in message
    assert data["token_narrowed"] is False


def test_a_narrowed_token_refused_elsewhere_passes() -> None:
    outcome, _, notes, data = _narrowing("token-scope-grant:requested")
    assert outcome == "passed" and data == {**data, "token_narrowed": True, "served_outside": False}
    assert "was refused Patient with HTTP 403" in notes[-1]


def test_a_fhir_server_serving_beyond_the_token_scope_fails() -> None:
    # the token says it grants Account alone; the FHIR server still serves Patient with it
    outcome, message, _, data = _narrowing('token-response-set:scope="system/Account.rs"')
    assert outcome == "failed" and message.startswith("SECURITY: a token granted only Account still read Patient")
    assert data["served_outside"] is True


def test_narrowing_without_a_read_to_try_is_inconclusive() -> None:
    with tenant_state() as state:
        judged = judge(state, "scopes.narrowing")
    assert judged.outcome == "inconclusive" and "no read of a second resource type" in judged.message


# -- scopes.unknown-refused ----------------------------------------------------------------------------------

def test_unknown_scopes_refused_or_left_out_pass() -> None:
    with tenant_state() as state:
        judged = judge(state, "scopes.unknown-refused")
    assert judged.outcome == "passed" and len(judged.result.notes) == 2


def test_an_unknown_scope_granted_fails() -> None:
    with tenant_state("token-grant-unknown-scope") as state:
        judged = judge(state, "scopes.unknown-refused")
    assert judged.outcome == "failed" and judged.message.startswith("SECURITY: the token endpoint granted the unknown")
    assert judged.result.category == "tenant-fault"


# -- scopes.v1-v2 --------------------------------------------------------------------------------------------

def test_v1_and_v2_are_both_understood() -> None:
    with tenant_state() as state:
        judged = judge(state, "scopes.v1-v2")
    assert judged.outcome == "passed"
    assert [n.split()[0] for n in judged.result.notes] == ["v1", "v2"]


def test_a_server_refusing_v1_syntax_fails() -> None:
    with tenant_state(answer=refusing(lambda scope: scope.endswith(".read"))) as state:
        judged = judge(state, "scopes.v1-v2")
    assert judged.outcome == "failed" and "(v1 syntax) was refused: HTTP 400" in judged.message


def test_a_v1_request_granted_without_its_resource_fails() -> None:
    def answer(request: httpx.Request) -> httpx.Response | None:
        scope = token_request_scope(request)
        if scope and scope.endswith(".read"):
            return httpx.Response(200, json={"access_token": "v1-token-00000000", "token_type": "bearer",
                                             "expires_in": 3600, "scope": "system/Binary.r"})
        return None

    with tenant_state(answer=answer) as state:
        judged = judge(state, "scopes.v1-v2")
    assert judged.outcome == "failed" and "(v1 syntax), the token does not grant reading" in judged.message


# -- scopes.write-outside-registration and a server granting whatever is asked -------------------------------

def test_a_write_outside_the_registration_refused_passes() -> None:
    with tenant_state() as state:  # the sandbox tenant allows writes: the create is tried with that token too
        judged = judge(state, "scopes.write-outside-registration")
    assert judged.outcome == "passed"
    assert any("a create of" in n and "was refused with HTTP 403" in n for n in judged.result.notes)


def test_a_create_accepted_with_a_token_not_granting_it_fails() -> None:
    with tenant_state("fhir-unscoped-writes") as state:
        judged = judge(state, "scopes.write-outside-registration")
    assert judged.outcome == "failed" and "SECURITY: a create of" in judged.message and "(HTTP 201)" in judged.message


def test_a_server_granting_whatever_is_asked_fails_the_scope_checks(tmp_path: Path) -> None:
    with independent_state(tmp_path, lax=frozenset({"scopes"}), scope="system/Patient.rs") as state:
        unknown = judge(state, "scopes.unknown-refused")
        write = judge(state, "scopes.write-outside-registration")
        aud = judge_one_probe(state, "aud")
    assert unknown.outcome == "failed" and "NoSuchResourceType" in unknown.message
    assert write.outcome == "failed" and write.message.startswith("SECURITY: asked for system/Patient.c")
    assert aud.outcome in ("passed", "warning")  # the assertion rules still hold


def judge_one_probe(state, probe_id: str):  # type: ignore[no-untyped-def]
    from harness.token_probes import PROBES

    return judge(state, "auth.token.refuses", probe=next(p for p in PROBES if p.id == probe_id))


def test_without_an_accepted_control_an_unknown_scope_refused_proves_nothing(tmp_path: Path) -> None:
    with independent_state(tmp_path, lax=frozenset({"scopes"})) as state:  # no scope asked: the control refused
        unknown, write = judge(state, "scopes.unknown-refused"), judge(state, "scopes.write-outside-registration")
    assert unknown.outcome == "inconclusive" and unknown.message.startswith("not proven: the valid control request")
    assert write.outcome == "blocked" and write.result.blocked_by == "auth.token.issued"  # it needs the run's token
