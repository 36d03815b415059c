"""Any ASGI application on a loopback port, in a background thread, served as the sandbox is.

The sandbox's own listening socket (``harness.sandbox.server.listen``) matters: a plain
``socket.socket()`` makes every answer wait on Nagle's algorithm and delayed acknowledgements,
about 40 ms a request (a whole run against it took 37 s instead of 7 s)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from harness.sandbox.server import TlsServing, listen, server_config


class Served:
    """``with Served(app) as url:`` serves ``app`` at ``url`` (https with ``cert`` and ``key``)."""

    def __init__(self, app: Any, *, cert: Path | None = None, key: Path | None = None) -> None:
        self.sock = listen("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        tls = TlsServing(str(cert), str(key)) if cert is not None and key is not None else None
        self.scheme = "https" if tls is not None else "http"
        config = server_config(app, tls, log_config=None, log_level="error", access_log=False,
                               timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"nothing serves on port {self.port}")
            time.sleep(0.005)
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.sock.close()
