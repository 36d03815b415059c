"""A hostile front for any ASGI tenant: the app answers, then a rewrite may change the answer.

``Front(app, rewrite, before)`` serves in process (``tenant_state(app=Front(...))``) or on a socket
(``EmbeddedSandbox`` with its ``app`` replaced); ``Recorder`` is another origin that records what reaches it.
"""

from __future__ import annotations

import json
from typing import Any, Callable

Headers = list[tuple[bytes, bytes]]
Rewrite = Callable[[dict[str, Any], int, Headers, bytes], tuple[int, Headers, bytes]]


class Front:
    """ASGI middleware: the app answers, then ``rewrite(scope, status, headers, body)`` may change the
    answer. ``before(scope)`` may change the request (e.g. map a token back)."""

    def __init__(self, app: Any, rewrite: Rewrite, before: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.app = app
        self.rewrite = rewrite
        self.before = before

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.before is not None:
            self.before(scope)
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                captured["status"], captured["headers"] = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")

        await self.app(scope, receive, capture)
        status, headers, body = self.rewrite(scope, captured["status"], captured["headers"], captured["body"])
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Recorder:
    """Another origin: it answers every request with an empty searchset and records what it got."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = (await receive())["type"].removeprefix("lifespan.")
                await send({"type": f"lifespan.{event}.complete"})
                if event == "shutdown":
                    return
        if scope["type"] != "http":
            return
        self.requests.append({"path": scope["path"], "authorization": header(scope, b"authorization")})
        body = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def as_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def header(scope: dict[str, Any], name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name), "")
