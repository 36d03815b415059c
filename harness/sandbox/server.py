"""Serving the sandbox over real HTTP with uvicorn: blocking, or embedded in a background thread."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
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


def serve_quietly(sock: socket.socket, settings: SandboxSettings, ready: Callable[[], None]) -> None:
    """Serve until SIGTERM with warnings only (a child process of an EmbeddedSandbox); ``ready``
    is called once the application is built."""
    app = create_app(settings)
    ready()
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                            server_header=False, timeout_graceful_shutdown=1)
    uvicorn.Server(config).run(sockets=[sock])


class EmbeddedSandbox:
    """The sandbox in a background thread (or, with ``process=True``, in a child process), for
    tests and for runs that embed it.

    ``port=0`` picks a free port. ``start()`` returns once the server accepts connections;
    ``stop()`` is quick and may be called more than once. Use it as a context manager. In a
    thread, ``app`` may be replaced before ``start()`` (any ASGI application). A child process
    serves the sandbox built from ``settings`` and shares no interpreter with its parent, so a
    busy parent (a whole harness run) never waits on it; with ``wait_ready=False`` its start-up
    overlaps the parent's (the listening socket queues connections meanwhile).
    """

    def __init__(self, settings: SandboxSettings | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 process: bool = False, wait_ready: bool = True) -> None:
        self.settings = settings if settings is not None else default_settings()
        self.host = host
        self.port = port
        self.process = process
        self.wait_ready = wait_ready
        self.app: Any = None if process else create_app(self.settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[str] | None = None
        self._sockets: list[socket.socket] = []
        self._error: BaseException | None = None
        self.ca_file: Path | None = None

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
        if self._child is not None:
            return self._child.poll() is None
        return self._thread is not None and self._thread.is_alive()

    def _bind(self) -> list[socket.socket]:
        """The sockets to serve on (the first one decides the port)."""
        return [listen(self.host, self.port)]

    def start(self) -> EmbeddedSandbox:
        if self.running:
            return self
        self._sockets = self._bind()
        self.port = self._sockets[0].getsockname()[1]
        if self.process:
            self._start_child()
            return self
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

    def _start_child(self) -> None:
        from .child import settings_to_json

        sock = self._sockets.pop(0)
        errors = tempfile.TemporaryFile()  # a file, not a pipe: nobody has to keep reading it
        child = self._child = subprocess.Popen(
            [sys.executable, "-m", "harness.sandbox.child", str(sock.fileno())], pass_fds=(sock.fileno(),),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
        # The child holds the listening socket now; when it ends, the port closes with it and a
        # client is refused at once (instead of waiting on a socket nobody serves).
        sock.close()
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(settings_to_json(self.settings))
        child.stdin.close()
        if self.wait_ready:
            self._ready(child, errors)
        else:  # connections wait in the socket's queue until the child serves them
            threading.Thread(target=self._ready, args=(child, errors), name=f"epic-sandbox-{self.port}",
                             daemon=True).start()

    def _ready(self, child: subprocess.Popen[str], errors: Any) -> None:
        """Wait for the child's ``ready``; if it ends before, say why (raise, or print when no one waits)."""
        assert child.stdout is not None
        try:
            line = child.stdout.readline().strip()  # "ready": the app is built; the socket already listened
        except (ValueError, OSError):  # stopped meanwhile
            line = ""
        if line == "ready":
            errors.close()
            return
        child.wait()
        errors.seek(0)
        message = (f"the sandbox did not start on {self.base_url}: "
                   f"{errors.read().decode('utf-8', 'replace').strip()[-500:]}")
        errors.close()
        if self.wait_ready:
            self.stop()
            raise RuntimeError(message)
        if self._child is child:
            print(f"epic-harness: {message}", file=sys.stderr)

    def _run(self) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=self._sockets)
        except BaseException as exc:  # reported by start()
            self._error = exc

    def stop(self) -> None:
        server, thread, sockets, child = self._server, self._thread, self._sockets, self._child
        self._server, self._thread, self._sockets, self._child = None, None, [], None
        if child is not None:
            child.terminate()
            try:
                child.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()
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
        where = "child process" if self.process else "thread"
        return f"EmbeddedSandbox({self.base_url}, {state} in a {where}, faults={sorted(self.settings.faults)})"
