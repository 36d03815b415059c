"""Fetching discovery documents from many tenants at once, politely, and saying why one failed.

One :class:`Fetcher` per fleet run: one ``httpx.AsyncClient``, a bound on requests in flight, a
per-host rate limit (many tenants share one Epic-hosted proxy host), connect and read timeouts,
and a small retry with exponential backoff for timeouts, 5xx and 429 (``Retry-After`` honoured up
to a cap). Requests carry no credentials.

Every failure gets one class:

``dns``  the host name does not resolve, or the resolver gives no answer in time (each host is
    looked up once per run, before its requests; ``.invalid`` names are refused without asking,
    RFC 6761)
``tls``  the TLS handshake or the certificate failed
``connect``  the connection was refused, reset or dropped
``timeout``  no connection, or no answer, within the timeouts (after the retries)
``http-404``  404
``http-5xx``  a 5xx status (after the retries)
``http-other``  any other status that is not 2xx (401, 403, 429 after the retries, redirect loops)
``not-json``  a 2xx body that is not a JSON object (XML, text, a JSON array)
``html``  a 2xx HTML page (a login portal, a proxy's error page)
``wrong-document``  a JSON object, but not the document asked for (``/metadata`` answering with
    something other than a CapabilityStatement or Conformance); judged by the run, not here
``malformed-address``  the address cannot be requested at all
``not-recorded``  replay only: the cassettes hold no answer for the request (record the fleet again)

Under ``--mode record`` or ``--mode replay`` a :class:`~harness.fleet.cassettes.FleetCassettes`
rides along: the responses go through vcrpy, and what vcrpy cannot keep (host name lookups,
transport failures: timeouts, refused connections, TLS errors) is kept in the tenant's cassette by
the fetcher, so that a replay classifies every tenant as the recording did, with no network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from harness import __version__

if TYPE_CHECKING:
    from harness.fleet.cassettes import FleetCassettes

OK = "ok"
WRONG_DOCUMENT = "wrong-document"
NOT_RECORDED = "not-recorded"
FAILURES = ("dns", "tls", "connect", "timeout", "http-404", "http-5xx", "http-other", "not-json", "html",
            WRONG_DOCUMENT, "malformed-address", NOT_RECORDED)
RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
FHIR_JSON = "application/fhir+json"
JSON = "application/json"

_DNS_HINTS = ("name or service not known", "nodename nor servname", "getaddrinfo", "no address associated",
              "temporary failure in name resolution", "name resolution", "[errno -2]", "[errno -3]", "[errno -5]",
              "[errno 8]", "[errno 11001]", "[errno 11004]")
_TLS_HINTS = ("ssl", "tls", "certificate", "handshake", "wrong version number")


@dataclass(frozen=True)
class FetchOptions:
    concurrency: int = 32
    per_host_rps: float | None = 10.0  # requests per second per host; None or 0: no limit
    connect_timeout: float = 10.0
    read_timeout: float = 15.0
    dns_timeout: float | None = None  # seconds for a host name lookup; None: max(connect_timeout, 5)
    retries: int = 2  # extra attempts after a timeout, 5xx or 429
    backoff: float = 0.5  # first retry delay in seconds, doubled each time, with jitter
    max_retry_after: float = 10.0
    max_redirects: int = 5
    # Connections kept open for reuse. Discovery asks each host for two documents at once, so
    # reuse saves little, and a large idle pool costs bookkeeping on every request.
    keepalive: int = 0
    verify: bool | ssl.SSLContext = True

    @property
    def lookup_timeout(self) -> float:
        return self.dns_timeout if self.dns_timeout is not None else max(self.connect_timeout, 5.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "per_host_rps": self.per_host_rps,
            "connect_timeout_s": self.connect_timeout,
            "dns_timeout_s": self.lookup_timeout,
            "read_timeout_s": self.read_timeout,
            "retries": self.retries,
            "backoff_s": self.backoff,
        }


@dataclass(frozen=True)
class Fetched:
    """One document fetched, or why not. ``body`` is the parsed JSON object on success."""

    name: str
    url: str
    outcome: str  # "ok" or one of FAILURES
    http_status: int | None = None
    content_type: str | None = None
    detail: str | None = None
    attempts: int = 0
    elapsed_s: float = 0.0
    body: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "content_type": self.content_type,
            "detail": self.detail,
            "attempts": self.attempts,
            "elapsed_s": round(self.elapsed_s, 4),
        }


class HostRateLimiter:
    """At most ``rps`` request starts per second per host (evenly spaced, no burst)."""

    def __init__(self, rps: float | None) -> None:
        self.interval = 1.0 / rps if rps and rps > 0 else 0.0
        self._next: dict[str, float] = {}

    async def wait(self, host: str) -> float:
        """Wait for this host's next slot; returns the seconds waited."""
        if not self.interval:
            return 0.0
        now = time.monotonic()
        slot = max(now, self._next.get(host, now))
        self._next[host] = slot + self.interval
        delay = slot - now
        if delay > 0:
            await asyncio.sleep(delay)
        return delay


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify_exception(exc: BaseException) -> str:
    """The failure class of a transport exception."""
    recorded = getattr(exc, "fleet_outcome", None)
    if isinstance(recorded, str):  # a failure played back from a cassette, classified when recorded
        return recorded
    if exc.__class__.__name__ == "CannotOverwriteExistingCassetteException":
        return NOT_RECORDED
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return "malformed-address"
    if isinstance(exc, httpx.TooManyRedirects):
        return "http-other"
    chain = _chain(exc)
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "dns"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls"
    text = " ".join(str(e).lower() for e in chain)
    if any(hint in text for hint in _DNS_HINTS):
        return "dns"
    if any(hint in text for hint in _TLS_HINTS):
        return "tls"
    return "connect"


