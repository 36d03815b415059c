"""The client never hammers, never hangs and never retries what may have been received."""

from __future__ import annotations

import dataclasses
import time

import httpx
import pytest

from harness.client import TenantClient, TransportFault
from harness.config import ClientSettings, load_tenant
from harness.errors import ConfigError, TenantError
from harness.ratelimit import RateLimiter, parse_rate
from tests.conftest import SANDBOX_TENANT

BASE = "https://epic.example.org/interconnect/api/FHIR/R4"


def make_client(handler, **settings) -> tuple[TenantClient, list[float]]:
    tenant = load_tenant(SANDBOX_TENANT, base_url="https://epic.example.org/interconnect")
    tenant = dataclasses.replace(tenant, client=ClientSettings(**{"rate_per_second": 1000.0, **settings}))
    slept: list[float] = []
    client = TenantClient(tenant, transport=httpx.MockTransport(handler), sleep=slept.append)
    client.use_tokens(lambda: "token-0000000000", lambda: None)
    return client, slept


def sequence(*responses):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        item = responses[min(len(calls), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, calls


OK = httpx.Response(200, json={"resourceType": "Patient", "id": "p"})


def test_429_and_503_retry_after_are_honoured() -> None:
    handler, calls = sequence(httpx.Response(429, headers={"Retry-After": "2"}),
                              httpx.Response(503, headers={"Retry-After": "1"}), OK)
    client, slept = make_client(handler)
    assert client.get(f"{BASE}/Patient/p").status_code == 200
    assert len(calls) == 3 and slept == [2.0, 1.0] and client.retries == 2


def test_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    handler, calls = sequence(httpx.Response(429, headers={"Retry-After": "3600"}), OK)
    client, slept = make_client(handler, retry_after_cap=30.0)
    assert client.get(f"{BASE}/Patient/p").status_code == 429 and len(calls) == 1 and not slept


def test_5xx_and_connection_errors_retried_with_backoff_for_reads_only() -> None:
    handler, calls = sequence(httpx.ConnectError("reset"), httpx.Response(502), OK)
    client, slept = make_client(handler)
    assert client.get(f"{BASE}/Patient/p").status_code == 200
    assert len(calls) == 3 and len(slept) == 2 and 0 < slept[0] <= slept[1] * 2
    for method, path in [("POST", "Patient"), ("PUT", "Task/t"), ("POST", "Appointment/$book")]:
        handler, calls = sequence(httpx.Response(500), OK)
        client, slept = make_client(handler)
        assert client.request(method, f"{BASE}/{path}", json={}).status_code == 500
        assert len(calls) == 1 and not slept
    handler, calls = sequence(httpx.ConnectError("reset"), OK)
    client, _ = make_client(handler)
    with pytest.raises(TransportFault):
        client.post(f"{BASE}/Patient", json={})
    assert len(calls) == 1


def test_retries_are_bounded() -> None:
    handler, calls = sequence(httpx.Response(503))
    client, slept = make_client(handler, max_retries=2)
    assert client.get(f"{BASE}/Patient/p").status_code == 503
    assert len(calls) == 3 and len(slept) == 2


def test_a_500_is_asked_once_more_and_an_error_that_persisted_is_not_retried_again() -> None:
    handler, calls = sequence(httpx.Response(500))
    client, slept = make_client(handler, max_retries=3)
    assert client.get(f"{BASE}/Practitioner/p").status_code == 500
    assert len(calls) == 2 and len(slept) == 1
    assert client.get(f"{BASE}/Practitioner/p").status_code == 500  # the next check asking the same
    assert len(calls) == 3 and len(slept) == 1
    assert client.get(f"{BASE}/Practitioner/q").status_code == 500  # another request still gets its retry
    assert len(calls) == 5 and len(slept) == 2


def test_a_request_that_recovered_is_retried_again_later() -> None:
    handler, calls = sequence(httpx.Response(503), httpx.Response(503), OK, httpx.Response(503), OK)
    client, slept = make_client(handler, max_retries=1)
    assert client.get(f"{BASE}/Patient/p").status_code == 503  # kept its 503 through its one retry
    assert client.get(f"{BASE}/Patient/p").status_code == 200  # asked once, without a retry: it answered
    assert client.get(f"{BASE}/Patient/p").status_code == 200  # after an answer, a 503 is retried again
    assert len(calls) == 5 and len(slept) == 2


def test_timeout_is_a_clear_transport_fault() -> None:
    handler, _ = sequence(httpx.ReadTimeout("slow"))
    client, _ = make_client(handler, max_retries=0)
    with pytest.raises(TransportFault, match="timed out"):
        client.get(f"{BASE}/Patient/p")


def test_size_cap_and_slow_drip() -> None:
    handler, _ = sequence(httpx.Response(200, content=b"x" * 5000))
    client, _ = make_client(handler, max_response_bytes=1000)
    with pytest.raises(TenantError, match="exceeds 1,000 bytes"):
        client.get(f"{BASE}/Patient/p")

    def drip():
        for _ in range(20):
            time.sleep(0.05)
            yield b" "

    client, _ = make_client(lambda request: httpx.Response(200, content=drip()), request_deadline=0.3)
    with pytest.raises(TenantError, match="slow drip"):
        client.get(f"{BASE}/Patient/p")


def test_rate_limiter_spaces_requests() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(5):
        limiter.acquire()
    assert now[0] == pytest.approx(2.0) and limiter.waited == pytest.approx(2.0)
    assert parse_rate("300/m") == 5.0 and parse_rate("10/s") == 10.0
    with pytest.raises(ConfigError, match="10/s"):
        parse_rate("fast")


def test_breaker_trips_on_refused_connections_only() -> None:
    handler, calls = sequence(httpx.ConnectError("refused"))
    client, _ = make_client(handler, max_retries=0)
    for _ in range(3):
        with pytest.raises(TransportFault, match="refused"):
            client.get(f"{BASE}/Patient/p")
    with pytest.raises(TransportFault, match="not sent; the tenant did not answer the last 3 requests"):
        client.get(f"{BASE}/Practitioner/x")
    assert len(calls) == 3
    handler, calls = sequence(httpx.ReadTimeout("slow"))
    client, _ = make_client(handler, max_retries=0)
    for _ in range(5):
        with pytest.raises(TransportFault, match="timed out"):
            client.get(f"{BASE}/Coverage?patient=p")
    assert len(calls) == 5  # a hanging API never stops the requests to the others
