"""The bearer-token guard in front of the FHIR API, and the answers that do not depend on data."""

from __future__ import annotations

import time

import pytest
from sandbox_helpers import INVALID_TOKEN, TestClient, bearer, get_token, sandbox_client

EPIC_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"


def _assert_unauthorized(response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID_TOKEN
    assert response.content == b""


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer not-a-token"},
        {"authorization": "Basic ZW1wJHVzZXI6cHc="},
        {"authorization": "Bearer"},
    ],
    ids=["none", "invalid", "basic", "empty"],
)
@pytest.mark.parametrize("path", ["/api/FHIR/R4/Patient/abc", "/api/FHIR/STU3/Slot/abc", "/api/FHIR/R4/Nope"])
def test_fhir_without_a_valid_token_is_401(headers, path) -> None:
    _assert_unauthorized(sandbox_client().get(path, headers=headers))


def test_expired_token_is_401() -> None:
    client = sandbox_client(["token-lifetime:60"])
    token = get_token(client)["access_token"]
    assert client.get("/api/FHIR/R4/Patient/abc", headers=bearer(token)).status_code == 404
    client.app.state.sandbox.tokens.clock = lambda: time.time() + 61
    _assert_unauthorized(client.get("/api/FHIR/R4/Patient/abc", headers=bearer(token)))


def test_token_of_another_sandbox_is_401() -> None:
    token = get_token(sandbox_client())["access_token"]
    _assert_unauthorized(sandbox_client().get("/api/FHIR/R4/Patient/abc", headers=bearer(token)))


@pytest.fixture
def authorised() -> tuple[TestClient, dict[str, str]]:
    client = sandbox_client()
    return client, bearer(get_token(client)["access_token"])


@pytest.mark.parametrize("path", ["/api/FHIR/R4/Patient/eNope", "/api/FHIR/STU3/Schedule/x", "/api/FHIR/DSTU2/Practitioner/x"])
def test_read_is_epics_59008_not_found(authorised, path) -> None:
    client, headers = authorised
    response = client.get(path, headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    issue = response.json()["issue"][0]
    assert issue["severity"] == "fatal" and issue["code"] == "not-found"
    assert issue["details"]["coding"][0] == {
        "system": EPIC_SYSTEM,
        "code": "59008",
        "display": "The FHIR ID provided was not found.",
    }


def test_search_is_an_empty_searchset_with_the_4101_outcome(authorised) -> None:
    client, headers = authorised
    response = client.get("/api/FHIR/R4/Practitioner?name=x&family=Smith", headers=headers)
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == 0
    assert bundle["link"] == [
        {"relation": "self", "url": "http://testserver/api/FHIR/R4/Practitioner?family=Smith&name=x"}
    ]
    (entry,) = bundle["entry"]
    assert entry["search"] == {"mode": "outcome"}
    assert entry["fullUrl"].startswith("urn:uuid:")
    coding = entry["resource"]["issue"][0]["details"]["coding"][0]
    assert (coding["system"], coding["code"], coding["display"]) == (
        EPIC_SYSTEM,
        "4101",
        "Resource request returns no results.",
    )


def test_post_search_reads_the_form_body(authorised) -> None:
    client, headers = authorised
    response = client.post("/api/FHIR/R4/Coverage/_search?ignored=1", data={"patient": "e1"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["link"][0]["url"].endswith("/api/FHIR/R4/Coverage?patient=e1")


def test_unknown_resource_type_is_the_iis_404_page(authorised) -> None:
    client, headers = authorised
    response = client.get("/api/FHIR/R4/FakeResourceTypeThatDoesNotExist?_count=1", headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "404 - File or directory not found." in response.text


def test_an_operation_the_tenant_does_not_offer_is_501(authorised) -> None:
    client, headers = authorised
    response = client.post("/api/FHIR/R4/Patient/$everything", json={"resourceType": "Parameters"}, headers=headers)
    assert response.status_code == 501
    assert response.json()["issue"][0]["code"] == "not-supported"


def test_fhir_ignore_token_serves_without_a_token() -> None:
    response = sandbox_client(["fhir-ignore-token"]).get(
        "/api/FHIR/R4/Patient/abc", headers={"accept": "application/fhir+json"}
    )
    assert response.status_code == 404
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "59008"


def test_missing_scope_is_403_insufficient_scope() -> None:
    client = sandbox_client(["grant-fewer-scopes:Patient"])
    headers = bearer(get_token(client)["access_token"])
    response = client.get("/api/FHIR/R4/Patient/abc", headers=headers)
    assert response.status_code == 403
    assert response.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert client.get("/api/FHIR/R4/Practitioner/abc", headers=headers).status_code == 404


def test_requested_scopes_limit_what_the_token_reaches_where_narrowing_is_honoured() -> None:
    client = sandbox_client(["token-scope-grant:requested"])
    headers = bearer(get_token(client, scope="system/Patient.r")["access_token"])
    assert client.get("/api/FHIR/R4/Patient/abc", headers=headers).status_code == 404
    assert client.get("/api/FHIR/R4/Patient?family=x", headers=headers).status_code == 403


def test_like_epic_a_token_reaches_every_registered_scope_whatever_was_asked() -> None:
    client = sandbox_client()
    headers = bearer(get_token(client, scope="system/Patient.r")["access_token"])
    assert client.get("/api/FHIR/R4/Patient?family=x", headers=headers).status_code == 200
