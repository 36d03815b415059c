"""Hostile transport: a tenant that hangs, resets, storms 429s, drips, truncates or floods.

An ASGI middleware around the sandbox app; each fault names the resource type it hits, so one
broken API never affects the others.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Awaitable, Callable

from .faults import ActiveFaults

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_FHIR_TYPE = re.compile(r"/api/FHIR/(?:R4|STU3|DSTU2)/([A-Z][A-Za-z]+)")
HUGE_BYTES = 3_000_000
DRIP_SECONDS = 4.0


def _resource_type(scope: Scope) -> str | None:
    match = _FHIR_TYPE.search(scope.get("path", ""))
    return match.group(1) if match else None


async def _respond(send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]] = ()) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Capture:
    """The wrapped app's response, held back so that it can be mangled."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


class HostileTransport:
    def __init__(self, app: ASGIApp, faults: ActiveFaults) -> None:
        self.app = app
        self.faults = faults
        self.calls: dict[str, int] = {}

    def _on(self, name: str, resource_type: str | None) -> bool:
        return resource_type is not None and self.faults.on(name, resource_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = _resource_type(scope)
        if self._on("transport-hang", kind):
            while (await receive())["type"] != "http.disconnect":  # until the client gives up
                pass
            return
        if self._on("transport-429-storm", kind):
            await _respond(send, 429, b"", "text/plain", [(b"retry-after", b"1")])
            return
        if self._on("transport-503-once", kind):
            key = f"{scope['method']} {scope['path']}?{scope.get('query_string', b'').decode()}"
            self.calls[key] = self.calls.get(key, 0) + 1
            if self.calls[key] == 1:
                await _respond(send, 503, b"Service Unavailable", "text/plain", [(b"retry-after", b"1")])
                return
        mangle = next((n for n in ("transport-reset", "transport-truncated-json", "transport-huge-bundle",
                                   "transport-slow-drip") if self._on(n, kind)), None)
        if mangle is None:
            await self.app(scope, receive, send)
            return
        captured = _Capture()
        await self.app(scope, receive, captured)
        headers = [(k, v) for k, v in captured.headers if k.lower() != b"content-length"]
        body = captured.body
        if mangle == "transport-huge-bundle":
            bundle = json.loads(body) if body else {}
            bundle.setdefault("entry", [])
            padding = {"resourceType": "Basic", "id": "padding",
                       "code": {"text": "x" * 1000}}
            while len(json.dumps(bundle)) < HUGE_BYTES:
                bundle["entry"].extend({"resource": dict(padding, id=f"padding{i}")} for i in range(500))
            body = json.dumps(bundle).encode()
        if mangle == "transport-truncated-json":
            body = body[: max(1, len(body) // 2)]
        if mangle == "transport-reset":
            await send({"type": "http.response.start", "status": captured.status,
                        "headers": headers + [(b"content-length", str(len(body) + 1000).encode())]})
            await send({"type": "http.response.body", "body": body[:10], "more_body": True})
            raise ConnectionResetError("transport-reset: connection dropped mid-body")
        if mangle == "transport-slow-drip":
            await send({"type": "http.response.start", "status": captured.status,
                        "headers": headers + [(b"content-length", str(len(body)).encode())]})
            step = max(1, len(body) // 40)
            for i in range(0, len(body), step):
                await asyncio.sleep(DRIP_SECONDS / 40)
                await send({"type": "http.response.body", "body": body[i:i + step], "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": captured.status,
                    "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
