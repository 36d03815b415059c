"""Over real HTTP: how the token endpoint grants the scopes a client asks for, and what the FHIR API
then serves with them (Epic by default, the settings of a server that honours narrowing, and the
faults of a server that grants too much)."""

from __future__ import annotations

import httpx
import pytest
from sandbox_helpers import assertion, served, token_form

from harness.sandbox import load_clients
from harness.sandbox.population import MAIN_PATIENT

R4 = "/api/FHIR/R4"
INSUFFICIENT = ('Bearer error="insufficient_scope", '
                'error_description="The access token provided is valid, but is not authorized for this service"')
PROBLEMS = "http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item"
NEW_ENCOUNTER = {"resourceType": "Encounter", "status": "planned",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                 "subject": {"reference": f"Patient/{MAIN_PATIENT}"}}


def registered() -> list[str]:
    return list(load_clients()[0].scopes)


def ask(sandbox, http: httpx.Client, scope: str | None) -> httpx.Response:
    """A token request for ``scope`` (None: none asked)."""
    form = token_form(assertion(aud=sandbox.token_url), **({"scope": scope} if scope is not None else {}))
    return http.post("/oauth2/token", data=form, headers={"authorization": ""})


def use(http: httpx.Client, answer: httpx.Response) -> list[str]:
    """Use the token of ``answer`` from now on; its granted scopes."""
    assert answer.status_code == 200, answer.text
    http.headers["authorization"] = f"Bearer {answer.json()['access_token']}"
    return answer.json()["scope"].split()


def refused(response: httpx.Response) -> None:
    assert response.status_code == 403 and response.headers["www-authenticate"] == INSUFFICIENT, response.text


def test_like_epic_every_registered_scope_is_granted_whatever_is_asked() -> None:
    with served() as (sandbox, http):
        for scope in ("system/Patient.read", "system/Patient.rs", "system/Patient.read system/Bogus.read "
                      "system/Patient.x", None):
            assert use(http, ask(sandbox, http, scope)) == registered(), scope
            assert http.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT}).status_code == 200


def test_the_smart_configuration_advertises_both_scope_syntaxes() -> None:
    with served() as (_, http):
        capabilities = http.get("/api/FHIR/R4/.well-known/smart-configuration").json()["capabilities"]
        assert {"permission-v1", "permission-v2"} <= set(capabilities)


@pytest.mark.parametrize("scope", ["system/Patient.read", "system/Patient.rs", "system/Patient.r system/Patient.s"])
def test_a_narrower_request_is_honoured_in_the_grant_and_by_the_fhir_api(scope) -> None:
    with served("token-scope-grant:requested") as (sandbox, http):
        partly = use(http, ask(sandbox, http, "system/Slot.rs system/Patient.rs"))
        assert partly == ["system/Slot.r", "system/Patient.rs"]  # Slot is registered for read only
        assert use(http, ask(sandbox, http, scope)) == scope.split()  # granted as asked, in either syntax
        assert http.get(f"{R4}/Patient/{MAIN_PATIENT}").status_code == 200
        assert http.get(f"{R4}/Patient", params={"_id": MAIN_PATIENT}).status_code == 200
        refused(http.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT}))
        refused(http.get(f"{R4}/Coverage/e0000000000000000000003"))
        refused(http.post(f"{R4}/Patient", json={"resourceType": "Patient"}))  # registered, but not asked


def test_a_request_narrowed_to_a_category_finds_only_that_category() -> None:
    with served("token-scope-grant:requested") as (sandbox, http):
        assert use(http, ask(sandbox, http, f"system/Condition.s?category={PROBLEMS} "
                                            f"system/Condition.r?category={PROBLEMS}")) == [
            f"system/Condition.s?category={PROBLEMS}", f"system/Condition.r?category={PROBLEMS}"]
        bundle = http.get(f"{R4}/Condition", params={"patient": MAIN_PATIENT}).json()
        assert bundle["total"] == 0  # the sandbox's conditions are reasons for visit
        codes = [i["details"]["coding"][0]["code"] for e in bundle["entry"] for i in e["resource"]["issue"]]
        assert "59204" in codes
    with served() as (_, everything):
        condition = everything.get(f"{R4}/Condition", params={"patient": MAIN_PATIENT}).json()["entry"][0]["resource"]
    with served("token-scope-grant:requested") as (sandbox, http):
        use(http, ask(sandbox, http, f"system/Condition.r?category={PROBLEMS}"))
        refused(http.get(f"{R4}/Condition/{condition['id']}"))


