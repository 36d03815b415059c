"""The fleet's HTTP transport: connections pinned to checked addresses, bodies read with a cap.

:class:`GuardedTransport` is an ``httpx.AsyncHTTPTransport`` (so that vcrpy's cassettes record
and replay it as any other) whose connection pool has two guards underneath:

- **Pinned connections.** Its network backend never resolves a name itself: it asks the fleet's
  fetcher for the addresses it already looked up and judged (:mod:`harness.fleet.targets`), and
  connects to one of those IP addresses. TLS still names the host: httpcore sends the URL's host
  name as SNI and verifies the certificate against it, and the ``Host`` header is the URL's. A
  name that resolves to a public address when judged and to an internal one a moment later
  (DNS rebinding) cannot move the connection.
- **Bounded bodies.** Every response body is decoded here, below httpx and below vcrpy's
  recording, by :class:`~harness.fleet.body.BoundedBody`: at most one ``Content-Encoding``, at
  most the cap on the wire and once decoded. The response handed up carries the decoded bytes
  without ``Content-Encoding`` and ``Content-Length``, so nothing above decodes again.

Each TLS connection's negotiated version and verified certificate are handed to ``on_tls``.
"""

from __future__ import annotations

import ssl

import typing
from collections.abc import AsyncIterator, Awaitable, Callable

import httpcore
import httpx

from harness.fleet.body import BoundedBody
from harness.fleet.targets import Refusal, TargetRefused

Pin = Callable[[str, int], Awaitable[list[str]]]
TlsSeen = Callable[[str, int, str | None, dict[str, typing.Any]], None]


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the addresses ``pin(host, port)`` gives, never to what the name resolves to now."""

    def __init__(self, pin: Pin, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._pin = pin
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.AsyncNetworkStream:
        addresses = await self._pin(host, port)
        if not addresses:
            raise TargetRefused(Refusal("refused-reserved", f"refused: no checked address for {host}"))
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                      socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused(Refusal("refused-reserved", "refused: a Unix socket"))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _DecodedStream:
    """A response body decoded within the cap, chunk by chunk."""

    def __init__(self, response: httpcore.Response, content_encoding: str | None, content_length: str | None,
                 limit: int) -> None:
        self._response = response
        self._encoding = content_encoding
        self._length = content_length
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body = BoundedBody(self._encoding, self._limit, self._length)
        async for chunk in self._response.aiter_stream():
            out = body.feed(chunk)
            if out:
                yield out
        tail = body.close()
        if tail:
            yield tail

    async def aclose(self) -> None:
        await self._response.aclose()


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    values = [v.decode("latin-1") for k, v in headers if k.lower() == name]
    return ", ".join(values) if values else None


class _GuardedPool:
    """An httpcore pool whose responses come decoded within the cap, and which reports TLS facts."""

    def __init__(self, pool: httpcore.AsyncConnectionPool, limit: int, on_tls: TlsSeen | None) -> None:
        self._pool = pool
        self._limit = limit
        self._on_tls = on_tls

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        response = await self._pool.handle_async_request(request)
        if self._on_tls is not None and request.url.scheme == b"https":
            stream = response.extensions.get("network_stream")
            ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
            if ssl_object is not None:
                self._on_tls(request.url.host.decode("ascii").lower(), request.url.port or 443, ssl_object.version(),
                             ssl_object.getpeercert() or {})
        headers = response.headers
        kept = [(k, v) for k, v in headers if k.lower() not in (b"content-encoding", b"content-length")]
        stream = _DecodedStream(response, _header(headers, b"content-encoding"), _header(headers, b"content-length"),
                                self._limit)
        return httpcore.Response(response.status, headers=kept, content=stream, extensions=response.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def __aenter__(self) -> _GuardedPool:
        await self._pool.__aenter__()
        return self

    async def __aexit__(self, *exc: typing.Any) -> None:
        await self._pool.__aexit__(*exc)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` with pinned connections and bounded, decoded bodies."""

    def __init__(self, *, pin: Pin, body_limit: int, context: ssl.SSLContext, limits: httpx.Limits,
                 on_tls: TlsSeen | None = None) -> None:
        super().__init__(verify=context, limits=limits, trust_env=False)
        pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(pin),
        )
        # httpx keeps its httpcore pool in ``_pool`` and reaches it only for requests and closing
        self._pool = _GuardedPool(pool, body_limit, on_tls)  # type: ignore[assignment]
