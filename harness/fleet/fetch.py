"""Fetching discovery documents from many tenants at once, politely and safely, and saying why
one failed.

One :class:`Fetcher` per fleet run: one ``httpx.AsyncClient`` over a
:class:`~harness.fleet.transport.GuardedTransport`, a bound on requests in flight, a per-host rate
limit (many tenants share one Epic-hosted proxy host), connect and read timeouts and a deadline
on each whole request, and a small retry with exponential backoff for timeouts, 5xx and 429
(``Retry-After`` honoured up to a cap). Requests carry no credentials.

**Where it connects.** Each host is looked up once per run, before its first request, and every
address it resolves to is judged (:mod:`harness.fleet.targets`): only public unicast addresses
are fetched, loopback too with ``allow_loopback``. The connection goes to an address judged, by
IP, with the host name for TLS and ``Host``. Redirects are followed by the fetcher itself, at
most ``max_redirects`` of them, each target judged the same way before it is requested, never
from https to http.

**What it reads.** Bodies are streamed and capped (``max_body_bytes``, raw and decoded, one
``Content-Encoding`` at most); an error status is classified without reading its body; a body
that is not a JSON object is described by its status, content type and size, never quoted.

Every failure gets one class:

``dns``  the host name does not resolve, or the resolver gives no answer in time (``.invalid``
    names are refused without asking, RFC 6761)
``refused-loopback``, ``refused-private``, ``refused-link-local``, ``refused-cgnat``,
    ``refused-unspecified``, ``refused-multicast``, ``refused-reserved``  the host is, or resolves
    to, an address that is not public (:mod:`harness.fleet.targets`); nothing was sent
``refused-redirect``  a redirect to plain http from https, or to a scheme other than http(s)
``tls``  the TLS handshake failed
``tls-certificate``  the certificate does not verify (expired, unknown issuer, another name)
``connect``  the connection was refused, reset or dropped, or the answer is not HTTP
``timeout``  no connection, or no answer, within the timeouts (after the retries)
``http-404``  404
``http-5xx``  a 5xx status (after the retries)
``http-other``  any other status that is not 2xx (401, 403, 429 after the retries, more redirects
    than allowed)
``too-large``  the body is larger than ``max_body_bytes``, on the wire or once decoded
``bad-encoding``  more than one ``Content-Encoding``, one the fleet did not offer, or one that
    does not decode
``not-json``  a 2xx body that is not a JSON object (XML, text, a JSON array, nested too deeply)
``html``  a 2xx HTML page (a login portal, a proxy's error page)
``wrong-document``  a JSON object, but not the document asked for (``/metadata`` answering with
    something other than a CapabilityStatement or Conformance, or one that cannot be read);
    judged by the run, not here
``malformed-address``  the address cannot be requested at all
``not-recorded``  replay only: the cassettes hold no answer for the request (record the fleet again)

Under ``--mode record`` or ``--mode replay`` a :class:`~harness.fleet.cassettes.FleetCassettes`
rides along: the responses go through vcrpy, and what vcrpy cannot keep (each host's lookup and
judgement, transport failures, TLS facts) is kept in the tenant's cassette by the fetcher, so
that a replay classifies every tenant as the recording did, with no network.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx

from harness import __version__
from harness import tls as tls_facts
from harness.fleet.body import BAD_ENCODING, DEFAULT_LIMIT, TOO_LARGE, BoundedBody
from harness.fleet.targets import (
    REDIRECT,
    REFUSALS,
    Refusal,
    TargetRefused,
    ip_literal,
    judge_address,
    judge_addresses,
    judge_name,
)
from harness.fleet.text import clip
from harness.fleet.transport import GuardedTransport
from harness.tls import ssl_context

if TYPE_CHECKING:
    from harness.fleet.cassettes import FleetCassettes

OK = "ok"
WRONG_DOCUMENT = "wrong-document"
NOT_RECORDED = "not-recorded"
TLS_CERTIFICATE = "tls-certificate"
FAILURES = ("dns", *REFUSALS, "tls", TLS_CERTIFICATE, "connect", "timeout", "http-404", "http-5xx", "http-other",
            TOO_LARGE, BAD_ENCODING, "not-json", "html", WRONG_DOCUMENT, "malformed-address", NOT_RECORDED)
RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
FHIR_JSON = "application/fhir+json"
JSON = "application/json"

_DNS_HINTS = ("name or service not known", "nodename nor servname", "getaddrinfo", "no address associated",
              "temporary failure in name resolution", "name resolution", "[errno -2]", "[errno -3]", "[errno -5]",
              "[errno 8]", "[errno 11001]", "[errno 11004]")
_CERT_HINTS = ("certificate verify failed", "certificate_verify_failed")
_TLS_HINTS = ("ssl", "tls", "certificate", "handshake", "wrong version number")
_NOT_HTTP = (httpx.RemoteProtocolError, httpx.LocalProtocolError, httpx.DecodingError)


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
    max_redirects: int = 3
    # Connections kept open for reuse. Discovery asks each host for two documents at once, so
    # reuse saves little, and a large idle pool costs bookkeeping on every request.
    keepalive: int = 0
    max_body_bytes: int = DEFAULT_LIMIT  # per document, on the wire and once decoded
    allow_loopback: bool = False  # loopback addresses (the sandbox fleet, tests); never other private ranges
    ca_file: str | None = None  # a PEM file of CAs trusted instead of the system's (a test's own CA)
    tls_probes: bool = True  # ask each https host whether it still accepts TLS 1.0 and 1.1

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
            "max_redirects": self.max_redirects,
            "max_body_bytes": self.max_body_bytes,
            "allow_loopback": self.allow_loopback,
            "tls_probes": self.tls_probes,
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
    redirected_to: str | None = None  # the last address requested, when a redirect was followed
    size: int | None = None  # bytes of the body read (decoded)

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
            "redirected_to": self.redirected_to,
            "bytes": self.size,
        }


class HostUnresolved(Exception):
    """The transport was asked to connect to a host whose lookup failed."""

    fleet_outcome = "dns"


@dataclass(frozen=True)
class HostCheck:
    """A host's lookup and judgement: the addresses the fleet may connect to, or why none."""

    addresses: tuple[str, ...] = ()
    outcome: str | None = None  # "dns" or a refusal class; None: allowed
    detail: str | None = None

    def as_record(self) -> str | dict[str, str] | None:
        """What a cassette keeps: None (allowed), the dns failure's text, or the refusal."""
        if self.outcome is None:
            return None
        if self.outcome == "dns":
            return self.detail
        return {"outcome": self.outcome, "detail": self.detail or self.outcome}

    @classmethod
    def from_record(cls, record: Any) -> HostCheck:
        if record is None:
            return cls()
        if isinstance(record, dict):
            return cls((), str(record.get("outcome") or "refused-reserved"), str(record.get("detail") or ""))
        return cls((), "dns", str(record))


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
    chain = _chain(exc)
    for link in chain:
        recorded = getattr(link, "fleet_outcome", None)
        if isinstance(recorded, str):  # a refusal, a cap, or a failure played back from a cassette
            return recorded
    if exc.__class__.__name__ == "CannotOverwriteExistingCassetteException":
        return NOT_RECORDED
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return "malformed-address"
    if isinstance(exc, httpx.TooManyRedirects):
        return "http-other"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "dns"
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return TLS_CERTIFICATE
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls"
    text = " ".join(str(e).lower() for e in chain)
    if any(hint in text for hint in _DNS_HINTS):
        return "dns"
    if any(hint in text for hint in _CERT_HINTS):
        return TLS_CERTIFICATE
    if any(hint in text for hint in _TLS_HINTS):
        return "tls"
    return "connect"


