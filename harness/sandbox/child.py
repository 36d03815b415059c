"""A sandbox served from a child process, for :class:`~harness.sandbox.server.EmbeddedSandbox`
with ``process=True``: the parent binds the listening socket and hands it over (so the port is
known and a busy port is the parent's error), and passes the settings as JSON on stdin.

    python -m harness.sandbox.child FD   < settings.json

The child prints ``ready`` once the application is built, then serves until SIGTERM.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

from .clients import RegisteredClient
from .server import TlsServing, serve_quietly
from .settings import SandboxSettings


def settings_to_json(settings: SandboxSettings, tls: TlsServing | None = None) -> str:
    return json.dumps({
        "faults": sorted(settings.faults),
        "token_lifetime": settings.token_lifetime,
        "clients": [{"client_id": c.client_id, "name": c.name, "jwks": c.jwks, "jku": c.jku, "scopes": list(c.scopes)}
                    for c in settings.clients],
        "tls": None if tls is None else {"cert_file": tls.cert_file, "key_file": tls.key_file,
                                         "min_version": tls.min_version},
    })


def settings_from_json(text: str) -> tuple[SandboxSettings, TlsServing | None]:
    data: dict[str, Any] = json.loads(text)
    clients = tuple(RegisteredClient(c["client_id"], c["name"], c["jwks"], c["jku"], tuple(c["scopes"]))
                    for c in data["clients"])
    tls = data.get("tls")
    return (SandboxSettings(faults=frozenset(data["faults"]), clients=clients, token_lifetime=data["token_lifetime"]),
            TlsServing(**tls) if tls else None)


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    settings, tls = settings_from_json(sys.stdin.read())
    serve_quietly(sock, settings, ready=lambda: print("ready", flush=True), tls=tls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
