"""The discovery documents as served: smart-configuration, OIDC documents, and each version's
/metadata. The discovery hook point: each document reads its :class:`DocumentPolicy` (edits to
the document, a page instead, a content type, a delay, a hang, a first request that fails, and
hostile answers: a redirect, a gzip bomb, a body that never ends).

Every URL in a document is Epic's sandbox root rewritten to the request's own root.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from . import documents, negotiation, payloads, urls
from .faults import ActiveFaults, Hook
from .faults.policies import DocumentPolicy

SMART = "smart-configuration"
METADATA = "metadata"
_DATE_MARK = "1970-01-01T00:00:00Z"


async def _endless_json() -> AsyncIterator[bytes]:
    """A JSON document that never ends: an opening, then whitespace until the client goes (each
    chunk gives the event loop a turn, so that the disconnect is seen and other requests served)."""
    yield b'{"resourceType": "CapabilityStatement", "padding": "'
    chunk = b" " * 65536
    while True:
        await asyncio.sleep(0)
        yield chunk


class Hang:
    """An answer that never comes: waits until the client gives up and disconnects."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass


class DiscoveryDocuments:
    """The discovery documents of one sandbox, shaped by its faults."""

    def __init__(self, faults: ActiveFaults) -> None:
        self.faults = faults
        self._served: set[tuple[str, ...]] = set()  # documents asked for once (for first_request_fails)
        self._statements: dict[tuple[str, str], str] = {}  # (version, root) -> JSON with a date mark

    def policy(self, document: str, version: str | None = None) -> DocumentPolicy:
        key = (document, version) if document == METADATA and version else (document,)
        return self.faults.policy(Hook.DISCOVERY, DocumentPolicy, key)

    async def _misbehaviour(self, policy: DocumentPolicy, key: tuple[str, ...], request: Request) -> Any:
        """What is answered instead of the document, if anything."""
        if policy.delay:
            await asyncio.sleep(policy.delay)
        if policy.hang:
            return Hang()
        if policy.redirect is not None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target = policy.redirect.replace("{host}", request.headers.get("host", "")).replace("{path}", path)
            return Response(status_code=302, headers={"location": target, "content-type": "text/html"})
        if policy.gzip_bomb or policy.double_gzip:
            body = payloads.gzip_bomb() if policy.double_gzip else payloads.zeros_gzip(1024)
            encoding = "gzip, gzip" if policy.double_gzip else "gzip"
            return Response(body, headers={"content-type": negotiation.JSON, "content-encoding": encoding})
        if policy.endless:
            return StreamingResponse(_endless_json(), media_type=negotiation.JSON)
        if policy.first_request_fails and key not in self._served:
            self._served.add(key)
            return negotiation.html("iis-503")
        if policy.page is not None:
            return negotiation.html(policy.page, policy.page_status)
        return None

    async def smart_configuration(self, request: Request) -> Any:
        policy = self.policy(SMART)
        instead = await self._misbehaviour(policy, (SMART,), request)
        if instead is not None:
            return instead
        document = urls.rewrite(documents.smart_configuration(), urls.interconnect_root(request))
        for edit in policy.edits:
            edit(document)
        return negotiation.json_response(document, content_type=policy.content_type or negotiation.JSON)

    async def metadata(self, request: Request, version: str) -> Any:
        policy = self.policy(METADATA, version)
        instead = await self._misbehaviour(policy, (METADATA, version), request)
        if instead is not None:
            return instead
        root = urls.interconnect_root(request)
        text = self._statement_json(version, root)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if policy.live_date:
            text = text.replace(f'"{_DATE_MARK}"', f'"{now}"', 1)
        if policy.force_xml:
            content_type = negotiation.FHIR_XML_UTF8
        else:
            content_type = policy.content_type or negotiation.negotiate(
                request.headers.get("accept"), request.query_params.get("_format"))
        if negotiation.is_json(content_type):
            return Response(text.encode("utf-8"), headers={"content-type": content_type})
        return negotiation.render(json.loads(text), content_type)

    def capability_statement(self, version: str, root: str) -> dict[str, Any]:
        """The statement for ``version`` as served at ``root``, with the discovery faults applied."""
        statement: dict[str, Any] = urls.rewrite(documents.capability_statement(version), root)
        policy = self.policy(METADATA, version)
        for edit in policy.edits:
            edit(statement)
        if policy.live_date:
            statement["date"] = _DATE_MARK
        return statement

    def _statement_json(self, version: str, root: str) -> str:
        cached = self._statements.get((version, root))
        if cached is None:
            cached = json.dumps(self.capability_statement(version, root), ensure_ascii=False)
            if len(self._statements) < 64:  # a few roots per sandbox; a fleet tenant has one
                self._statements[(version, root)] = cached
        return cached

    @staticmethod
    def openid_configuration(request: Request) -> Response:
        document = urls.rewrite(documents.openid_configuration(), urls.interconnect_root(request))
        return negotiation.json_response(document)

    @staticmethod
    def oidc_jwks() -> Response:
        return negotiation.json_response(documents.oidc_jwks())
