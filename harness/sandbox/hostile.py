"""A hostile HTTP server below what ASGI can express: response headers dripped one byte at a time.

An ASGI server writes the status line and headers in one go, so no sandbox fault can drip them;
this is a small raw-socket server for tests to start on loopback. Each connection reads the
request head, then sends a complete, valid HTTP/1.1 response (a FHIR searchset) with one byte of
its status line and headers every ``interval`` seconds (2 by default), then the body at once. A
client's per-read timeout never fires on it; only a deadline for the whole request catches it.

``endless-headers`` sends header lines forever instead (one every ``interval``), for limits on
the size of a response head. ``banner`` is no HTTP server at all: it writes a service's banner
(``SSH-2.0-...``) as soon as a client connects, refuses the first line the client sends, and
closes.

It is bounded: it serves at most ``max_connections`` connections, stops by itself ``lifetime``
seconds after it started (60 by default), and ``stop()`` (or leaving the ``with`` block) ends
it and every connection within about ``interval`` seconds. It binds loopback only.

    with HostileServer(interval=0.05) as server:
        httpx.get(server.url + "/api/FHIR/R4/Patient?family=x", timeout=...)
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from types import TracebackType

BEHAVIOURS = ("drip-headers", "endless-headers", "banner")
BANNER = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n"
BODY = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}).encode()


class HostileServer:
    def __init__(self, behaviour: str = "drip-headers", *, interval: float = 2.0, lifetime: float = 60.0,
                 host: str = "127.0.0.1", port: int = 0, max_connections: int = 16) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)}")
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"{host} is not a loopback address; the hostile server binds loopback only")
        if not 0 < interval <= 60 or not 0 < lifetime <= 3600:
            raise ValueError("interval must be in (0, 60] seconds and lifetime in (0, 3600] seconds")
        self.behaviour = behaviour
        self.interval = interval
        self.lifetime = lifetime
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.connections = 0  # accepted so far
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._socket: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return bool(self._threads) and self._threads[0].is_alive()

    def start(self) -> HostileServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(8)
        sock.settimeout(0.05)
        self._socket, self.port = sock, sock.getsockname()[1]
        self._deadline = time.monotonic() + self.lifetime
        thread = threading.Thread(target=self._accept, name=f"hostile-{self.port}", daemon=True)
        self._threads = [thread]
        thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(self.interval + 1.0)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- serving --

    def _over(self) -> bool:
        return self._stop.is_set() or time.monotonic() > self._deadline

    def _accept(self) -> None:
        assert self._socket is not None
        while not self._over() and self.connections < self.max_connections:
            try:
                connection, _ = self._socket.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            worker = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            with self._lock:
                self._threads.append(worker)
            worker.start()
        self._socket.close()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(self.interval + 1.0)
            if self.behaviour == "banner":
                try:  # as an SSH daemon: its banner, then the client's first line, refused
                    self._send(connection, BANNER)
                    connection.recv(4096)
                    self._send(connection, b"Invalid SSH identification string.\r\n")
                except OSError:
                    pass
                return
            if not self._read_head(connection):
                return
            try:
                if self.behaviour == "drip-headers":
                    self._drip(connection)
                else:
                    self._endless(connection)
            except OSError:
                return  # the client gave up

    def _read_head(self, connection: socket.socket) -> bool:
        received = b""
        while b"\r\n\r\n" not in received and len(received) < 65536 and not self._over():
            try:
                chunk = connection.recv(4096)
            except (socket.timeout, OSError):
                return False
            if not chunk:
                return False
            received += chunk
        return b"\r\n\r\n" in received

    def _send(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(data)
        self.bytes_sent += len(data)

    def _drip(self, connection: socket.socket) -> None:
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json; charset=utf-8\r\n"
                b"Content-Length: " + str(len(BODY)).encode() + b"\r\nConnection: close\r\n\r\n")
        for index in range(len(head)):
            if self._stop.wait(self.interval) or time.monotonic() > self._deadline:
                return
            self._send(connection, head[index:index + 1])
        self._send(connection, BODY)

    def _endless(self, connection: socket.socket) -> None:
        self._send(connection, b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n")
        number = 0
        while not self._stop.wait(self.interval) and time.monotonic() <= self._deadline:
            self._send(connection, f"X-Padding-{number}: {'x' * 500}\r\n".encode())
            number += 1
