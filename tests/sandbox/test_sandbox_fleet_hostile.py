"""The simulated fleet's hostile tenants, over real HTTP: compression bombs, a body that never ends,
redirects inward and from https to http, https tenants with a throwaway CA (one expiring soon), a
service that is not HTTP. They are never in the default fleet. Bodies are read raw and decoded
with a cap here: nothing in these tests expands a bomb."""

from __future__ import annotations

import socket
import ssl
import time
import zlib
from collections.abc import Iterator

import httpx
import pytest

from harness.sandbox import FaultError, default_settings
from harness.sandbox.faults.fleet import HOSTILE_VARIATIONS, INWARD
from harness.sandbox.fleet import EmbeddedFleet, build_fleet
from harness.sandbox.server import EmbeddedSandbox

MB = 1 << 20
JSON = {"accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def fleet() -> Iterator[EmbeddedFleet]:
    with EmbeddedFleet(build_fleet(size=60, hostile=True)) as served:
        yield served


def raw_get(url: str, *, verify: ssl.SSLContext | bool = True, limit: int = 8 * MB) -> tuple[httpx.Response, bytes]:
    """The answer and up to ``limit`` bytes of its body as sent (never decoded)."""
    with httpx.stream("GET", url, headers=JSON, verify=verify, timeout=5) as response:
        raw = b""
        for chunk in response.iter_raw():
            raw += chunk
            if len(raw) >= limit:
                break
    return response, raw


def trusted(fleet: EmbeddedFleet) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(fleet.ca_file))


def metadata_url(fleet: EmbeddedFleet, name: str) -> str:
    return f"{fleet.tenant_base(name)}/metadata"


def test_the_default_fleet_has_no_hostile_tenant_and_keeps_its_tenants() -> None:
    plain, hostile = build_fleet(), build_fleet(hostile=True)
    assert not {t.variation for t in plain.tenants} & set(HOSTILE_VARIATIONS)
    assert hostile.tenants[: len(plain.tenants)] == plain.tenants
    assert [t.variation for t in hostile.tenants[len(plain.tenants):]] == list(HOSTILE_VARIATIONS)
    assert hostile.unreachable[: len(plain.unreachable)] == plain.unreachable
    assert [a.kind for a in hostile.unreachable[len(plain.unreachable):]] == ["banner"]
    with EmbeddedFleet(build_fleet(size=60)) as default:
        assert default.tls_servers == {} and default.banner is None and default.ca_file is None


def test_a_gzip_bomb_is_a_megabyte_that_decodes_to_a_gibibyte(fleet) -> None:
    response, raw = raw_get(metadata_url(fleet, "hostile-gzip-bomb"))
    assert response.status_code == 200 and response.headers["content-encoding"] == "gzip"
    assert len(raw) == int(response.headers["content-length"]) < 1.2 * MB
    decoder = zlib.decompressobj(31)
    first = decoder.decompress(raw, 16 * MB)  # capped: 16 MB of the 1 GiB
    assert len(first) == 16 * MB and not first.strip(b"\0") and decoder.unconsumed_tail


def test_gzip_gzip_is_ten_kilobytes_of_two_layers(fleet) -> None:
    response, raw = raw_get(metadata_url(fleet, "hostile-double-gzip"))
    assert response.headers["content-encoding"] == "gzip, gzip" and len(raw) < 20_000
    outer = zlib.decompressobj(31).decompress(raw, 8 * MB)
    assert outer[:2] == b"\x1f\x8b"  # the inner layer is gzip again
    assert zlib.decompressobj(31).decompress(outer, MB) == bytes(MB)


def test_an_endless_body_never_ends_and_the_fleet_still_answers(fleet) -> None:
    started = time.monotonic()
    response, raw = raw_get(metadata_url(fleet, "hostile-endless-body"), limit=20 * MB)
    assert response.status_code == 200 and "content-length" not in response.headers and len(raw) >= 20 * MB
    assert time.monotonic() - started < 30
    assert httpx.get(metadata_url(fleet, fleet.spec.tenants[0].name), headers=JSON, timeout=5).status_code in (
        200, 404, 403, 503)  # the event loop is free again