def describe_exception(exc: BaseException, outcome: str, deadline: float) -> str:
    """One line on a transport failure, in words the fleet chose: a server's own bytes (a banner,
    a broken status line) are never repeated."""
    chain = _chain(exc)
    own = next((e for e in chain if isinstance(getattr(e, "fleet_outcome", None), str)), None)
    if own is not None:
        return clip(str(own) or own.fleet_outcome, 240)  # type: ignore[attr-defined]
    if isinstance(exc, asyncio.TimeoutError) or (isinstance(exc, TimeoutError) and not str(exc)):
        return f"no complete answer within {deadline:g} s"
    if outcome == TLS_CERTIFICATE:
        verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
        why = getattr(verify, "verify_message", None) or "certificate verify failed"
        return clip(f"the certificate does not verify: {why}", 240)
    if outcome == "tls":
        failure = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
        reason = getattr(failure, "reason", None) if failure is not None else None
        return clip(f"TLS handshake failed: {reason or type(exc).__name__}", 240)
    if any(isinstance(e, _NOT_HTTP) for e in chain):
        return f"the answer is not valid HTTP/1.1 ({type(exc).__name__})"
    os_error = next((e for e in chain if isinstance(e, OSError) and e.errno), None)
    if os_error is not None:
        return clip(f"{type(exc).__name__}: {os.strerror(os_error.errno or 0)}", 240)  # type: ignore[arg-type]
    text = str(exc)
    return clip(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, 240)


