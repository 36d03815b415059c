"""Serving the sandbox over real HTTP with uvicorn: blocking, or embedded in a background thread
(or a child process); over https with a throwaway certificate when asked (``certs.py``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from .app import create_app
from .certs import LOOPBACK_NAMES, Leaf, ThrowawayCA, restrict, tls_version
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


@dataclass(frozen=True)
class TlsServing:
    """How a server speaks TLS: its certificate and key files, the oldest TLS version it accepts."""

    cert_file: str
    key_file: str
    min_version: str = "1.2"

    @classmethod
    def of(cls, leaf: Leaf, min_version: str = "1.2") -> TlsServing:
        return cls(str(leaf.cert_file), str(leaf.key_file), tls_version(min_version))


class _TlsConfig(uvicorn.Config):
    """uvicorn's configuration, with the oldest TLS version its context accepts set after loading."""

    def __init__(self, app: Any, *, tls: TlsServing, **options: Any) -> None:
        self.tls_min_version = tls.min_version
        super().__init__(app, ssl_certfile=tls.cert_file, ssl_keyfile=tls.key_file, **options)

    def load(self) -> None:
        super().load()
        if self.ssl is not None:
            restrict(self.ssl, self.tls_min_version)


def server_config(app: Any, tls: TlsServing | None = None, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` (no lifespan, no Server header), over TLS when asked."""
    options = {"lifespan": "off", "server_header": False, **options}
    return _TlsConfig(app, tls=tls, **options) if tls is not None else uvicorn.Config(app, **options)


def serve(sock: socket.socket, settings: SandboxSettings, access_log: bool = False,
          tls: TlsServing | None = None) -> None:
    """Serve the sandbox on ``sock`` until interrupted (``epic-harness sandbox``)."""
    config = server_config(create_app(settings), tls, access_log=access_log, log_level="info")
    uvicorn.Server(config).run(sockets=[sock])


def serve_quietly(sock: socket.socket, settings: SandboxSettings, ready: Callable[[], None],
                  tls: TlsServing | None = None) -> None:
    """Serve until SIGTERM with warnings only (a child process of an EmbeddedSandbox); ``ready``
    is called once the application is built."""
    app = create_app(settings)
    ready()
    config = server_config(app, tls, log_config=None, log_level="warning", access_log=False,
                           timeout_graceful_shutdown=1)
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

    With ``tls=True`` it serves https with a certificate made at ``start()`` for its host and the
    loopback names, valid ``cert_days`` (e.g. 10: one that expires soon), signed by
    ``certificate_authority`` or by a throwaway CA of its own, and accepting TLS ``tls_min_version``
    (``"1.0"`` to ``"1.3"``) and later. ``ca_file`` is then the CA's PEM file, to trust the sandbox
    by (``httpx.Client(verify=str(sandbox.ca_file))``); a CA of its own lives in a temporary folder
    removed at ``stop()``.
    """

    def __init__(self, settings: SandboxSettings | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 process: bool = False, wait_ready: bool = True, tls: bool = False, cert_days: float = 365.0,
                 tls_min_version: str = "1.2", certificate_authority: ThrowawayCA | None = None) -> None:
        self.settings = settings if settings is not None else default_settings()
        self.host = host
        self.port = port
        self.process = process
        self.wait_ready = wait_ready
        self.tls = tls
        self.cert_days = float(cert_days)
        self.tls_min_version = tls_version(tls_min_version)
        self.certificate_authority = certificate_authority
        #: the certificate served, once started with ``tls``
        self.certificate: Leaf | None = None
        self._tls_folder: tempfile.TemporaryDirectory[str] | None = None
        self.app: Any = None if process else create_app(self.settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[str] | None = None
        self._sockets: list[socket.socket] = []
        self._error: BaseException | None = None
        self.ca_file: Path | None = None

    @property
    def base_url(self) -> str:
        """The Interconnect root, e.g. ``http://127.0.0.1:53211`` (``https://`` with ``tls``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

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

    def _serving(self) -> TlsServing | None:
        """The certificate to serve (made now), or None without ``tls``."""
        if not self.tls:
            return None
        authority = self.certificate_authority
        if authority is None:
            self._tls_folder = tempfile.TemporaryDirectory(prefix="epic-sandbox-tls-")
            authority = ThrowawayCA(Path(self._tls_folder.name))
        self.ca_file = authority.ca_file
        self.certificate = authority.issue((self.host, *LOOPBACK_NAMES), days=self.cert_days)
        return TlsServing.of(self.certificate, self.tls_min_version)

    def start(self) -> EmbeddedSandbox:
        if self.running:
            return self
        tls = self._serving()
        self._sockets = self._bind()
        self.port = self._sockets[0].getsockname()[1]
        if self.process:
            self._start_child(tls)
            return self
        config = server_config(self.app, tls, log_config=None, log_level="warning", access_log=False,
                               timeout_graceful_shutdown=1)
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

    def _start_child(self, tls: TlsServing | None) -> None:
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
        child.stdin.write(settings_to_json(self.settings, tls))
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
        if self._tls_folder is not None:
            self._tls_folder.cleanup()
            self._tls_folder = None

    def __enter__(self) -> EmbeddedSandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = "child process" if self.process else "thread"
        return f"EmbeddedSandbox({self.base_url}, {state} in a {where}, faults={sorted(self.settings.faults)})"


__all__ = ["EmbeddedSandbox", "TlsServing", "listen", "serve", "serve_quietly", "server_config"]