def _looks_like_html(content_type: str, body: bytes) -> bool:
    if "html" in content_type.lower():
        return True
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def classify_response(status: int, content_type: str, body: bytes) -> tuple[str, str | None, Any]:
    """(outcome, detail, parsed JSON object) for a final HTTP response."""
    if status == 404:
        return "http-404", "HTTP 404", None
    if 500 <= status <= 599:
        return "http-5xx", f"HTTP {status}", None
    if not 200 <= status <= 299:
        return "http-other", f"HTTP {status}", None
    if _looks_like_html(content_type, body):
        return "html", f"an HTML page (Content-Type {content_type or 'missing'})", None
    try:
        data = json.loads(body)
    except ValueError:
        start = body[:40].decode("utf-8", "replace")
        return "not-json", f"the body is not JSON (Content-Type {content_type or 'missing'}; starts {start!r})", None
    if not isinstance(data, dict):
        return "not-json", f"the body is JSON but not an object (a {type(data).__name__})", None
    return OK, None, data


def _retry_after(response: httpx.Response, cap: float) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, cap))


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


class Fetcher:
    """Async, bounded, rate-limited, retrying GETs of discovery documents. Use ``async with``.

    Each host name is looked up once per run, before the first request to it, in a thread pool of
    its own and with its own timeout, so that a name that does not resolve is a ``dns`` failure
    even when the resolver is slow to say so. With an injected ``transport`` the transport
    resolves names, and no lookup is made.

    With ``cassettes`` recording, every lookup's answer and every transport failure is written to
    the tenant's cassette next to the responses vcrpy keeps; replaying, they are played back from
    it, and nothing is looked up, rate-limited or waited for: there is no network to spare.
    """

    def __init__(self, options: FetchOptions | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 rng: random.Random | None = None, cassettes: FleetCassettes | None = None) -> None:
        self.options = options or FetchOptions()
        self.cassettes = cassettes
        self._transport = transport
        self._lookups: dict[str, asyncio.Task[str | None]] = {}
        self._resolver: ThreadPoolExecutor | None = None
        self._limiter = HostRateLimiter(self.options.per_host_rps)
        self._semaphore = asyncio.Semaphore(max(1, self.options.concurrency))
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None
        self.requests = 0

    @property
    def replaying(self) -> bool:
        return self.cassettes is not None and self.cassettes.replaying

    async def __aenter__(self) -> Fetcher:
        o = self.options
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=o.connect_timeout, read=o.read_timeout, write=o.read_timeout, pool=None),
            limits=httpx.Limits(max_connections=max(1, o.concurrency), max_keepalive_connections=max(0, o.keepalive)),
            follow_redirects=True,
            max_redirects=o.max_redirects,
            verify=o.verify,
            transport=self._transport,
            headers=self._headers(),
            trust_env=False,
        )
        return self

    def _headers(self) -> dict[str, str]:
        headers = {"user-agent": f"epic-harness-fleet/{__version__}"}
        if self.cassettes is not None:
            # only encodings vcrpy can decode before the scrubbers read a body (br or zstd would
            # be offered wherever their decoders happen to be installed)
            headers["accept-encoding"] = "gzip, deflate"
        return headers

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._resolver is not None:
            self._resolver.shutdown(wait=False, cancel_futures=True)
            self._resolver = None

    async def _lookup(self, host: str, port: int) -> str | None:
        """None when ``host`` resolves; else why not."""
        if self._resolver is None:
            self._resolver = ThreadPoolExecutor(max(1, self.options.concurrency), thread_name_prefix="fleet-dns")
        loop = asyncio.get_running_loop()
        timeout = self.options.lookup_timeout
        try:
            await asyncio.wait_for(loop.run_in_executor(self._resolver, socket.getaddrinfo, host, port, 0,
                                                        socket.SOCK_STREAM), timeout)
        except socket.gaierror as exc:
            return f"{host} does not resolve ({exc.strerror or exc})"
        except asyncio.TimeoutError:
            return f"no DNS answer for {host} within {timeout:g} s"
        except (OSError, UnicodeError) as exc:
            return f"{host} cannot be looked up ({exc})"
        return None

    async def resolve(self, host: str, port: int) -> tuple[str | None, float]:
        """The cached lookup of ``host``: (None when it resolves or is not looked up, else why not;
        the lookup's duration when this call made it, else 0)."""
        if self._transport is not None or not host or _is_ip_literal(host):
            return None, 0.0
        task = self._lookups.get(host)
        owner = task is None
        if task is None:
            task = self._lookups[host] = asyncio.ensure_future(self._lookup(host, port))
        started = time.monotonic()
        why = await asyncio.shield(task)
        return why, (time.monotonic() - started) if owner else 0.0

    def _deadline(self) -> float:
        o = self.options
        return o.connect_timeout + 2 * o.read_timeout

    async def get_json(self, name: str, url: str, accept: str) -> Fetched:
        """GET ``url`` and classify what comes back. Never raises for what a tenant does."""
        assert self._client is not None, "use the Fetcher with 'async with'"
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host.rstrip(".").endswith(".invalid") or host == "invalid":
            return Fetched(name, url, "dns", detail=f"{host} is in the reserved .invalid domain (RFC 6761)")
        cassettes = self.cassettes
        if cassettes is not None and cassettes.replaying:
            unresolved, busy = cassettes.recorded_lookup(host), 0.0
        else:
            unresolved, busy = await self.resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
            if cassettes is not None:
                cassettes.note_lookup(host, unresolved)
        if unresolved is not None:
            return Fetched(name, url, "dns", detail=unresolved, elapsed_s=busy)
        attempt = 0
        while True:
            attempt += 1
            if not self.replaying:
                await self._limiter.wait(parts.netloc.lower())
            async with self._semaphore:
                started = time.monotonic()
                self.requests += 1
                try:
                    if cassettes is not None and cassettes.replaying:
                        cassettes.replay_failure(url, attempt)  # raises what this attempt raised when recorded
                    response = await asyncio.wait_for(
                        self._client.get(url, headers={"accept": accept}), timeout=self._deadline())
                    outcome, detail, body = classify_response(
                        response.status_code, response.headers.get("content-type", ""), response.content)
                    status: int | None = response.status_code
                    content_type: str | None = response.headers.get("content-type")
                except Exception as exc:  # every transport failure is a result, not an error
                    response, body, status, content_type = None, None, None, None
                    outcome = classify_exception(exc)
                    detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":") if str(exc) else type(exc).__name__
                    if cassettes is not None:
                        if outcome == NOT_RECORDED:
                            detail = cassettes.missing_detail(exc)
                        elif not cassettes.replaying:
                            cassettes.note_failure(url, attempt, exc, outcome)
                busy += time.monotonic() - started
            retriable = outcome == "timeout" or (status is not None and status in RETRIED_STATUS)
            if not retriable or attempt > self.options.retries:
                if status == 429 and outcome == "http-other":
                    detail = "HTTP 429 (rate limited)"
                return Fetched(name, url, outcome, status, content_type, detail, attempt, busy, body)
            if self.replaying:
                continue  # the recording waited already
            delay = self.options.backoff * (2 ** (attempt - 1)) * (0.5 + self._rng.random())
            if response is not None:
                delay = max(delay, _retry_after(response, self.options.max_retry_after) or 0.0)
            await asyncio.sleep(delay)
            busy += delay
