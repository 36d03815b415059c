"""Token endpoint faults beyond switching one rule off: the order rules are checked in, how
scopes are granted, and the bytes of the answers (a BOM, a very long token, a chosen
error_description)."""

from __future__ import annotations

import json
import time

import pytest
from sandbox_helpers import DROP, TestClient, assertion, bearer, sandbox_client, token_form

from harness.sandbox import FaultError, default_settings
from harness.sandbox.population import MAIN_PATIENT

SCOPE = "system/Patient.r system/Patient.s"
#: a token endpoint that looks at scope before anything else, requires it, and has three
#: assertion rules switched off
SCOPE_FIRST = ["token-order:scope", "token-scope-grant:required", "token-skip:jti-missing",
               "token-skip:jti-replay", "token-skip:exp-max"]


def _post(client: TestClient, client_assertion: str, **form: str):
    return client.post("/oauth2/token", data=token_form(client_assertion, **form))


def _error(response) -> str:
    assert response.status_code == 400, response.text
    return response.json()["error"]


def test_scope_first_refuses_everything_without_scope_with_invalid_scope() -> None:
    client = sandbox_client(SCOPE_FIRST)
    assert _error(_post(client, assertion())) == "invalid_scope"
    assert _error(_post(client, assertion(jti=DROP))) == "invalid_scope"
    assert _error(_post(client, "not-a-jwt")) == "invalid_scope"  # scope is looked at before the assertion
    assert _error(_post(client, assertion(aud="https://elsewhere.example/token"))) == "invalid_scope"


def test_scope_first_with_scope_issues_tokens_for_the_switched_off_rules_only() -> None:
    client = sandbox_client(SCOPE_FIRST)
    assert _post(client, assertion(jti=DROP), scope=SCOPE).status_code == 200
    reused = assertion(jti="once")
    assert _post(client, reused, scope=SCOPE).status_code == 200
    assert _post(client, reused, scope=SCOPE).status_code == 200  # replayed, and accepted
    far = assertion(exp=int(time.time()) + 600, iat=DROP, nbf=DROP)
    assert _post(client, far, scope=SCOPE).status_code == 200
    # the rules still on still refuse, with their own error
    assert _error(_post(client, assertion(aud="https://elsewhere.example/token"), scope=SCOPE)) == "invalid_client"
    assert _error(_post(client, "not-a-jwt", scope=SCOPE)) == "invalid_client"
    granted = _post(client, assertion(), scope=SCOPE).json()
    assert granted["scope"] == SCOPE
    assert client.get(f"/api/FHIR/R4/Patient/{MAIN_PATIENT}", headers=bearer(granted["access_token"])).status_code == 200


def test_the_order_decides_which_refusal_comes_first() -> None:
    required_last = sandbox_client(["token-scope-grant:required"])
    assert _error(_post(required_last, "not-a-jwt")) == "invalid_client"  # the assertion is judged first
    assert _error(_post(required_last, assertion())) == "invalid_scope"
    assert _post(required_last, assertion(), scope=SCOPE).status_code == 200
    correct = sandbox_client()
    assert _error(_post(correct, assertion(jti=DROP), scope=SCOPE)) == "invalid_client"
    assert _post(correct, assertion()).status_code == 200  # Epic needs no scope


def test_order_of_several_rules() -> None:
    client = sandbox_client(["token-order:aud,signature"])
    wrong_aud_and_key = assertion(aud="https://elsewhere.example/token", kid="unknown-kid")
    assert "aud" in _post(client, wrong_aud_and_key).json()["error_description"]
    assert "kid" in _post(sandbox_client(), wrong_aud_and_key).json()["error_description"]


@pytest.mark.parametrize("fault, hint", [
    ("token-order:scpoe", "did you mean scope"),
    ("token-order:scope,scope", "twice"),
    ("token-scope-grant:everything", "scope grant policy"),
    ("token-access-token-length:0", "at least 1"),
    ("token-error-description:", "needs an argument"),
])
def test_bad_arguments_are_refused(fault: str, hint: str) -> None:
    with pytest.raises(FaultError) as caught:
        default_settings([fault])
    assert fault in str(caught.value) and hint.split()[-1] in str(caught.value)


def test_response_with_a_bom_before_the_json() -> None:
    client = sandbox_client(["token-response-bom"])
    granted = _post(client, assertion())
    assert granted.status_code == 200 and granted.content.startswith(b"\xef\xbb\xbf{")
    assert json.loads(granted.content.decode("utf-8-sig"))["token_type"] == "bearer"
    refused = _post(client, assertion(aud="https://elsewhere.example/token"))
    assert refused.status_code == 400 and refused.content.startswith(b"\xef\xbb\xbf{")
    assert not _post(sandbox_client(), assertion()).content.startswith(b"\xef")


def test_an_access_token_longer_than_20000_characters_still_works() -> None:
    client = sandbox_client(["token-access-token-length:20001"])
    token = _post(client, assertion()).json()["access_token"]
    assert len(token) == 20001 and token.isascii()
    assert client.get(f"/api/FHIR/R4/Patient/{MAIN_PATIENT}", headers=bearer(token)).status_code == 200
    assert len(_post(sandbox_client(), assertion()).json()["access_token"]) == 128


@pytest.mark.parametrize("text", [
    "\u001b[31mred\u001b[0m \u001b]8;;http://x.example\u001b\\link\u001b]8;;\u001b\\",
    "[/bold] [link=http://x.example]click[/link]",
    "line one\nline two\n# markdown *heading*",
])
def test_error_description_is_the_chosen_text(text: str) -> None:
    client = sandbox_client([f"token-error-description:{json.dumps(text)}"])
    refused = _post(client, assertion(aud="https://elsewhere.example/token"))
    assert refused.json() == {"error": "invalid_client", "error_description": text}


def test_error_description_taken_literally_when_not_a_json_string() -> None:
    client = sandbox_client(["token-error-description:[/bold] unbalanced"])
    assert _post(client, "x.y").json()["error_description"] == "[/bold] unbalanced"