_MEDIA_TYPE = re.compile(r"^\s*([A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64})")
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([A-Za-z0-9._:-]{1,40})\"?\s*(?:;|$)", re.IGNORECASE)


def media_type(header: str | None) -> str | None:
    """A ``Content-Type`` reduced to what the fleet reports: the media type and its charset; any
    other parameter (a tenant's free text) is dropped."""
    if header is None:
        return None
    match = _MEDIA_TYPE.match(header)
    if match is None:
        return "(not a media type)"
    charset = _CHARSET.search(header[match.end():])
    return match.group(1).lower() + (f"; charset={charset.group(1).lower()}" if charset else "")


def _looks_like_html(content_type: str, body: bytes) -> bool:
    if "html" in content_type.lower():
        return True
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _size(count: int) -> str:
    return f"{count:,} bytes" if count != 1 else "1 byte"


def classify_response(status: int, content_type: str, body: bytes) -> tuple[str, str | None, Any]:
    """(outcome, detail, parsed JSON object) for a final HTTP response. A body that is not a JSON
    object is described (status, content type, size), never quoted."""
    shown = (media_type(content_type) if content_type else None) or "missing"
    if status == 404:
        return "http-404", "HTTP 404", None
    if 500 <= status <= 599:
        return "http-5xx", f"HTTP {status}", None
    if not 200 <= status <= 299:
        return "http-other", f"HTTP {status}", None
    if _looks_like_html(content_type, body):
        return "html", f"HTTP {status}: an HTML page (Content-Type {shown}; {_size(len(body))})", None
    try:
        data = json.loads(body)
    except RecursionError:
        return "not-json", f"HTTP {status}: JSON nested too deeply to read ({_size(len(body))})", None
    except ValueError:
        return "not-json", f"HTTP {status}: the body is not JSON (Content-Type {shown}; {_size(len(body))})", None
    if not isinstance(data, dict):
        return ("not-json", f"HTTP {status}: the body is JSON but not an object (a {type(data).__name__}; "
                            f"{_size(len(body))})", None)
    return OK, None, data


