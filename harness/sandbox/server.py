"""Serving the sandbox over real HTTP with uvicorn: blocking, or embedded in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from .app import create_app
from .settings import SandboxSettings, default_settings

START_TIMEOUT = 10.0  # seconds
STOP_TIMEOUT = 5.0


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (OSError when the port is taken).

    It must be created as an IPPROTO_TCP socket: asyncio then sets TCP_NODELAY on every
    connection it accepts, without which each response waits on Nagle's algorithm and the
    client's delayed acknowledgement (about 40 ms)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(sock: socket.socket, settings: SandboxSettings, access_log: bool = False) -> None:
    """Serve the sandbox on ``sock`` until interrupted (``epic-harness sandbox``)."""
    config = uvicorn.Config(create_app(settings), access_log=access_log, log_level="info", lifespan="off",
                            server_header=False)
    uvicorn.Server(config).run(sockets=[sock])


class EmbeddedSandbox:
    """The sandbox in a background thread, for tests and for runs that embed it.

    ``port=0`` picks a free port. ``start()`` returns once the server accepts connections;
    ``stop()`` is quick and may be called more than once. Use it as a context manager. ``app``
    may be replaced before ``start()`` (any ASGI application).
    """

    def __init__(self, settings: SandboxSettings | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings if settings is not None else default_settings()
        self.host = host
        self.port = port
        self.app: Any = create_app(self.settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: list[socket.socket] = []
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """The Interconnect root, e.g. ``http://127.0.0.1:53211``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def fhir_base(self, version: str = "R4") -> str:
        return f"{self.base_url}/api/FHIR/{version}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _bind(self) -> list[socket.socket]:
        """The sockets to serve on (the first one decides the port)."""
        return [listen(self.host, self.port)]

    def start(self) -> EmbeddedSandbox:
        if self.running:
            return self
        self._sockets = self._bind()
        self.port = self._sockets[0].getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                                server_header=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"epic-sandbox-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox did not start on {self.base_url}: {self._error!r}")
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=self._sockets)
        except BaseException as exc:  # reported by start()
            self._error = exc

    def stop(self) -> None:
        server, thread, sockets = self._server, self._thread, self._sockets
        self._server, self._thread, self._sockets = None, None, []
        if server is not None:
            server.should_exit = True
        if thread is not None and thread.is_alive():
            thread.join(STOP_TIMEOUT)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(STOP_TIMEOUT)
        for sock in sockets:
            sock.close()

    def __enter__(self) -> EmbeddedSandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedSandbox({self.base_url}, {state}, faults={sorted(self.settings.faults)})"
