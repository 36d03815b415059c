"""The bearer token goes to the FHIR base origins only: never to an origin a discovery document or an
answer names (registration, JWK Set, authorize endpoints, next links, fullUrl, Location, redirects),
never to the token endpoint, and an origin differs by scheme, host or port."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from harness.client import TenantClient, origin_of
from harness.config import load_tenant
from harness.discovery import Discovery
from harness.errors import OriginError
from harness.fhir.paging import follow_search
from tests.conftest import SANDBOX_TENANT

ROOT = "https://epic.example.org/interconnect"
FHIR = f"{ROOT}/api/FHIR/R4"
EVIL = "https://login.attacker.example"
TOKEN = "secret-token-value-0123456789"


def wired(handler, **kw) -> tuple[TenantClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    tenant = load_tenant(SANDBOX_TENANT, base_url=ROOT)
    client = TenantClient(tenant, transport=httpx.MockTransport(record), **kw)
    client.use_tokens(lambda: TOKEN, lambda: None)
    return client, seen


def carried_token(seen: list[httpx.Request]) -> list[str]:
    return [str(r.url) for r in seen if TOKEN in r.headers.get("authorization", "")]


def fhir(body: dict, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"Content-Type": "application/fhir+json", **headers})


SMART = {"token_endpoint": f"{ROOT}/oauth2/token", "authorization_endpoint": f"{EVIL}/authorize",
         "registration_endpoint": f"{EVIL}/register", "jwks_uri": f"{EVIL}/jwks",
         "management_endpoint": "https://manage.attacker.example:8443/manage",
         "grant_types_supported": ["client_credentials"]}
CAPABILITY = {"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "security": {"extension": [{
    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
    "extension": [{"url": "token", "valueUri": f"{ROOT}/oauth2/token"},
                  {"url": "authorize", "valueUri": f"{EVIL}/authorize"},
                  {"url": "register", "valueUri": f"{EVIL}/register"}]}]}}]}


def discovery_tenant(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("smart-configuration"):
        return httpx.Response(200, json=SMART)
    if request.url.path.endswith("/metadata"):
        return fhir(CAPABILITY)
    return fhir({"resourceType": "Bundle", "type": "searchset", "entry": []})


def test_origins_a_discovery_document_names_never_get_the_token() -> None:
    client, seen = wired(discovery_tenant)
    discovery = Discovery(client, client.tenant)
    assert discovery.smart_configuration.ok and discovery.capability("R4").ok
    assert discovery.token_endpoint() == f"{ROOT}/oauth2/token"
    for url in (f"{EVIL}/register", f"{EVIL}/jwks/Patient", f"{EVIL}/authorize",
                "https://manage.attacker.example:8443/manage/Patient"):
        with pytest.raises(OriginError, match="not one of the tenant's FHIR base origins"):
            client.get(url)
    assert carried_token(seen) == [] and not [r for r in seen if "attacker" in r.url.host]
    assert client.is_own(f"{FHIR}/Patient/x") and not client.is_own(f"{EVIL}/register")


def test_foreign_origins_of_a_discovery_document_are_listed_for_a_warning() -> None:
    client, _ = wired(discovery_tenant)
    smart = {f.where: f.origin for f in client.foreign_origins(SMART)}
    assert smart == {"authorization_endpoint": "https://login.attacker.example:443",
                     "registration_endpoint": "https://login.attacker.example:443",
                     "jwks_uri": "https://login.attacker.example:443",
                     "management_endpoint": "https://manage.attacker.example:8443"}
    cap = {f.where for f in client.foreign_origins(CAPABILITY)}
    assert cap == {"oauth-uris authorize", "oauth-uris register"}
    assert all("never sent there" in f.describe() for f in client.foreign_origins(SMART))
    assert client.foreign_origins({"token_endpoint": f"{ROOT}/oauth2/token"}) == []


def test_the_token_endpoint_gets_the_token_request_only() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})
        return fhir({"resourceType": "Patient", "id": "p"})

    client, seen = wired(handler)
    client.post(f"{ROOT}/oauth2/token", auth=False, data={"grant_type": "client_credentials",
                                                          "client_assertion": "eyJhbGciOi.eyJpc3MiOi.c2ln-assertion"})
    for kw in ({}, {"auth": False, "headers": {"Authorization": f"Bearer {TOKEN}"}}):
        with pytest.raises(OriginError, match="token endpoint"):
            client.get(f"{ROOT}/oauth2/token?x=1", **kw)
    assert carried_token(seen) == []
    assert client.get(f"{FHIR}/Patient/p").status_code == 200 and carried_token(seen) == [f"{FHIR}/Patient/p"]


@pytest.mark.parametrize("other", [
    "https://epic.example.org:8443/interconnect/api/FHIR/R4/Patient",  # another port
    "http://epic.example.org/interconnect/api/FHIR/R4/Patient",  # another scheme (refused as plain http too)
    "https://fhir.epic.example.org/interconnect/api/FHIR/R4/Patient",  # another host, even a subdomain
])
def test_an_origin_differs_by_scheme_host_or_port(other: str) -> None:
    client, seen = wired(lambda request: fhir({"resourceType": "Patient", "id": "p"}))
    with pytest.raises(OriginError):
        client.get(other)
    with pytest.raises(OriginError):  # an Authorization header given by hand is guarded too
        client.get(other, auth=False, headers={"Authorization": f"Bearer {TOKEN}"})
    assert seen == []
    assert origin_of("HTTPS://Epic.Example.org/x") == origin_of("https://epic.example.org:443/y")


def test_redirects_location_full_url_and_next_links_elsewhere_are_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/Patient/moved"):
            return httpx.Response(302, headers={"Location": f"{EVIL}/api/FHIR/R4/Patient/p"})
        if path.endswith("/Patient") and request.method == "POST":
            return fhir({"resourceType": "Patient", "id": "n"}, 201, Location=f"{EVIL}/api/FHIR/R4/Patient/n")
        return fhir({"resourceType": "Bundle", "type": "searchset", "total": 1,
                     "link": [{"relation": "next", "url": f"{EVIL}/api/FHIR/R4/Patient?sessionID=2"}],
                     "entry": [{"fullUrl": f"{EVIL}/api/FHIR/R4/Patient/p1",
                                "resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "match"}}]})

    client, seen = wired(handler)
    moved = client.get(f"{FHIR}/Patient/moved")
    assert moved.status_code == 302  # not followed
    with pytest.raises(OriginError):
        client.get(moved.headers["location"])
    created = client.post(f"{FHIR}/Patient", json={"resourceType": "Patient"})
    with pytest.raises(OriginError):
        client.get(created.headers["location"])
    result = follow_search(client, f"{FHIR}/Patient", params={"family": "x"}, resource_type="Patient")
    assert any("leaves the tenant" in p for p in result.problems)
    entries = [e["fullUrl"] for e in client.get(f"{FHIR}/Patient").json()["entry"]]
    with pytest.raises(OriginError):
        client.get(entries[0])
    assert {r.url.host for r in seen} == {"epic.example.org"} and len(carried_token(seen)) == len(seen)
    assert sorted(set(client.refused_bearer)) == ["https://login.attacker.example:443"]


def test_allow_origin_is_kept_callable_but_grants_nothing() -> None:
    client, seen = wired(lambda request: fhir({}))
    client.allow_origin(f"{EVIL}/register")
    assert client.named_origins == {"https://login.attacker.example:443": f"{EVIL}/register"}
    with pytest.raises(OriginError):
        client.get(f"{EVIL}/register")
    assert seen == []


def test_an_origin_the_tenant_file_names_gets_the_token() -> None:
    tenant = load_tenant(SANDBOX_TENANT, base_url=ROOT)
    tenant = dataclasses.replace(tenant, fhir_bases={**tenant.fhir_bases, "STU3": "https://stu3.epic.example.org/FHIR"})
    seen: list[httpx.Request] = []
    client = TenantClient(tenant, transport=httpx.MockTransport(lambda r: seen.append(r) or fhir({})),
                          bearer_origins=["https://web.epic.example.org"])
    client.use_tokens(lambda: TOKEN, lambda: None)
    client.get(client.url("STU3", "Patient/p"))
    client.get("https://web.epic.example.org/api/epic/2014/GetWaitTimes")
    assert len(carried_token(seen)) == 2
