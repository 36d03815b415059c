"""Bounded memory against hostile bodies: decoding stops at the cap on DECODED bytes, stacked or unasked-for
encodings are refused, exceptions hold no body, the run never holds more than a budget of answers, and
one search reads a bounded number of bytes and keeps a bounded number of entries."""

from __future__ import annotations

import dataclasses
import gc
import gzip
import json
import tracemalloc
import zlib
from typing import Any, Iterator

import httpx
import pytest

from harness.client import MAX_LOGGED_BODY, TenantClient
from harness.config import ClientSettings, load_tenant
from harness.decoding import BodyRefused, BodyTooLarge, BoundedDecoder, decode_bounded
from harness.errors import TenantError
from harness.fhir.paging import follow_search
from tests.conftest import SANDBOX_TENANT

ROOT = "https://epic.example.org/interconnect"
FHIR = f"{ROOT}/api/FHIR/R4"
MB = 1_000_000


def gzipped_zeros(size: int) -> bytes:
    """gzip of ``size`` zero bytes, built without holding them."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [z.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + z.flush()


class Chunks(httpx.SyncByteStream):
    """A body as a network gives it: in 64 KB pieces, never decoded by httpx on the way."""

    def __init__(self, data: bytes, size: int = 65_536) -> None:
        self.data, self.size = data, size

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self.data), self.size):
            yield self.data[i:i + self.size]


def client_with(handler, **settings: Any) -> TenantClient:
    extra = {k: settings.pop(k) for k in list(settings) if k == "max_live_response_bytes"}
    tenant = load_tenant(SANDBOX_TENANT, base_url=ROOT)
    tenant = dataclasses.replace(tenant, client=ClientSettings(**{"rate_per_second": 1000.0, "max_retries": 0,
                                                                   **settings}))
    client = TenantClient(tenant, transport=httpx.MockTransport(handler), **extra)
    client.use_tokens(lambda: "token-0000000000", lambda: None)
    return client


def encoded(body: bytes, encoding: str) -> httpx.Response:
    return httpx.Response(200, stream=Chunks(body), headers={"Content-Type": "application/fhir+json",
                                                             "Content-Encoding": encoding})


def peak_while(call) -> tuple[int, BaseException | None]:
    gc.collect()
    tracemalloc.start()
    raised = None
    try:
        call()
    except Exception as exc:  # the caller asserts on it
        raised = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, raised


BOMB = gzipped_zeros(256 * MB)  # 256 MB of zeros in about 250 KB


def test_a_stacked_gzip_bomb_is_refused_before_any_decoding() -> None:
    double = gzip.compress(BOMB, 9)
    assert len(double) < 20_000
    client = client_with(lambda request: encoded(double, "gzip, gzip"), max_response_bytes=50 * MB)
    peak, raised = peak_while(lambda: client.get(f"{FHIR}/Patient/p"))
    assert isinstance(raised, TenantError) and "stacks 2 encodings" in str(raised), raised
    assert peak < 5 * MB, f"{peak:,} bytes allocated for a refused body"


def test_a_single_gzip_body_decodes_only_up_to_the_cap() -> None:
    client = client_with(lambda request: encoded(BOMB, "gzip"), max_response_bytes=MB)
    peak, raised = peak_while(lambda: client.get(f"{FHIR}/Patient/p"))
    assert isinstance(raised, TenantError) and "exceeds 1,000,000 bytes once decoded" in str(raised), raised
    assert peak < 6 * MB, f"{peak:,} bytes allocated with a 1 MB cap"
    assert client.log[-1].error == "response too large"


def test_an_encoding_not_asked_for_is_refused_and_one_gzip_is_read() -> None:
    body = json.dumps({"resourceType": "Patient", "id": "p"}).encode()
    client = client_with(lambda request: encoded(body, "br"))
    with pytest.raises(TenantError, match="'br' was not asked for"):
        client.get(f"{FHIR}/Patient/p")
    seen: list[httpx.Request] = []
    client = client_with(lambda request: seen.append(request) or encoded(gzip.compress(body), "gzip"))
    response = client.get(f"{FHIR}/Patient/p")
    assert response.json()["id"] == "p" and "content-encoding" not in response.headers
    assert seen[0].headers["accept-encoding"] == "gzip, deflate"


def test_the_decoder_reads_what_servers_send_and_nothing_more() -> None:
    text = b"x" * 100_000
    assert decode_bounded(gzip.compress(text) + gzip.compress(text), "gzip", 10 * MB) == text * 2  # two members
    assert decode_bounded(zlib.compress(text), "deflate", MB) == text
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    assert decode_bounded(raw.compress(text) + raw.flush(), "deflate", MB) == text  # raw deflate
    assert decode_bounded(text, "identity", MB) == text and decode_bounded(text, None, MB) == text
    assert decode_bounded(gzip.compress(text), "gzip, identity", MB) == text
    assert decode_bounded(gzip.compress(text), "gzip", len(text)) == text  # exactly at the cap
    with pytest.raises(BodyTooLarge):
        decode_bounded(gzip.compress(text), "gzip", len(text) - 1)
    with pytest.raises(BodyRefused, match="cannot be decoded"):
        decode_bounded(b"not gzip at all", "gzip", MB)
    with pytest.raises(BodyRefused, match="stacks"):
        BoundedDecoder("deflate, gzip", MB)


def _big_objects_in_frames(exc: BaseException) -> list[str]:
    found = []
    tb = exc.__traceback__.tb_next  # the first frame is the test's own
    while tb is not None:
        for name, value in tb.tb_frame.f_locals.items():
            if isinstance(value, httpx.Response) or (isinstance(value, (bytes, bytearray, str)) and len(value) > 100_000):
                found.append(f"{tb.tb_frame.f_code.co_name}.{name}")
        tb = tb.tb_next
    return found


def test_exceptions_carry_text_not_bodies() -> None:
    """Hypothesis keeps every failing example's exception, and with it the frames of its traceback:
    none of them may hold a body."""
    client = client_with(lambda request: httpx.Response(200, stream=Chunks(b"x" * (3 * MB))), max_response_bytes=MB)
    with pytest.raises(TenantError) as raised:
        client.get(f"{FHIR}/Patient/p")
    assert _big_objects_in_frames(raised.value) == [] and raised.value.__context__ is None
    page = "<html><body>" + "Server Error " * 200_000 + "</body></html>"
    client = client_with(lambda request: httpx.Response(500, text=page, headers={"Content-Type": "text/html"}))
    with pytest.raises(TenantError, match="HTTP 500") as raised:
        follow_search(client, f"{FHIR}/Patient", params={"family": "x"})
    assert _big_objects_in_frames(raised.value) == [] and raised.value.__context__ is None


def test_the_run_never_holds_more_than_its_budget_of_answers() -> None:
    body = json.dumps({"resourceType": "Binary", "data": "x" * MB}).encode()
    client = client_with(lambda request: httpx.Response(200, content=body, headers={"Content-Type": "application/fhir+json"}),
                         max_live_response_bytes=3 * MB + 1000)
    kept = [client.get(f"{FHIR}/Binary/{i}") for i in range(3)]  # e.g. failing examples kept by Hypothesis
    with pytest.raises(TenantError, match="the run already holds 3,000,"):
        client.get(f"{FHIR}/Binary/3")
    del kept
    assert client.get(f"{FHIR}/Binary/4").status_code == 200  # released answers free the budget


def test_the_exchange_log_keeps_bounded_excerpts() -> None:
    body = json.dumps({"resourceType": "Binary", "data": "x" * (3 * MB)}).encode()
    client = client_with(lambda request: httpx.Response(200, content=body, headers={"Content-Type": "application/fhir+json"}))
    client.get(f"{FHIR}/Binary/1")
    kept = client.log[-1].response_body
    assert len(kept) < MAX_LOGGED_BODY + 200 and "more characters not kept" in kept


def _pages(size: int, entries: int):
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("page", "0"))
        padding = "x" * (size // max(entries, 1))
        bundle = {"resourceType": "Bundle", "type": "searchset",
                  "link": [{"relation": "next", "url": f"{FHIR}/Observation?page={n + 1}"}],
                  "entry": [{"resource": {"resourceType": "Observation", "id": f"o{n}-{i}", "note": [{"text": padding}]},
                             "search": {"mode": "match"}} for i in range(entries)]}
        return httpx.Response(200, json=bundle, headers={"Content-Type": "application/fhir+json"})
    return handler


def test_one_search_reads_a_bounded_number_of_bytes_and_keeps_a_bounded_number_of_entries() -> None:
    client = client_with(_pages(MB, 10), max_response_bytes=5 * MB)
    result = follow_search(client, f"{FHIR}/Observation", resource_type="Observation", max_bytes=3 * MB)
    assert result.truncated and result.pages == 3 and 3 * MB <= result.bytes_read < 4 * MB
    assert any("at most 3,000,000 bytes" in q for q in result.quirks)
    client = client_with(_pages(1000, 40))
    result = follow_search(client, f"{FHIR}/Observation", resource_type="Observation", max_entries=50)
    assert len(result.resources) == 50 and result.truncated and result.pages == 2
    assert any("at most 50" in q or "first 50" in q for q in result.quirks)
