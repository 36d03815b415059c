"""Discovery documents and /metadata: URLs built from the request, content negotiation, faults."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sandbox_helpers import TestClient, assertion, sandbox_client, token_form

from harness.sandbox import create_app, default_settings

VERSIONS = ("R4", "STU3", "DSTU2")
FHIR_NS = "{http://hl7.org/fhir}"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def _smart(client: TestClient, version: str = "R4", **kwargs: Any) -> httpx.Response:
    return client.get(f"/api/FHIR/{version}/.well-known/smart-configuration", **kwargs)


def _metadata(client: TestClient, version: str = "R4", accept: str | None = "application/json") -> httpx.Response:
    headers = {"accept": accept} if accept is not None else {}
    return client.get(f"/api/FHIR/{version}/metadata", headers=headers)


def _oauth_uris(statement: dict[str, Any]) -> dict[str, str]:
    for extension in statement["rest"][0]["security"].get("extension", ()):
        if extension["url"] == OAUTH_URIS:
            return {inner["url"]: inner["valueUri"] for inner in extension["extension"]}
    return {}


# --- smart-configuration and OIDC -----------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_smart_configuration_is_epics_with_this_host(version: str) -> None:
    client = sandbox_client()
    response = _smart(client, version, headers={"host": "ehr.example.org:8443", "accept": "application/xml"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    root = "http://ehr.example.org:8443"
    assert document["token_endpoint"] == f"{root}/oauth2/token"
    assert document["authorization_endpoint"] == f"{root}/oauth2/authorize"
    assert document["issuer"] == f"{root}/oauth2"
    assert document["jwks_uri"].startswith(f"{root}/api/epic/")
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert "client_credentials" in document["grant_types_supported"]
    assert "token_endpoint_auth_signing_alg_values_supported" not in document
    assert "fhir.epic.com" not in response.text


def test_forwarded_proto_sets_the_scheme() -> None:
    response = _smart(sandbox_client(), headers={"host": "ehr.example.org", "x-forwarded-proto": "https"})
    assert response.json()["token_endpoint"] == "https://ehr.example.org/oauth2/token"


def test_jwks_uri_serves_a_public_key_set() -> None:
    client = sandbox_client()
    jwks_uri = _smart(client).json()["jwks_uri"]
    keys = client.get(jwks_uri).json()["keys"]
    assert keys and all("d" not in key for key in keys)


def test_openid_configuration_is_rewritten() -> None:
    client = sandbox_client()
    document = client.get("/oauth2/.well-known/openid-configuration", headers={"host": "h.example"}).json()
    assert document["issuer"] == "http://h.example/oauth2"
    assert document["token_endpoint"] == "http://h.example/oauth2/token"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


def test_mounted_under_a_prefix() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    prefix = "/interconnect-fhir-oauth"
    outer = Starlette(routes=[Mount(prefix, app=create_app(default_settings()))])
    client = TestClient(outer)
    root = f"http://testserver{prefix}"
    smart = client.get(f"{prefix}/api/FHIR/R4/.well-known/smart-configuration")
    assert smart.json()["token_endpoint"] == f"{root}/oauth2/token"
    statement = client.get(f"{prefix}/api/FHIR/R4/metadata", headers={"accept": "application/json"}).json()
    assert statement["implementation"]["url"] == f"{root}/api/FHIR/R4"
    assert _oauth_uris(statement)["token"] == f"{root}/oauth2/token"
    # the token endpoint's own URL is the audience
    good = client.post(f"{prefix}/oauth2/token", data=token_form(assertion(aud=f"{root}/oauth2/token")))
    assert good.status_code == 200, good.text
    unmounted = client.post(f"{prefix}/oauth2/token", data=token_form(assertion()))
    assert unmounted.status_code == 400
    token = good.json()["access_token"]
    search = client.get(
        f"{prefix}/api/FHIR/R4/Practitioner?family=x",
        headers={"authorization": f"Bearer {token}", "accept": "application/fhir+json"},
    )
    assert search.json()["link"][0]["url"] == f"{root}/api/FHIR/R4/Practitioner?family=x"


# --- metadata -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("application/json", "application/json; charset=utf-8"),
        ("application/fhir+json", "application/fhir+json; charset=utf-8"),
        ("application/json+fhir", "application/fhir+json; charset=utf-8"),
        (None, "application/xml"),
        ("*/*", "application/xml"),
        ("text/plain", "application/xml"),
        ("application/xml", "application/xml"),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_metadata_content_negotiation(version: str, accept: str | None, content_type: str) -> None:
    response = _metadata(sandbox_client(), version, accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    expected = "Conformance" if version == "DSTU2" else "CapabilityStatement"
    if "json" in content_type:
        assert response.json()["resourceType"] == expected
    else:
        root = ET.fromstring(response.content)
        assert root.tag == f"{FHIR_NS}{expected}"
        assert root.find(f"{FHIR_NS}fhirVersion") is not None


def test_metadata_format_parameter() -> None:
    response = sandbox_client().get("/api/FHIR/R4/metadata?_format=json")
    assert response.headers["content-type"].startswith("application/fhir+json")


def test_metadata_xml_keeps_the_oauth_uris() -> None:
    response = _metadata(sandbox_client(), "R4", None)
    root = ET.fromstring(response.content)
    security = root.find(f"{FHIR_NS}rest/{FHIR_NS}security")
    extension = security.find(f"{FHIR_NS}extension")
    assert extension.get("url") == OAUTH_URIS
    token = [e for e in extension.findall(f"{FHIR_NS}extension") if e.get("url") == "token"][0]
    assert token.find(f"{FHIR_NS}valueUri").get("value") == "http://testserver/oauth2/token"


@pytest.mark.parametrize("version", VERSIONS)
def test_metadata_urls_point_at_this_sandbox(version: str) -> None:
    response = _metadata(sandbox_client(), version)
    statement = response.json()
    assert "fhir.epic.com" not in response.text
    assert _oauth_uris(statement) == {
        "authorize": "http://testserver/oauth2/authorize",
        "token": "http://testserver/oauth2/token",
    }
    if version == "R4":
        assert statement["implementation"]["url"] == "http://testserver/api/FHIR/R4"
        assert statement["fhirVersion"] == "4.0.1"


#: (resource, interactions) each version must declare for the careforce-phoenix API set
#: (read -> read, search -> search-type, create -> create, update -> update)
REQUIRED: dict[str, dict[str, set[str]]] = {
    "R4": {
        "Appointment": {"read", "search-type"},
        "Communication": {"create", "read", "search-type"},
        "Condition": {"read", "search-type"},
        "Consent": {"read", "search-type"},
        "Coverage": {"read", "search-type"},
        "DocumentReference": {"create"},
        "Encounter": {"read", "search-type"},
        "Endpoint": {"read"},
        "EpisodeOfCare": {"read", "search-type"},
        "Flag": {"read", "search-type"},
        "List": {"read", "search-type"},
        "Location": {"read", "search-type"},
        "Organization": {"read", "search-type"},
        "Patient": {"create", "read", "search-type"},
        "Practitioner": {"read", "search-type"},
        "PractitionerRole": {"read", "search-type"},
        "Questionnaire": {"read", "search-type"},
        "QuestionnaireResponse": {"create", "read", "search-type"},
        "RelatedPerson": {"read", "search-type"},
        "ServiceRequest": {"create", "read", "search-type", "update"},
        "Task": {"read", "search-type", "update"},
    },
    "STU3": {
        "Appointment": {"read", "search-type"},
        "Consent": {"read", "search-type"},
        "Coverage": {"read", "search-type"},
        "DocumentReference": {"create"},
        "Encounter": {"read", "search-type"},
        "Endpoint": {"read"},
        "Flag": {"read", "search-type"},
        "List": {"read", "search-type"},
        "Location": {"read"},
        "Organization": {"read"},
        "Patient": {"create", "read", "search-type"},
        "Practitioner": {"read", "search-type"},
        "PractitionerRole": {"read", "search-type"},
        "Schedule": {"read"},
        "Slot": {"read"},
    },
    "DSTU2": {
        "Patient": {"read", "search-type"},
        "Practitioner": {"read", "search-type"},
    },
}


@pytest.mark.parametrize("version", VERSIONS)
def test_metadata_declares_every_requested_interaction(version: str) -> None:
    statement = _metadata(sandbox_client(), version).json()
    declared = {
        entry["type"]: {item["code"] for item in entry.get("interaction", ())}
        for entry in statement["rest"][0]["resource"]
    }
    for resource, interactions in REQUIRED[version].items():
        assert interactions <= declared.get(resource, set()), (version, resource)


def test_registered_scopes_cover_every_requested_interaction() -> None:
    from harness.sandbox import load_clients
    from harness.sandbox.token.scopes import permits

    scopes = load_clients()[0].scopes
    letters = {"read": "r", "search-type": "s", "create": "c", "update": "u"}
    for version, resources in REQUIRED.items():
        for resource, interactions in resources.items():
            for interaction in interactions:
                assert permits(scopes, resource, letters[interaction]), (version, resource, interaction)


def test_metadata_needs_no_token_and_unknown_version_is_404() -> None:
    client = sandbox_client()
    assert _metadata(client).status_code == 200
    missing = client.get("/api/FHIR/R5/metadata")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert client.get("/nowhere").status_code == 404


# --- discovery faults -----------------------------------------------------------------------

Check = Callable[[TestClient], None]


def _smart_json(client: TestClient) -> dict[str, Any]:
    response = _smart(client)
    assert response.status_code == 200
    return json.loads(response.content)


def _r4(client: TestClient) -> dict[str, Any]:
    response = _metadata(client, "R4")
    assert response.status_code == 200
    return response.json()


def _stu3_unchanged(client: TestClient) -> None:
    stu3 = _metadata(client, "STU3").json()
    assert stu3["fhirVersion"] == "3.0.1"
    assert _oauth_uris(stu3)["token"] == "http://testserver/oauth2/token"
    assert "format" in stu3


FAULT_CHECKS: dict[str, Check] = {
    "smart-config-drop:token_endpoint": lambda c: _assert("token_endpoint" not in _smart_json(c)),
    "smart-config-set:token_endpoint_auth_signing_alg_values_supported=[\"RS384\", \"ES384\"]": lambda c: _assert(
        _smart_json(c)["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    ),
    "smart-config-set:code_challenge_methods_supported=[\"plain\"]": lambda c: _assert(
        _smart_json(c)["code_challenge_methods_supported"] == ["plain"]
    ),
    "smart-config-content-type:text/html": lambda c: _assert(
        _smart(c).headers["content-type"].startswith("text/html")
    ),
    "smart-config-404": lambda c: _assert(_smart(c).status_code == 404),
    "metadata-fhir-version:R4=3.0.2": lambda c: _assert(_r4(c)["fhirVersion"] == "3.0.2"),
    "metadata-drop-oauth-uris:R4": lambda c: _assert(_oauth_uris(_r4(c)) == {}),
    "metadata-token-uri:R4=https://elsewhere.example/oauth2/token": lambda c: _assert(
        _oauth_uris(_r4(c))["token"] == "https://elsewhere.example/oauth2/token"
    ),
    "metadata-500:R4": lambda c: _assert(
        _metadata(c, "R4").status_code == 500
        and _metadata(c, "R4").headers["content-type"].startswith("text/html")
    ),
    "metadata-drop-resource:R4=Patient": lambda c: _assert(
        "Patient" not in {r["type"] for r in _r4(c)["rest"][0]["resource"]}
        and "Practitioner" in {r["type"] for r in _r4(c)["rest"][0]["resource"]}
    ),
    "metadata-drop-format:R4": lambda c: _assert("format" not in _r4(c)),
}


def _assert(condition: bool) -> None:
    assert condition


@pytest.mark.parametrize("fault", list(FAULT_CHECKS))
def test_discovery_fault_changes_what_it_says(fault: str) -> None:
    check = FAULT_CHECKS[fault]
    with pytest.raises((AssertionError, KeyError)):
        check(sandbox_client())  # a correct tenant does not show the fault
    faulty = sandbox_client([fault])
    check(faulty)
    if fault.startswith("metadata-"):
        _stu3_unchanged(faulty)


# --- discovery faults: any element of a statement, and how a document is served ------------------

HOSTILE = [
    "May 2026\n\n# Heading\n*bold* `code` | a | table |",
    "\u001b[31mred\u001b[0m \u001b]8;;http://x.example\u001b\\link\u001b]8;;\u001b\\ \u001b]0;title\u0007",
    "[/bold] [link=http://x.example]click[/link] [red]",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_metadata_set_puts_any_string_at_a_dotted_path(text: str) -> None:
    client = sandbox_client([f"metadata-set:R4=software.version={json.dumps(text)}"])
    statement = _metadata(client, "R4").json()
    assert statement["software"]["version"] == text
    assert statement["software"]["name"] == "Epic"
    assert _metadata(client, "STU3").json()["software"]["version"] == "May 2026"
    xml = _metadata(client, "R4", "application/fhir+xml")
    assert xml.status_code == 200 and ET.fromstring(xml.content) is not None  # still well-formed XML


def test_metadata_set_and_drop_through_lists_and_new_objects() -> None:
    client = sandbox_client(["metadata-set:R4=implementation.description=\"Harness [bold]\"",
                             "metadata-set:R4=publisher.name=\"made up\"",
                             "metadata-drop:R4=rest.resource.supportedProfile",
                             'metadata-set:STU3=rest.resource.documentation="every resource"'])
    r4 = _metadata(client, "R4").json()
    assert r4["implementation"]["description"] == "Harness [bold]"
    assert r4["publisher"] == {"name": "made up"}
    assert not any("supportedProfile" in r for r in r4["rest"][0]["resource"])
    assert len(r4["rest"][0]["resource"]) > 50
    stu3 = _metadata(client, "STU3").json()
    assert {r["documentation"] for r in stu3["rest"][0]["resource"]} == {"every resource"}
    assert any("supportedProfile" in r for r in _metadata(sandbox_client(), "R4").json()["rest"][0]["resource"])


@pytest.mark.parametrize("fault, message", [
    ("metadata-set:R4=software.version=not json", "JSON"),
    ("metadata-set:R5=software.version=\"x\"", "R4, STU3, DSTU2"),
    ("metadata-set:R4=software..version=1", "dotted"),
    ("discovery-error:metadata=418", "403, 404, 500, 503"),
    ("discovery-hang:smart-config", "did you mean smart-configuration"),
])
def test_bad_discovery_faults_are_refused(fault: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        default_settings([fault])


@pytest.mark.parametrize("status, text", [(403, "403 Forbidden"), (404, "404 - File or directory not found."),
                                          (500, "500 - Internal server error."), (503, "HTTP Error 503")])
def test_discovery_error_pages(status: int, text: str) -> None:
    client = sandbox_client([f"discovery-error:metadata={status}"])
    for version in VERSIONS:
        response = _metadata(client, version)
        assert response.status_code == status and text in response.text
        assert response.headers["content-type"].startswith("text/html")
    assert _smart(client).status_code == 200


def test_sign_in_page_flaky_and_xml_only() -> None:
    page = _smart(sandbox_client(["discovery-sign-in-page:smart-configuration"]))
    assert page.status_code == 200 and "Login" in page.text and page.headers["content-type"].startswith("text/html")
    flaky = sandbox_client(["discovery-flaky:metadata"])
    assert [_metadata(flaky, "R4").status_code for _ in range(3)] == [503, 200, 200]
    assert _metadata(flaky, "STU3").status_code == 503  # each version's document fails once
    xml = _metadata(sandbox_client(["metadata-xml-only:R4"]), "R4", "application/fhir+json")
    assert xml.headers["content-type"] == "application/fhir+xml; charset=utf-8" and xml.text.startswith("<?xml")


def test_live_date_is_the_time_of_the_request() -> None:
    from datetime import datetime, timezone

    statement = _metadata(sandbox_client(["metadata-live-date:R4"]), "R4").json()
    stamped = datetime.strptime(statement["date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - stamped).total_seconds()) < 60
    assert _metadata(sandbox_client(), "R4").json()["date"] == "2026-07-24T20:25:44Z"  # Epic's saved one


def test_delay_and_hang_over_http() -> None:
    import time

    from harness.sandbox import EmbeddedSandbox

    with EmbeddedSandbox(default_settings(["discovery-delay:0.3", "discovery-hang:smart-configuration"])) as sandbox:
        started = time.monotonic()
        response = httpx.get(f"{sandbox.fhir_base()}/metadata", headers={"accept": "application/fhir+json"})
        assert response.status_code == 200 and time.monotonic() - started >= 0.3
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{sandbox.fhir_base()}/.well-known/smart-configuration", timeout=0.5)


@pytest.mark.parametrize("variation, metadata, smart", [
    ("no-metadata", 404, 200), ("down-503", 503, 503), ("forbidden", 403, 403), ("current", 200, 200)])
def test_a_single_sandbox_misbehaves_as_a_fleet_variation(variation: str, metadata: int, smart: int) -> None:
    client = sandbox_client([f"fleet-variation:{variation}"])
    assert _metadata(client, "R4").status_code == metadata
    assert _smart(client).status_code == smart


def test_fleet_variation_old_release_on_one_sandbox() -> None:
    client = sandbox_client(["fleet-variation:old-release"])
    statement = _metadata(client, "R4").json()
    assert statement["software"]["version"] == "May 2022"
    assert not any("supportedProfile" in r for r in statement["rest"][0]["resource"])
    assert _smart(client).json()["grant_types_supported"] == []