def _retry_after(headers: httpx.Headers | None, cap: float) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
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


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def origin_of(url: str) -> str:
    """``host:port`` of an URL, the port always written: what TLS facts and cassettes key on."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{parts.port or _default_port(parts.scheme.lower())}"


@dataclass
class _Answer:
    status: int
    content_type: str | None
    headers: httpx.Headers
    location: str | None = None
    body: bytes | None = None


class Fetcher:
    """Async, bounded, rate-limited, retrying, guarded GETs of discovery documents. Use ``async with``.

    With an injected ``transport`` (tests), the transport answers for the network: host names are
    judged only where no lookup is needed (IP literals, loopback and private-use names), and no
    TLS facts are gathered.

    With ``cassettes`` recording, every host's lookup and judgement, every transport failure and
    every TLS fact is written to the tenant's cassette next to the responses vcrpy keeps;
    replaying, they are played back from it, and nothing is looked up, rate-limited or waited for.
    """

    def __init__(self, options: FetchOptions | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 rng: random.Random | None = None, cassettes: FleetCassettes | None = None) -> None:
        self.options = options or FetchOptions()
        self.cassettes = cassettes
        self._transport = transport
        self._checks: dict[str, asyncio.Task[HostCheck]] = {}
        self._resolver: ThreadPoolExecutor | None = None
        self._limiter = HostRateLimiter(self.options.per_host_rps)
        self._semaphore = asyncio.Semaphore(max(1, self.options.concurrency))
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None
        self._tls_seen: dict[str, tls_facts.TlsSeen] = {}
        self._tls: dict[str, asyncio.Task[dict[str, Any] | None]] = {}
        self.requests = 0

    @property
    def replaying(self) -> bool:
        return self.cassettes is not None and self.cassettes.replaying

    async def __aenter__(self) -> Fetcher:
        o = self.options
        limits = httpx.Limits(max_connections=max(1, o.concurrency), max_keepalive_connections=max(0, o.keepalive))
        transport = self._transport
        if transport is None:
            transport = GuardedTransport(pin=self._pin, body_limit=o.max_body_bytes, context=ssl_context(o.ca_file),
                                         limits=limits, on_tls=self._note_tls)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=o.connect_timeout, read=o.read_timeout, write=o.read_timeout, pool=None),
            limits=limits,
            follow_redirects=False,  # followed here, each target judged first
            transport=transport,
            headers=self._headers(),
            trust_env=False,
        )
        return self

    def _headers(self) -> dict[str, str]:
        # only encodings the fleet decodes with a cap (and vcrpy can keep as text)
        return {"user-agent": f"epic-harness-fleet/{__version__}", "accept-encoding": "gzip, deflate"}

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tls.values():
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._resolver is not None:
            self._resolver.shutdown(wait=False, cancel_futures=True)
            self._resolver = None

    # --- host names: looked up once, judged, pinned ----------------------------------------------

    async def _lookup(self, host: str, port: int) -> tuple[tuple[str, ...], str | None]:
        """(addresses, None) when ``host`` resolves; else ((), why not)."""
        if self._resolver is None:
            self._resolver = ThreadPoolExecutor(max(1, self.options.concurrency), thread_name_prefix="fleet-dns")
        loop = asyncio.get_running_loop()
        timeout = self.options.lookup_timeout
        try:
            answers = await asyncio.wait_for(loop.run_in_executor(self._resolver, socket.getaddrinfo, host, port, 0,
                                                                  socket.SOCK_STREAM), timeout)
        except socket.gaierror as exc:
            return (), f"{host} does not resolve ({exc.strerror or exc})"
        except asyncio.TimeoutError:
            return (), f"no DNS answer for {host} within {timeout:g} s"
        except (OSError, UnicodeError) as exc:
            return (), f"{host} cannot be looked up ({exc})"
        addresses = tuple(dict.fromkeys(str(info[4][0]) for info in answers if info and info[4]))
        if not addresses:
            return (), f"{host} resolves to no address"
        return addresses, None

    def _judged_offline(self, host: str) -> HostCheck | None:
        """The check of a host that needs no lookup: a ``.invalid`` name, an IP literal, a loopback
        or private-use name. None when only a lookup can tell."""
        o = self.options
        name = host.rstrip(".")
        if name.endswith(".invalid") or name == "invalid":
            return HostCheck((), "dns", f"{host} is in the reserved .invalid domain (RFC 6761)")
        literal = ip_literal(host)
        if literal is not None:
            refusal = judge_address(literal, allow_loopback=o.allow_loopback)
            if refusal is not None:
                return HostCheck((), refusal.outcome, refusal.detail)
            return HostCheck((str(literal),))
        refusal = judge_name(host, allow_loopback=o.allow_loopback)
        if refusal is not None:
            return HostCheck((), refusal.outcome, refusal.detail)
        return None

    async def _check(self, host: str, port: int) -> HostCheck:
        o = self.options
        offline = self._judged_offline(host)
        if offline is not None:
            return offline
        if self._transport is not None:
            return HostCheck()  # the injected transport answers for the name
        addresses, why = await self._lookup(host, port)
        if why is not None:
            return HostCheck((), "dns", why)
        refusal = judge_addresses(host, addresses, allow_loopback=o.allow_loopback)
        if refusal is not None:
            return HostCheck((), refusal.outcome, refusal.detail)
        return HostCheck(addresses)

    async def check_host(self, host: str, port: int) -> tuple[HostCheck, float]:
        """The cached check of ``host``: (its lookup and judgement; the check's duration when this
        call made it, else 0)."""
        task = self._checks.get(host)
        owner = task is None
        if task is None:
            task = self._checks[host] = asyncio.ensure_future(self._check(host, port))
        started = time.monotonic()
        check = await asyncio.shield(task)
        return check, (time.monotonic() - started) if owner else 0.0

    async def _pin(self, host: str, port: int) -> list[str]:
        """For the transport: the addresses to connect to for ``host``, as judged (refusing raises)."""
        check, _ = await self.check_host(host.lower(), port)
        if check.outcome == "dns":
            raise HostUnresolved(check.detail or f"{host} does not resolve")
        if check.outcome is not None:
            raise TargetRefused(Refusal(check.outcome, check.detail or check.outcome))
        return list(check.addresses)

    async def _host(self, host: str, port: int) -> tuple[HostCheck, float]:
        """The check of ``host`` for this request: from the cassette when replaying, else made (and
        kept in the cassette when recording)."""
        cassettes = self.cassettes
        if cassettes is not None and cassettes.replaying:
            found, record = cassettes.recorded_lookup(host)
            if found:
                return HostCheck.from_record(record), 0.0
            return self._judged_offline(host) or HostCheck(), 0.0  # asked of the cassette, which has no answer
        check, busy = await self.check_host(host, port)
        if cassettes is not None:
            cassettes.note_lookup(host, check.as_record())
        return check, busy

    # --- TLS facts -------------------------------------------------------------------------------

    def _note_tls(self, host: str, port: int, version: str | None, peercert: dict[str, Any]) -> None:
        key = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._tls_seen.setdefault(key, tls_facts.TlsSeen(version, peercert))

    async def _legacy(self, origin: str, host: str, port: int) -> dict[str, str | None]:
        o = self.options
        results: dict[str, str | None] = {field_name: None for field_name, _ in tls_facts.LEGACY}
        check = self._checks.get(host)
        if not o.tls_probes or check is None or not check.done() or not check.result().addresses:
            return results
        address = check.result().addresses[0]
        for field_name, version in tls_facts.LEGACY:
            await self._limiter.wait(origin)
            async with self._semaphore:
                results[field_name] = await tls_facts.probe(address, port, host, version, ca_file=o.ca_file,
                                                            timeout=o.connect_timeout)
        return results

    async def _tls_of(self, origin: str, host: str, port: int) -> dict[str, Any] | None:
        seen = self._tls_seen.get(origin)
        if seen is None:
            return None
        return tls_facts.facts(origin, seen, await self._legacy(origin, host, port))

    async def tls(self, url: str) -> dict[str, Any] | None:
        """The TLS facts of the origin of ``url`` (https only; None when no handshake completed)."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "https":
            return None
        origin = origin_of(url)
        cassettes = self.cassettes
        if cassettes is not None and cassettes.replaying:
            return cassettes.recorded_tls(origin)
        task = self._tls.get(origin)
        if task is None:
            host = (parts.hostname or "").lower()
            task = self._tls[origin] = asyncio.ensure_future(self._tls_of(origin, host, parts.port or 443))
        found = await asyncio.shield(task)
        if cassettes is not None:
            cassettes.note_tls(origin, found)
        return found

    # --- one document ------------------------------------------------------------------------------

    def _deadline(self) -> float:
        o = self.options
        return o.connect_timeout + 2 * o.read_timeout

    async def _send(self, url: str, accept: str) -> _Answer:
        """One GET, streamed: an error status or a redirect without its body, else the body read
        within the cap."""
        assert self._client is not None, "use the Fetcher with 'async with'"
        async with self._client.stream("GET", url, headers={"accept": accept}) as response:
            status, headers = response.status_code, response.headers
            answer = _Answer(status, media_type(headers.get("content-type")), headers)
            if status in REDIRECT_STATUS and headers.get("location"):
                answer.location = headers["location"]
                return answer
            if not 200 <= status <= 299:
                return answer
            limit = self.options.max_body_bytes
            buffer = bytearray()
            if response.is_stream_consumed:  # built in memory (a test's mock transport), decoded already
                buffer += BoundedBody(None, limit).feed(response.content)
            else:
                body = BoundedBody(headers.get("content-encoding"), limit, headers.get("content-length"))
                async for chunk in response.aiter_raw():
                    buffer += body.feed(chunk)
                buffer += body.close()
            answer.body = bytes(buffer)
            return answer

    async def get_json(self, name: str, url: str, accept: str) -> Fetched:
        """GET ``url`` (following judged redirects) and classify what comes back. Never raises for
        what a tenant does."""
        assert self._client is not None, "use the Fetcher with 'async with'"
        current, hops, attempts, busy = url, 0, 0, 0.0
        while True:
            parts = urlsplit(current)
            host = (parts.hostname or "").lower()
            check, spent = await self._host(host, parts.port or _default_port(parts.scheme.lower()))
            busy += spent
            moved = current if current != url else None
            if check.outcome is not None:
                detail = check.detail if moved is None else f"{check.detail} (redirected to {clip(moved, 120)})"
                return Fetched(name, url, check.outcome, detail=detail, attempts=attempts, elapsed_s=busy,
                               redirected_to=moved)
            result, answer, tries, spent = await self._attempts(name, url, current, accept)
            attempts += tries
            busy += spent
            if result is not None:
                return Fetched(name, url, result.outcome, result.http_status, result.content_type, result.detail,
                               attempts, busy, result.body, moved, result.size)
            assert answer is not None and answer.location is not None
            hops += 1
            target, refused = self._redirect(current, answer.location, hops)
            if refused is not None:
                outcome, detail = refused
                return Fetched(name, url, outcome, answer.status, answer.content_type, detail, attempts, busy,
                               redirected_to=moved)
            current = target

    def _redirect(self, current: str, location: str, hops: int) -> tuple[str, tuple[str, str] | None]:
        """(the next address, None) for a redirect the fleet follows; else (_, (class, detail))."""
        limit = self.options.max_redirects
        if hops > limit:
            return "", ("http-other", f"more than {limit} redirect{'s' if limit != 1 else ''}")
        try:
            target = urljoin(current, location.strip())
            parts = urlsplit(target)
            parts.port  # noqa: B018 - a bad port raises here
        except ValueError:
            return "", (REDIRECT, "refused: a redirect to something that is not a URL")
        scheme = parts.scheme.lower()
        shown = clip(target, 120)
        if scheme not in ("http", "https") or not parts.hostname:
            return "", (REDIRECT, f"refused: a redirect to a {clip(scheme, 20) or 'relative'!s} address ({shown})")
        if scheme == "http" and urlsplit(current).scheme.lower() == "https":
            return "", (REDIRECT, f"refused: a redirect from https to plain http ({shown})")
        if scheme == "http":
            literal = ip_literal(parts.hostname)
            loopback = parts.hostname == "localhost" or (literal is not None and literal.is_loopback)
            if not loopback:
                return "", (REDIRECT, f"refused: a redirect to plain http at a host that is not loopback ({shown})")
        return target, None

    async def _attempts(self, name: str, url: str, current: str, accept: str
                        ) -> tuple[_Result | None, _Answer | None, int, float]:
        """Request ``current`` with retries: (the final result, None, ...) or (None, the redirect, ...)."""
        cassettes = self.cassettes
        netloc = origin_of(current)
        attempt, busy = 0, 0.0
        while True:
            attempt += 1
            if not self.replaying:
                await self._limiter.wait(netloc)
            answer: _Answer | None = None
            async with self._semaphore:
                started = time.monotonic()
                self.requests += 1
                try:
                    if cassettes is not None and cassettes.replaying:
                        cassettes.replay_failure(current, attempt)  # raises what this attempt raised when recorded
                    answer = await asyncio.wait_for(self._send(current, accept), timeout=self._deadline())
                    if answer.location is not None:
                        return None, answer, attempt, busy + time.monotonic() - started
                    outcome, detail, body = classify_response(answer.status, answer.content_type or "",
                                                              answer.body or b"")
                    result = _Result(outcome, answer.status, answer.content_type, detail, body,
                                     len(answer.body) if answer.body is not None else None)
                    answer.body = None
                except Exception as exc:  # every transport failure is a result, not an error
                    outcome = classify_exception(exc)
                    detail = describe_exception(exc, outcome, self._deadline())
                    if cassettes is not None:
                        if outcome == NOT_RECORDED:
                            detail = cassettes.missing_detail(exc)
                        elif not cassettes.replaying:
                            cassettes.note_failure(current, attempt, exc, outcome, detail)
                    result = _Result(outcome, None, None, detail, None, None)
                busy += time.monotonic() - started
            status = result.http_status
            retriable = outcome == "timeout" or (status is not None and status in RETRIED_STATUS)
            if not retriable or attempt > self.options.retries:
                if status == 429 and outcome == "http-other":
                    result.detail = "HTTP 429 (rate limited)"
                return result, None, attempt, busy
            if self.replaying:
                continue  # the recording waited already
            delay = self.options.backoff * (2 ** (attempt - 1)) * (0.5 + self._rng.random())
            if answer is not None:
                delay = max(delay, _retry_after(answer.headers, self.options.max_retry_after) or 0.0)
            await asyncio.sleep(delay)
            busy += delay


@dataclass
class _Result:
    outcome: str
    http_status: int | None
    content_type: str | None
    detail: str | None
    body: dict[str, Any] | None
    size: int | None