def test_a_redirect_inward_names_the_metadata_address(fleet) -> None:
    response = httpx.get(metadata_url(fleet, "hostile-redirect-inward"), headers=JSON, timeout=5)
    assert response.status_code == 302 and response.headers["location"] == INWARD


def test_https_tenants_with_the_fleets_throwaway_ca(fleet) -> None:
    for name, days in (("hostile-https", 365), ("hostile-https-expiring", 10)):
        base = fleet.tenant_base(name)
        assert base.startswith("https://127.0.0.1:")
        answer = httpx.get(f"{base}/metadata", headers=JSON, verify=trusted(fleet), timeout=5)
        assert answer.status_code == 200 and answer.json()["resourceType"] == "CapabilityStatement"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{base}/metadata", timeout=5)
        port = int(base.split(":")[2].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                trusted(fleet).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            left = (ssl.cert_time_to_seconds(tls.getpeercert()["notAfter"]) - time.time()) / 86400
        assert days - 0.1 < left <= days
    assert fleet.tls_servers["expiring"].certificate.not_after < fleet.tls_servers["valid"].certificate.not_after


def test_a_redirect_from_https_to_the_same_tenant_over_http(fleet) -> None:
    base = fleet.tenant_base("hostile-redirect-to-http")
    response = httpx.get(f"{base}/metadata", headers=JSON, verify=trusted(fleet), timeout=5)
    assert base.startswith("https://") and response.status_code == 302
    location = response.headers["location"]
    assert location == f"{fleet.base_url}/t/hostile-redirect-to-http/api/FHIR/R4/metadata"
    assert location.startswith("http://")


def test_a_service_that_is_not_http_writes_its_banner(fleet) -> None:
    address = next(e["resource"]["address"] for e in fleet.directory()["entry"] if "/banner-0/" in
                   e["resource"]["address"])
    port = int(address.split(":")[2].split("/")[0])
    assert port == fleet.banner.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        assert raw.recv(100).startswith(b"SSH-2.0-")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(address + "metadata", timeout=5)


def test_the_directory_lists_every_hostile_tenant_where_it_is_served(fleet) -> None:
    addresses = [e["resource"]["address"] for e in fleet.directory()["entry"]]
    for variation in HOSTILE_VARIATIONS:
        name = f"hostile-{variation}"
        assert f"{fleet.tenant_base(name)}/" in addresses, name
        scheme = "https" if variation.startswith(("https", "redirect-to-http")) else "http"
        assert fleet.tenant_base(name).startswith(f"{scheme}://")


# --- the discovery faults they are made of, on one sandbox ------------------------------------


def test_hostile_discovery_faults_on_one_sandbox() -> None:
    faults = ["discovery-redirect:smart-configuration=http://{host}{path}", "discovery-double-gzip:metadata"]
    with EmbeddedSandbox(default_settings(faults)) as sandbox:
        smart = httpx.get(f"{sandbox.base_url}/api/FHIR/R4/.well-known/smart-configuration?x=1", timeout=5)
        assert smart.status_code == 302
        assert smart.headers["location"] == f"http://127.0.0.1:{sandbox.port}/api/FHIR/R4/.well-known/" \
                                            "smart-configuration?x=1"
        response, raw = raw_get(f"{sandbox.base_url}/api/FHIR/STU3/metadata")
        assert response.headers["content-encoding"] == "gzip, gzip" and len(raw) < 20_000
        token = httpx.post(f"{sandbox.base_url}/oauth2/token", data={"grant_type": "client_credentials"}, timeout=5)
        assert token.status_code == 400  # the rest of the tenant is untouched


@pytest.mark.parametrize(("fault", "words"), [
    ("discovery-redirect:metadata=ftp://elsewhere.example/x", "not an http(s) URL"),
    ("discovery-redirect:metadata=http://{hots}/x", "not an http(s) URL"),
    ("discovery-endless-body:metadatta", "did you mean metadata"),
])
def test_bad_hostile_faults_are_refused(fault, words) -> None:
    with pytest.raises(FaultError, match=words.replace("(", r"\(").replace(")", r"\)")):
        default_settings([fault])
