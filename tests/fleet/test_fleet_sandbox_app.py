"""The sandbox fleet itself: each tenant a whole sandbox under /t/<name>, its variations, and the
endpoint directory it writes (Epic's format and quirks, loopback and .invalid addresses only)."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx
import pytest

from harness.fleet.directory import parse_bundle, parse_instant
from harness.sandbox.fleet import EmbeddedFleet, FleetSpec, FleetTenant, build_fleet, endpoint_directory

FHIR_JSON = {"accept": "application/fhir+json"}


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as c:
        yield c


def first(spec, variation):
    return spec.of_variation(variation)[0]


def test_metadata_is_the_tenants_own(small_fleet, client):
    tenant = first(small_fleet.spec, "current")
    base = small_fleet.tenant_base(tenant.name)
    body = client.get(f"{base}/metadata", headers=FHIR_JSON).json()
    assert body["software"]["version"] == tenant.release
    assert body["implementation"]["url"] == base
    token = next(e for e in body["rest"][0]["security"]["extension"][0]["extension"] if e["url"] == "token")
    assert token["valueUri"] == f"{small_fleet.base_url}/t/{tenant.name}/oauth2/token"
    generated = parse_instant(body["date"])
    assert abs((datetime.now(timezone.utc) - generated).total_seconds()) < 60  # generated on each fetch
    assert client.get(f"{base}/metadata").headers["content-type"].startswith("application/xml")  # Epic's default


def test_base_path_matches_without_regard_to_case(small_fleet, client):
    tenant = first(small_fleet.spec, "current")
    upper = f"{small_fleet.base_url}/T/{tenant.name.upper()}/API/fhir/r4"
    response = client.get(f"{upper}/metadata", headers=FHIR_JSON)
    assert response.status_code == 200
    assert response.json()["implementation"]["url"] == small_fleet.tenant_base(tenant.name)


def test_each_tenant_is_a_whole_sandbox(small_fleet, client):
    tenant = first(small_fleet.spec, "current")
    base = small_fleet.tenant_base(tenant.name)
    smart = client.get(f"{base}/.well-known/smart-configuration").json()
    root = f"{small_fleet.base_url}/t/{tenant.name}"
    assert smart["token_endpoint"] == f"{root}/oauth2/token"
    assert smart["grant_types_supported"] == list(tenant.grant_types)
    refused = client.post(smart["token_endpoint"], data={"grant_type": "client_credentials"})
    assert refused.status_code == 400 and "error" in refused.json()
    assert client.get(f"{base}/Patient/abc").status_code == 401


def test_unknown_tenant_is_an_iis_404(small_fleet, client):
    response = client.get(f"{small_fleet.base_url}/t/nobody/api/FHIR/R4/metadata")
    assert response.status_code == 404 and "text/html" in response.headers["content-type"]
    assert client.get(f"{small_fleet.base_url}/elsewhere").status_code == 404


def test_old_release_statement_and_smart_configuration(client):
    spec = build_fleet(seed=3, size=60)
    old = first(spec, "old-release")
    with EmbeddedFleet(spec) as fleet:
        base = fleet.tenant_base(old.name)
        body = client.get(f"{base}/metadata", headers=FHIR_JSON).json()
        smart = client.get(f"{base}/.well-known/smart-configuration").json()
    resources = body["rest"][0]["resource"]
    assert not any("supportedProfile" in r for r in resources)
    assert len(resources) == 59 - len(old.drop_resources)
    assert smart["grant_types_supported"] == [] and smart["code_challenge_methods_supported"] == []
    assert "client-confidential-asymmetric" not in smart["capabilities"]


@pytest.mark.parametrize("variation, metadata_status, smart_status", [
    ("no-smart-config", 200, 404), ("no-metadata", 404, 200), ("metadata-503", 503, 200), ("down-503", 503, 503),
    ("forbidden", 403, 403),
])
def test_document_behaviours(small_fleet, client, variation, metadata_status, smart_status):
    base = small_fleet.tenant_base(first(small_fleet.spec, variation).name)
    assert client.get(f"{base}/metadata", headers=FHIR_JSON).status_code == metadata_status
    assert client.get(f"{base}/.well-known/smart-configuration").status_code == smart_status


def test_html_xml_hang_and_flaky(small_fleet, client):
    spec = small_fleet.spec
    html = client.get(f"{small_fleet.tenant_base(first(spec, 'html').name)}/metadata", headers=FHIR_JSON)
    assert html.status_code == 200 and html.text.startswith("<!DOCTYPE html>")
    xml = client.get(f"{small_fleet.tenant_base(first(spec, 'not-json').name)}/metadata", headers=FHIR_JSON)
    assert xml.status_code == 200 and xml.text.startswith("<?xml") and "fhir+xml" in xml.headers["content-type"]
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"{small_fleet.tenant_base(first(spec, 'hang').name)}/metadata", timeout=0.3)
    flaky = f"{small_fleet.tenant_base(first(spec, 'flaky').name)}/metadata"
    assert client.get(flaky, headers=FHIR_JSON).status_code == 503
    assert client.get(flaky, headers=FHIR_JSON).status_code == 200


def test_load_swaps_the_fleet(small_fleet, client):
    tenant = first(small_fleet.spec, "current")
    small_fleet.load(small_fleet.spec.replace(tenant.name, release="toukokuu 2022"))
    body = client.get(f"{small_fleet.tenant_base(tenant.name)}/metadata", headers=FHIR_JSON).json()
    assert body["software"]["version"] == "toukokuu 2022"


def test_directory_has_epics_format_and_quirks():
    spec = build_fleet(seed=3, size=60)
    bundle = endpoint_directory(spec, "http://127.0.0.1:40001")
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert re.fullmatch(r"2026-04-27T16:09:30\.\d{7}-05:00", bundle["timestamp"])
    assert bundle["total"] == len(bundle["entry"]) == 60 + (16 + 7 + 3 + 2 - 4) + 9 + 10
    epic = [e["resource"] for e in bundle["entry"] if "contained" in e["resource"]]
    npd = [e["resource"] for e in bundle["entry"] if "contained" not in e["resource"]]
    assert len(npd) == 10 and all("managingOrganization" not in r and "period" not in r for r in npd)
    for resource in epic:
        org = resource["contained"][0]
        assert len(org["id"]) == 44 and re.search(r"[/+=]", org["id"])
        assert resource["managingOrganization"]["reference"] == org["id"]  # no '#'
        assert resource["name"] == org["name"]
    assert bundle == endpoint_directory(spec, "http://127.0.0.1:40001")  # deterministic


def test_every_address_stays_on_loopback_or_in_invalid():
    spec = build_fleet(seed=7, size=420)
    for entry in endpoint_directory(spec, "http://127.0.0.1:40001")["entry"]:
        host = (urlsplit(entry["resource"]["address"]).hostname or "").rstrip(".")
        if host.endswith(".invalid"):
            continue
        assert ipaddress.ip_address(host).is_loopback, entry["resource"]["address"]


def test_directory_round_trips_through_the_reader():
    spec = build_fleet(seed=3, size=60)
    directory = parse_bundle(endpoint_directory(spec, "http://127.0.0.1:40001"))
    assert {e.organization.name for e in directory.entries} >= {o for t in spec.tenants for o in t.organizations}


def test_spec_validation():
    with pytest.raises(ValueError, match="unknown fleet variation"):
        FleetTenant(name="x", variation="nope", release="May 2026", organizations=("X",))
    with pytest.raises(ValueError, match="unknown document behaviour"):
        FleetTenant(name="x", variation="current", release="May 2026", organizations=("X",), metadata="teapot")
    twin = FleetTenant(name="x", variation="current", release="May 2026", organizations=("X",))
    with pytest.raises(ValueError, match="unique"):
        FleetSpec(1, (twin, FleetTenant(name="X", variation="current", release="May 2026", organizations=("Y",))))
    with pytest.raises(ValueError, match="at least"):
        build_fleet(size=10)
    assert json.loads(json.dumps(sorted(twin.faults())))  # faults are plain strings