@pytest.mark.parametrize("policy", ["registered", "requested", "strict"])
def test_unknown_resource_or_action_scopes_are_left_out_or_refused(policy) -> None:
    with served(f"token-scope-grant:{policy}") as (sandbox, http):
        alone = ask(sandbox, http, "system/Bogus.read system/Patient.x")
        mixed = ask(sandbox, http, "system/Patient.read system/Bogus.read system/Patient.x")
        if policy == "registered":
            assert use(http, alone) == registered() and use(http, mixed) == registered()
        else:
            assert alone.status_code == 400 and alone.json()["error"] == "invalid_scope"
            if policy == "strict":
                assert mixed.status_code == 400 and mixed.json()["error"] == "invalid_scope"
            else:
                assert use(http, mixed) == ["system/Patient.read"]


@pytest.mark.parametrize("policy", ["registered", "requested"])
def test_a_write_scope_outside_the_registration_is_not_granted_and_a_write_with_it_is_refused(policy) -> None:
    assert "system/Encounter.c" not in registered() and "system/Patient.c" in registered()
    with served(f"token-scope-grant:{policy}") as (sandbox, http):
        scopes = use(http, ask(sandbox, http, "system/Encounter.c system/Encounter.write system/Encounter.rs "
                                              "system/Patient.c"))
        assert not {"system/Encounter.c", "system/Encounter.write"} & set(scopes)
        refused(http.post(f"{R4}/Encounter", json=NEW_ENCOUNTER))
        assert http.post(f"{R4}/Patient", json={"resourceType": "Patient"}).status_code == 201  # the control
    with served("token-scope-grant:requested") as (sandbox, http):
        alone = ask(sandbox, http, "system/Encounter.write")
        assert alone.status_code == 400 and alone.json()["error"] == "invalid_scope"


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["registered", "requested", "strict"])
def test_granting_an_unknown_scope_lists_it_in_the_token_response(policy) -> None:
    with served("token-grant-unknown-scope", f"token-scope-grant:{policy}") as (sandbox, http):
        other = "" if policy == "strict" else " openid"  # not a resource scope: strict refuses it unregistered
        scopes = use(http, ask(sandbox, http, "system/Patient.read system/Bogus.read system/Patient.x" + other))
        assert {"system/Bogus.read", "system/Patient.x"} <= set(scopes) and "openid" not in scopes
        if policy != "registered":
            assert scopes == ["system/Patient.read", "system/Bogus.read", "system/Patient.x"]
        assert use(http, ask(sandbox, http, "system/Bogus.read")).count("system/Bogus.read") == 1
    with served("token-grant-unknown-scope") as (sandbox, http):
        assert "system/Encounter.c" not in use(http, ask(sandbox, http, "system/Encounter.c"))  # known: not granted


def test_unscoped_writes_answer_201_for_a_token_that_does_not_cover_them() -> None:
    with served("fhir-unscoped-writes:Encounter", "token-scope-grant:requested") as (sandbox, http):
        scopes = use(http, ask(sandbox, http, "system/Patient.read"))
        assert not any(s.startswith("system/Encounter") for s in scopes)
        created = http.post(f"{R4}/Encounter", json=NEW_ENCOUNTER)
        assert created.status_code == 201 and created.headers["location"].startswith(str(sandbox.base_url))
        refused(http.post(f"{R4}/Flag", json={"resourceType": "Flag", "status": "active"}))  # another type
        refused(http.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT}))  # reads still need their scope
    with served("fhir-unscoped-writes") as (_, http):  # every type, with Epic's default grant
        assert http.post(f"{R4}/Flag", json={"resourceType": "Flag", "status": "active"}).status_code == 201
