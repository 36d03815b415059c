"""A wall-clock deadline on each whole exchange, headers included: a tenant that drips its status line
and headers one byte at a time (each byte well inside the read timeout) no longer holds a request for
as long as it likes."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import pytest

from harness.client import TenantClient
from harness.config import ClientSettings, load_tenant
from harness.errors import TenantError
from tests.conftest import SANDBOX_TENANT

BODY = b'{"resourceType": "Patient", "id": "p"}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nX-Padding: " + b"a" * 40 +
            b"\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
split_at = RESPONSE.index(b"\r\n\r\n") + 4


@dataclasses.dataclass
class Served:
    port: int
    finished: list[bool]  # per answer: was it written whole?
    header_bytes_sent: list[int]  # per answer: how much of the status line and headers went out


@contextmanager
def dripping_server(head_delay: float, body_delay: float = 0.0) -> Iterator[Served]:
    """Answers RESPONSE one byte at a time: ``head_delay`` s between header bytes, ``body_delay``
    between body bytes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    served = Served(listener.getsockname()[1], [], [])
    stop = threading.Event()
    split = split_at

    def answer(conn: socket.socket) -> None:
        """Answers each request of a kept-alive connection, until the client closes it."""
        try:
            while not stop.is_set():
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                sent, done = 0, False
                try:
                    for index in range(len(RESPONSE)):
                        conn.sendall(RESPONSE[index:index + 1])
                        sent += 1
                        time.sleep(head_delay if index < split else body_delay)
                    done = True
                finally:
                    served.finished.append(done)
                    served.header_bytes_sent.append(min(sent, split))
        except OSError:
            pass
        finally:
            conn.close()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def client_for(port: int, **settings: float) -> TenantClient:
    tenant = load_tenant(SANDBOX_TENANT, base_url=f"http://127.0.0.1:{port}")
    tenant = dataclasses.replace(tenant, client=ClientSettings(**{"rate_per_second": 1000.0, "max_retries": 0,
                                                                   **settings}))
    client = TenantClient(tenant)
    client.use_tokens(lambda: "token-0000000000", lambda: None)
    return client


def test_headers_dripped_byte_by_byte_stop_at_the_deadline() -> None:
    # 160 header bytes, one every 50 ms: 8 s to send, each byte far inside the 5 s read timeout
    with dripping_server(head_delay=0.05) as served:
        client = client_for(served.port, read_timeout=5.0, request_deadline=1.0)
        started = time.monotonic()
        with pytest.raises(TenantError, match="still arriving after 1 s .*headers") as raised:
            client.get(client.url("R4", "Patient/p"))
        held = time.monotonic() - started
        assert raised.value.category == "tenant-fault"
        time.sleep(0.3)
    assert served.finished == [False]
    assert served.header_bytes_sent[0] < split_at  # the client hung up before the headers were done
    assert client.log[-1].error == "response too slow" and client.deadline_pools >= 1
    print(f"a header drip held the request {held:.1f} s (deadline 1 s)")


def test_a_body_dripping_past_the_deadline_stops_too() -> None:
    with dripping_server(head_delay=0.0, body_delay=0.08) as served:
        client = client_for(served.port, read_timeout=5.0, request_deadline=1.0)
        with pytest.raises(TenantError, match="slow drip"):
            client.get(client.url("R4", "Patient/p"))
        time.sleep(0.3)
    assert served.finished == [False]


def test_answers_within_the_deadline_pass() -> None:
    with dripping_server(head_delay=0.001) as served:
        client = client_for(served.port, read_timeout=5.0, request_deadline=5.0)
        response = client.get(client.url("R4", "Patient/p"))
        assert response.status_code == 200 and response.json()["id"] == "p"
        assert client.get(client.url("R4", "Patient/p")).status_code == 200
    assert served.finished == [True, True]
