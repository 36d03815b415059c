"""Hostile transport: a tenant that hangs, resets, throttles, drips, truncates, floods, or sends
compression bombs. An ASGI middleware around the sandbox app, and the transport hook point: each
request reads the :class:`TransportPolicy` of the resource type in its path, so one broken API
never affects the others.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from . import payloads
from .faults import ActiveFaults, Hook
from .faults.policies import TransportPolicy

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_FHIR_TYPE = re.compile(r"/api/FHIR/(?:R4|STU3|DSTU2)/([A-Z][A-Za-z]+)")
HUGE_BYTES = 3_000_000
DRIP_SECONDS = 4.0
GZIP_LARGE_MB = 70


def install(app: Any, faults: ActiveFaults) -> None:
    """Wrap ``app`` (a Starlette application) in the hostile transport when a fault needs it."""
    if faults.touches(Hook.TRANSPORT):
        app.add_middleware(HostileTransport, faults=faults)


def _resource_type(scope: Scope) -> str | None:
    match = _FHIR_TYPE.search(scope.get("path", ""))
    return match.group(1) if match else None


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
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
            self.headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


class HostileTransport:
    def __init__(self, app: ASGIApp, faults: ActiveFaults) -> None:
        self.app = app
        self.faults = faults
        self.calls: dict[str, int] = {}  # requests seen, per URL (first_503) and per type (every_429)

    def policy(self, resource_type: str | None) -> TransportPolicy:
        if resource_type is None:
            return TransportPolicy()
        return self.faults.policy(Hook.TRANSPORT, TransportPolicy, resource_type)

    def _count(self, key: str) -> int:
        self.calls[key] = self.calls.get(key, 0) + 1
        return self.calls[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        resource_type = _resource_type(scope) if scope["type"] == "http" else None
        policy = self.policy(resource_type)
        if not policy.active:
            await self.app(scope, receive, send)
            return
        if policy.hang:
            while (await receive())["type"] != "http.disconnect":  # until the client gives up
                pass
            return
        retry = [(b"content-type", b"text/plain"), (b"retry-after", b"1")]
        if policy.every_429 and self._count(f"type {resource_type}") % policy.every_429 == 0:
            await _respond(send, 429, b"", retry)
            return
        if policy.first_503:
            url = f"{scope['method']} {scope['path']}?{scope.get('query_string', b'').decode()}"
            if self._count(url) == 1:
                await _respond(send, 503, b"Service Unavailable", retry)
                return
        if not (policy.reset or policy.truncate or policy.huge or policy.drip or policy.gzip_bomb
                or policy.gzip_large):
            await self.app(scope, receive, send)
            return
        captured = _Capture()
        await self.app(scope, receive, captured)
        await self._mangled(policy, captured, send)

    async def _mangled(self, policy: TransportPolicy, captured: _Capture, send: Send) -> None:
        headers, body = captured.headers, captured.body
        if policy.gzip_bomb:
            await _respond(send, captured.status, payloads.gzip_bomb(),
                           [*headers, (b"content-encoding", b"gzip, gzip")])
            return
        if policy.gzip_large:
            await _respond(send, captured.status, payloads.large_bundle_gzip(_as_bundle(body), GZIP_LARGE_MB),
                           [*headers, (b"content-encoding", b"gzip")])
            return
        if policy.huge:
            bundle = _as_bundle(body)
            bundle["entry"] = list(bundle.get("entry", [])) + payloads.padding_entries(HUGE_BYTES, 1000)
            body = json.dumps(bundle).encode()
        if policy.truncate:
            body = body[: max(1, len(body) // 2)]
        if policy.reset:
            await send({"type": "http.response.start", "status": captured.status,
                        "headers": [*headers, (b"content-length", str(len(body) + 1000).encode())]})
            await send({"type": "http.response.body", "body": body[:10], "more_body": True})
            raise ConnectionResetError("transport-reset: connection dropped mid-body")
        if policy.drip:
            await send({"type": "http.response.start", "status": captured.status,
                        "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            step = max(1, len(body) // 40)
            for i in range(0, len(body), step):
                await asyncio.sleep(DRIP_SECONDS / 40)
                await send({"type": "http.response.body", "body": body[i:i + step], "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await _respond(send, captured.status, body, headers)


def _as_bundle(body: bytes) -> dict[str, Any]:
    try:
        found = json.loads(body) if body else {}
    except ValueError:
        found = {}
    return found if isinstance(found, dict) and found.get("resourceType") == "Bundle" else \
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": found}] if found else []}
