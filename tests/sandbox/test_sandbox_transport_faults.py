"""Transport faults on the wire: throttling every Nth request, and compression bombs (read raw,
never decoded whole)."""

from __future__ import annotations

import json
import zlib

from sandbox_helpers import TestClient, bearer, get_token, sandbox_client

from harness.sandbox import payloads
from harness.sandbox.population import MAIN_PATIENT, MAIN_PRACTITIONER

R4 = "/api/FHIR/R4"


def _client(*faults: str) -> tuple[TestClient, dict[str, str]]:
    client = sandbox_client(faults)
    return client, bearer(get_token(client)["access_token"])


def _raw(client: TestClient, path: str, headers: dict[str, str], **params: str) -> tuple[int, dict[str, str], bytes]:
    with client.stream("GET", path, params=params, headers=headers) as response:
        return response.status_code, dict(response.headers), b"".join(response.iter_raw())


def test_every_third_request_on_a_type_is_429() -> None:
    client, headers = _client("transport-429-every:Coverage=3")
    statuses = [client.get(f"{R4}/Coverage", params={"patient": MAIN_PATIENT}, headers=headers) for _ in range(7)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 200, 200, 429, 200]
    throttled = statuses[2]
    assert throttled.headers["retry-after"] == "1" and throttled.content == b""
    assert statuses[0].json()["total"] == 2
    others = [client.get(f"{R4}/Practitioner/{MAIN_PRACTITIONER}", headers=headers).status_code for _ in range(4)]
    assert others == [200] * 4


def test_gzip_bomb_is_a_few_kilobytes_that_decode_to_gigabytes() -> None:
    client, headers = _client("transport-gzip-bomb:Coverage")
    status, response_headers, body = _raw(client, f"{R4}/Coverage", headers, patient=MAIN_PATIENT)
    assert status == 200
    assert response_headers["content-encoding"] == "gzip, gzip"
    assert len(body) < 20_000
    inner = zlib.decompress(body, 31)  # the outer layer: a few MB
    assert len(inner) < 8_000_000
    size = int.from_bytes(inner[-4:], "little")  # ISIZE: the length modulo 2**32
    decoder = zlib.decompressobj(31)
    first = decoder.decompress(inner, 64 << 20)
    assert len(first) == 64 << 20 and first.count(0) == len(first)  # and it goes on
    assert not decoder.eof and size == (4 << 30) % (1 << 32)
    plain, plain_headers = _client()
    assert "content-encoding" not in dict(plain.get(f"{R4}/Coverage", params={"patient": MAIN_PATIENT},
                                                    headers=plain_headers).headers)


def test_zeros_gzip_is_a_valid_member_with_its_crc() -> None:
    data = zlib.decompress(payloads.zeros_gzip(8), 31)  # zlib checks the CRC-32 and the length
    assert data == bytes(8 << 20)


def test_gzip_large_is_one_layer_of_about_2_mb_decoding_to_a_bundle_of_about_70_mb() -> None:
    client, headers = _client("transport-gzip-large:Coverage")
    status, response_headers, body = _raw(client, f"{R4}/Coverage", headers, patient=MAIN_PATIENT)
    assert status == 200 and response_headers["content-encoding"] == "gzip"
    assert 1_000_000 < len(body) < 3_000_000
    decoded = zlib.decompress(body, 31)
    assert 65_000_000 < len(decoded) < 75_000_000
    bundle = json.loads(decoded)
    assert bundle["resourceType"] == "Bundle" and bundle["total"] == 2
    assert [e["resource"]["resourceType"] for e in bundle["entry"][:2]] == ["Coverage", "Coverage"]
    assert {e["resource"]["resourceType"] for e in bundle["entry"][2:]} == {"Basic"}
    practitioner = client.get(f"{R4}/Practitioner/{MAIN_PRACTITIONER}", headers=headers)
    assert "content-encoding" not in practitioner.headers and practitioner.json()["id"] == MAIN_PRACTITIONER


def test_crc32_combine_is_zlibs() -> None:
    first, second = b"harness" * 1000, b"sandbox" * 333
    assert payloads.crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)) == zlib.crc32(first + second)
    assert payloads.crc32_repeated(zlib.crc32(second), len(second), 7) == zlib.crc32(second * 7)
