"""The fetcher: every failure class, retries with backoff, the per-host rate limit, bounded concurrency."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

import httpx
import pytest

from harness.fleet.fetch import (
    FetchOptions,
    Fetcher,
    HostRateLimiter,
    classify_exception,
    classify_response,
)

FAST = FetchOptions(concurrency=4, per_host_rps=None, connect_timeout=1, read_timeout=1, retries=2, backoff=0.01)


def fetch(handler, url="https://epic.example.org/api/FHIR/R4/metadata", options=FAST, accept="application/fhir+json"):
    async def go():
        async with Fetcher(options, transport=httpx.MockTransport(handler)) as fetcher:
            return await fetcher.get_json("metadata", url, accept), fetcher.requests

    return asyncio.run(go())


def test_ok_json_object_sends_accept_and_no_credentials():
    seen = {}

    def handler(request):
        seen.update(request.headers)
        return httpx.Response(200, json={"resourceType": "CapabilityStatement"},
                              headers={"content-type": "application/fhir+json; charset=utf-8"})

    result, requests = fetch(handler)
    assert result.ok and result.body == {"resourceType": "CapabilityStatement"}
    assert result.http_status == 200 and result.attempts == 1 and requests == 1
    assert seen["accept"] == "application/fhir+json"
    assert "authorization" not in seen and "epic-client-id" not in seen
    assert seen["user-agent"].startswith("epic-harness-fleet/")


@pytest.mark.parametrize("status, content_type, body, outcome", [
    (404, "text/html", b"<html>Not Found</html>", "http-404"),
    (500, "text/html", b"<html>error</html>", "http-5xx"),
    (503, "text/html", b"", "http-5xx"),
    (403, "text/html", b"Forbidden", "http-other"),
    (401, "application/json", b"{}", "http-other"),
    (200, "text/html; charset=utf-8", b"<!DOCTYPE html><html></html>", "html"),
    (200, "application/json", b"  <html><body>login</body></html>", "html"),
    (200, "application/xml", b'<?xml version="1.0"?><CapabilityStatement/>', "not-json"),
    (200, "application/json", b"[1, 2]", "not-json"),
    (200, "application/json", b"", "not-json"),
    (200, "application/json", b'{"a": 1}', "ok"),
])
def test_classify_response(status, content_type, body, outcome):
    assert classify_response(status, content_type, body)[0] == outcome


def test_5xx_is_retried_then_reported():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503, text="busy")

    result, _ = fetch(handler)
    assert result.outcome == "http-5xx" and result.http_status == 503
    assert result.attempts == len(calls) == 3  # one try and two retries


def test_5xx_then_success():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(502)
        return httpx.Response(200, json={"ok": True})

    result, _ = fetch(handler)
    assert result.ok and result.attempts == 2


def test_429_honours_retry_after_and_is_http_other_when_it_persists():
    stamps = []

    def handler(request):
        stamps.append(time.monotonic())
        return httpx.Response(429, headers={"retry-after": "0.2"})

    result, _ = fetch(handler, options=FetchOptions(per_host_rps=None, retries=1, backoff=0.001))
    assert result.outcome == "http-other" and "429" in result.detail
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 0.19


def test_404_is_not_retried():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(404)

    result, _ = fetch(handler)
    assert result.outcome == "http-404" and len(calls) == 1


def test_timeout_is_retried_then_reported():
    calls = []

    def handler(request):
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    result, _ = fetch(handler)
    assert result.outcome == "timeout" and len(calls) == 3


def _raise_from(cause: BaseException, kind=httpx.ConnectError):
    def handler(request):
        try:
            raise cause
        except BaseException as exc:
            raise kind(str(exc), request=request) from exc
    return handler


@pytest.mark.parametrize("cause, outcome", [
    (socket.gaierror(-2, "Name or service not known"), "dns"),
    (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "tls-certificate"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls"),
    (ConnectionRefusedError(111, "Connection refused"), "connect"),
    (ConnectionResetError(104, "Connection reset by peer"), "connect"),
])
def test_transport_failures_are_classified(cause, outcome):
    result, _ = fetch(_raise_from(cause))
    assert result.outcome == outcome
    assert result.attempts == 1  # not retried


def test_classify_exception_by_message_when_the_cause_is_lost():
    assert classify_exception(httpx.ConnectError("[Errno -2] Name or service not known")) == "dns"
    assert classify_exception(httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number")) == "tls"
    assert classify_exception(httpx.ConnectTimeout("")) == "timeout"
    assert classify_exception(httpx.TooManyRedirects("loop")) == "http-other"
    assert classify_exception(httpx.RemoteProtocolError("Server disconnected")) == "connect"


def test_invalid_domain_is_never_looked_up():
    def handler(request):  # pragma: no cover - must not be called
        raise AssertionError("requested")

    result, requests = fetch(handler, url="https://epicproxy.et0001.invalid/FHIRProxy/api/FHIR/R4/metadata")
    assert result.outcome == "dns" and "RFC 6761" in result.detail and requests == 0


def test_redirects_are_followed():
    def handler(request):
        if request.url.path.endswith("/metadata"):
            return httpx.Response(301, headers={"location": "https://epic.example.org/api/FHIR/R4/metadata/"})
        return httpx.Response(200, json={"moved": True})

    result, _ = fetch(handler)
    assert result.ok and result.body == {"moved": True}


def test_host_rate_limiter_spaces_request_starts_per_host(monkeypatch: pytest.MonkeyPatch):
    """The slots it gives, on a clock that does not move: each host's starts 50 ms apart, hosts independent
    (a real clock on a loaded machine would make the test about the machine, not the rule)."""
    import harness.fleet.fetch as fetch

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(fetch.time, "monotonic", lambda: 1000.0)
    monkeypatch.setattr(fetch.asyncio, "sleep", sleep)
    limiter = HostRateLimiter(20)  # 50 ms apart

    async def go() -> dict[str, list[float]]:
        waited: dict[str, list[float]] = {"a": [], "b": []}
        for host in ["a", "b", "a", "a", "b", "a", "b", "a", "b", "b"]:
            waited[host].append(await limiter.wait(host))
        return waited

    waited = asyncio.run(go())
    for host in ("a", "b"):
        assert waited[host] == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20]), waited
    assert sorted(slept) == pytest.approx(sorted(d for d in waited["a"] + waited["b"] if d > 0))
    assert HostRateLimiter(0).interval == 0.0 and HostRateLimiter(None).interval == 0.0


def test_rate_limit_applies_across_documents_of_one_host():
    stamps = []

    def handler(request):
        stamps.append(time.monotonic())
        return httpx.Response(200, json={})

    async def go():
        options = FetchOptions(per_host_rps=10, retries=0)
        async with Fetcher(options, transport=httpx.MockTransport(handler)) as fetcher:
            await asyncio.gather(*(fetcher.get_json("m", f"https://h.example.org/{i}/api/FHIR/R4/metadata", "x")
                                   for i in range(4)))

    asyncio.run(go())
    assert stamps[-1] - stamps[0] >= 0.29


def test_concurrency_is_bounded():
    in_flight = []
    peak = []

    async def handler(request):
        in_flight.append(1)
        peak.append(len(in_flight))
        await asyncio.sleep(0.02)
        in_flight.pop()
        return httpx.Response(200, json={})

    async def go():
        options = FetchOptions(concurrency=3, per_host_rps=None, retries=0)
        async with Fetcher(options, transport=httpx.MockTransport(handler)) as fetcher:
            await asyncio.gather(*(fetcher.get_json("m", f"https://h{i}.example.org/api/FHIR/R4/metadata", "x")
                                   for i in range(12)))

    asyncio.run(go())
    assert max(peak) == 3


def test_a_run_keeps_the_two_documents_independent_and_rejects_wrong_documents():
    """Through run_fleet with a mock transport: metadata answers an OperationOutcome, the
    smart-configuration answers; another tenant the other way round."""
    from harness.catalog import load_named_set
    from harness.fleet.directory import distinct_targets, parse_directory
    from harness.fleet.run import run_fleet

    def handler(request):
        if request.url.host == "a.example.org":
            if request.url.path.endswith("/metadata"):
                return httpx.Response(200, json={"resourceType": "OperationOutcome", "issue": []})
            return httpx.Response(200, json={"grant_types_supported": ["client_credentials"]})
        if request.url.path.endswith("/metadata"):
            return httpx.Response(200, json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
                                             "software": {"name": "Epic", "version": "toukokuu 2022",
                                                          "releaseDate": "2024-06-05"}, "rest": []})
        return httpx.Response(500)

    directory = parse_directory("https://a.example.org/api/FHIR/R4\nhttps://b.example.org/api/FHIR/R4\n")
    run = run_fleet(directory, distinct_targets(directory), load_named_set("careforce-phoenix"),
                    FetchOptions(per_host_rps=None, retries=0), transport=httpx.MockTransport(handler))
    a, b = run.tenant_dicts()
    assert (a["status"], a["metadata"]["outcome"], a["smart_configuration"]["outcome"]) == ("partial", "wrong-document", "ok")
    assert "OperationOutcome" in a["metadata"]["detail"] and a["coverage"] is None
    assert a["readiness"] == {"private_key_jwt": None, "client_credentials": True,
                              "client_confidential_asymmetric": None, "ready": None}
    assert (b["status"], b["metadata"]["outcome"], b["smart_configuration"]["outcome"]) == ("partial", "ok", "http-5xx")
    assert b["release"] == "May 2022" and b["software"]["release_date"] == "2024-06-05"
    assert b["coverage"]["declared"] == 0 and len(b["coverage"]["missing"]) == b["coverage"]["judged"] == 108
    assert all(t.metadata.body is None and t.smart.body is None for t in run.tenants)  # documents not kept


def test_each_host_is_looked_up_once_and_a_failed_lookup_is_dns(monkeypatch):
    import harness.fleet.fetch as fetch_module

    looked_up = []

    def getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", getaddrinfo)

    async def go():
        async with Fetcher(FetchOptions(per_host_rps=None, retries=2)) as fetcher:
            return await asyncio.gather(*(fetcher.get_json(n, f"https://gone.example.org/{p}/api/FHIR/R4/{n}", "x")
                                          for p in ("a", "b") for n in ("metadata", "smart")))

    results = asyncio.run(go())
    assert looked_up == ["gone.example.org"]
    assert {r.outcome for r in results} == {"dns"}
    assert all("does not resolve" in r.detail and r.attempts == 0 for r in results)
    assert sum(1 for r in results if r.elapsed_s > 0) <= 1  # the one lookup is counted once


def test_a_resolver_that_does_not_answer_in_time_is_dns(monkeypatch):
    import harness.fleet.fetch as fetch_module

    def getaddrinfo(host, *args, **kwargs):
        time.sleep(0.5)
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", getaddrinfo)

    async def go():
        async with Fetcher(FetchOptions(per_host_rps=None, dns_timeout=0.1)) as fetcher:
            return await fetcher.get_json("metadata", "https://slow-dns.example.org/api/FHIR/R4/metadata", "x")

    result = asyncio.run(go())
    assert result.outcome == "dns" and "no DNS answer" in result.detail and result.elapsed_s < 0.4


def test_ip_literals_are_judged_without_a_lookup(monkeypatch):
    import harness.fleet.fetch as fetch_module

    def getaddrinfo(host, *args, **kwargs):  # pragma: no cover - must not be called
        raise AssertionError(f"looked up {host}")

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", getaddrinfo)

    async def go(options):
        async with Fetcher(options) as fetcher:
            return [(await fetcher.check_host(h, 80))[0] for h in ("127.0.0.1", "::1", "8.8.8.8")]

    loopback_v4, loopback_v6, public = asyncio.run(go(FetchOptions()))
    assert (loopback_v4.outcome, loopback_v6.outcome, public.outcome) == ("refused-loopback", "refused-loopback", None)
    assert public.addresses == ("8.8.8.8",)
    allowed = asyncio.run(go(FetchOptions(allow_loopback=True)))
    assert [c.addresses for c in allowed] == [("127.0.0.1",), ("::1",), ("8.8.8.8",)]
