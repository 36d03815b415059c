"""The raw-socket hostile server: response headers dripped byte by byte, bounded in time."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from harness.sandbox.hostile import BODY, HostileServer


def test_headers_drip_one_byte_per_interval_and_the_answer_is_still_valid() -> None:
    with HostileServer(interval=0.01) as server:
        started = time.monotonic()
        response = httpx.get(f"{server.url}/api/FHIR/R4/Patient?family=x", timeout=httpx.Timeout(2.0))
        took = time.monotonic() - started
    assert response.status_code == 200 and response.content == BODY
    head = server.bytes_sent - len(BODY)
    assert head > 100 and took >= head * 0.01  # every header byte waited its interval


def test_a_per_read_timeout_longer_than_the_interval_never_fires() -> None:
    with HostileServer(interval=0.02) as server:
        with httpx.Client(timeout=httpx.Timeout(0.5)) as client, client.stream("GET", server.url + "/") as response:
            assert response.status_code == 200  # 2+ seconds of dripping, each read within 0.5 s
    assert server.connections == 1


def test_a_read_timeout_shorter_than_the_interval_fires() -> None:
    with HostileServer(interval=1.0) as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(server.url + "/", timeout=httpx.Timeout(0.3))


def test_endless_headers_never_end_the_head() -> None:
    with HostileServer("endless-headers", interval=0.005) as server:
        with pytest.raises(httpx.RemoteProtocolError):  # the client gives up on a head that never ends
            httpx.get(server.url + "/", timeout=httpx.Timeout(0.5))
    assert server.bytes_sent > 16_000


def test_it_stops_by_itself_and_stops_quickly() -> None:
    server = HostileServer(interval=0.05, lifetime=0.3).start()
    port = server.port
    time.sleep(0.6)
    assert not server.running
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    server.stop()
    busy = HostileServer(interval=0.5).start()
    started = time.monotonic()
    busy.stop()
    assert time.monotonic() - started < 2.0


def test_it_binds_loopback_only_and_knows_its_behaviours() -> None:
    with pytest.raises(ValueError, match="loopback"):
        HostileServer(host="0.0.0.0")
    with pytest.raises(ValueError, match="drip-headers"):
        HostileServer("drip-body")
