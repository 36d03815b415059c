"""The only place the harness sends HTTP to a tenant.

It adds the FHIR ``Accept`` header (Epic answers XML without one), sends the bearer token only to
the tenant's own origins, re-authenticates once on a 401 ``invalid_token``, and keeps a scrubbed log
of every exchange for the report.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

from harness.config import Tenant, is_loopback
from harness.errors import OriginError, TenantError
from harness.ratelimit import RateLimiter
from harness.scrub import SecretRegistry, scrub_body, scrub_headers

FHIR_JSON = "application/fhir+json"
MAX_LOGGED_BODY = 20_000
USER_AGENT = "epic-fhir-harness"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
BACKOFF_BASE = 0.5


def is_idempotent(method: str, url: str) -> bool:
    """Only these are retried: a create, update, $book or token request may have been received."""
    return method in IDEMPOTENT or (method == "POST" and urlsplit(url).path.endswith("/_search"))


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class TransportFault(TenantError):
    """The connection failed or timed out: nothing usable came back."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable  # no connection at all (refused, DNS, TLS, connect timeout)


class CircuitBreaker:
    """After ``threshold`` failed connections in a row (not slow answers: one hanging API must not
    stop the others), requests fail at once for ``cool_down`` seconds,
    then one is let through; an answer closes the breaker again. An unreachable tenant costs seconds,
    not one timeout per check."""

    def __init__(self, threshold: int = 3, cool_down: float = 30.0) -> None:
        self.threshold = threshold
        self.cool_down = cool_down
        self.failures = 0
        self.open_until = 0.0
        self.last_error = ""

    def check(self, what: str) -> None:
        if self.failures >= self.threshold and time.monotonic() < self.open_until:
            raise TransportFault(f"{what}: not sent; the tenant did not answer the last {self.failures} requests "
                                 f"({self.last_error}); trying again in {self.open_until - time.monotonic():.0f} s")

    def failed(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        if self.failures >= self.threshold:
            self.open_until = time.monotonic() + self.cool_down

    def answered(self) -> None:
        self.failures = 0


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    elapsed_ms: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "request": {"method": self.method, "url": self.url, "headers": self.request_headers, "body": self.request_body},
            "response": {"status": self.status, "headers": self.response_headers, "body": self.response_body},
            "elapsed_ms": round(self.elapsed_ms, 1),
            "error": self.error,
        }


class TenantClient:
    def __init__(self, tenant: Tenant, *, secrets: SecretRegistry | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.tenant = tenant
        self.settings = tenant.client
        self.secrets = secrets or SecretRegistry()
        self.http = httpx.Client(transport=transport,
                                 timeout=httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout),
                                 headers={"User-Agent": USER_AGENT}, follow_redirects=False)
        self.limiter = RateLimiter(self.settings.rate_per_second)
        self._sleep = sleep
        self.retries = 0
        self.retry_wait = 0.0
        self.throttled = 0  # 429 answers seen
        self.breaker = CircuitBreaker()
        self.first_sent: float | None = None
        self.last_done: float | None = None
        self._origins = {origin_of(tenant.base_url)} | {origin_of(u) for u in tenant.fhir_bases.values()}
        self._token_source: Callable[[], str] | None = None
        self._invalidate: Callable[[], None] | None = None
        self.log: list[Exchange] = []
        self.requests_sent = 0

    # -- credentials ------------------------------------------------------------------------
    def use_tokens(self, token: Callable[[], str], invalidate: Callable[[], None]) -> None:
        self._token_source, self._invalidate = token, invalidate

    def allow_origin(self, url: str) -> None:
        """An endpoint the tenant's discovery documents name becomes one of its own origins."""
        self._origins.add(origin_of(url))

    def is_own(self, url: str) -> bool:
        return origin_of(url) in self._origins

    # -- requests ---------------------------------------------------------------------------
    def url(self, version: str, path: str) -> str:
        return f"{self.tenant.fhir_base(version)}/{path.lstrip('/')}"

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def request(self, method: str, url: str, *, auth: bool = True, accept: str | None = FHIR_JSON,
                headers: dict[str, str] | None = None, retry: bool = True, **kw: Any) -> httpx.Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TenantError(f"not an absolute http(s) URL: {url!r}")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise OriginError(f"refusing plain http to a non-loopback host: {origin_of(url)}")
        send_headers = dict(headers or {})
        if accept:
            send_headers.setdefault("Accept", accept)
        if auth:
            if not self.is_own(url):
                raise OriginError(f"refusing to send the bearer token to {origin_of(url)}, "
                                  f"which is not one of the tenant's own origins")
            if self._token_source is None:
                raise TenantError("this request needs an access token, but no token provider is set")
            send_headers["Authorization"] = f"Bearer {self._token_source()}"
        response = self._send(method, url, send_headers, kw, retry=retry)
        if auth and response.status_code == 401 and "invalid_token" in response.headers.get("www-authenticate", ""):
            assert self._invalidate is not None and self._token_source is not None
            self._invalidate()
            send_headers["Authorization"] = f"Bearer {self._token_source()}"
            response = self._send(method, url, send_headers, kw, retry=retry)
        return response

    def _send(self, method: str, url: str, headers: dict[str, str], kw: dict[str, Any], *,
              retry: bool = True) -> httpx.Response:
        retryable = retry and is_idempotent(method, url)
        attempt = 0
        while True:
            attempt += 1
            self.breaker.check(f"{method} {self.secrets.scrub_text(url)}")
            try:
                response = self._send_once(method, url, headers, kw)
            except TransportFault as exc:
                if exc.unreachable:
                    self.breaker.failed(str(exc).split(": ", 1)[-1][:120])
                if not retryable or attempt > self.settings.max_retries:
                    raise
                self._wait(self._backoff(attempt))
                continue
            self.breaker.answered()
            status = response.status_code
            if status == 429:
                self.throttled += 1
            if retryable and attempt <= self.settings.max_retries and (status == 429 or status >= 500):
                hinted = retry_after_seconds(response) if status in (429, 503) else None
                if hinted is None or hinted <= self.settings.retry_after_cap:
                    self._wait(hinted if hinted is not None else self._backoff(attempt))
                    continue
            return response

    def _backoff(self, attempt: int) -> float:
        return min(self.settings.retry_after_cap, BACKOFF_BASE * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)

    def _wait(self, seconds: float) -> None:
        self.retries += 1
        self.retry_wait += seconds
        self._sleep(seconds)

    def _send_once(self, method: str, url: str, headers: dict[str, str], kw: dict[str, Any]) -> httpx.Response:
        request = self.http.build_request(method, url, headers=headers, **kw)
        body = request.content.decode("utf-8", "replace") if request.content else ""
        entry = Exchange(method=method, url=self.secrets.scrub_text(url),
                         request_headers=scrub_headers(request.headers.items(), self.secrets),
                         request_body=scrub_body(body[:MAX_LOGGED_BODY], request.headers.get("content-type"), self.secrets))
        self.log.append(entry)
        self.limiter.acquire()
        self.requests_sent += 1
        started = time.perf_counter()
        if self.first_sent is None:
            self.first_sent = started
        try:
            streamed = self.http.send(request, stream=True)
            try:
                content = self._read_bounded(streamed, started, entry)
            finally:
                streamed.close()
        except httpx.TimeoutException as exc:
            entry.error = f"timed out: {exc.__class__.__name__}"
            raise TransportFault(f"{method} {entry.url} timed out ({exc.__class__.__name__}, "
                                 f"read timeout {self.settings.read_timeout:g} s)",
                                 unreachable=isinstance(exc, httpx.ConnectTimeout)) from None
        except httpx.HTTPError as exc:
            entry.error = f"{exc.__class__.__name__}: {exc}"
            raise TransportFault(f"{method} {entry.url} failed: {exc.__class__.__name__}: {exc}",
                                 unreachable=isinstance(exc, httpx.ConnectError)) from None
        finally:
            self.last_done = time.perf_counter()
            entry.elapsed_ms = (self.last_done - started) * 1000
        response_headers = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() != "content-encoding"]
        response = httpx.Response(streamed.status_code, headers=response_headers, content=content, request=request)
        entry.status = response.status_code
        entry.response_headers = scrub_headers(response.headers.items(), self.secrets)
        entry.response_body = scrub_body(response.content[:MAX_LOGGED_BODY].decode("utf-8", "replace"),
                                         response.headers.get("content-type"), self.secrets)
        return response

    def _read_bounded(self, response: httpx.Response, started: float, entry: Exchange) -> bytes:
        """The whole body, unless it is larger than the cap or drips slower than the deadline allows."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.settings.max_response_bytes:
                entry.error = "response too large"
                raise TenantError(f"{entry.method} {entry.url}: the response exceeds "
                                  f"{self.settings.max_response_bytes:,} bytes; stopped reading", category="tenant-fault")
            if time.perf_counter() - started > self.settings.request_deadline:
                entry.error = "response too slow"
                raise TenantError(f"{entry.method} {entry.url}: the response was still arriving after "
                                  f"{self.settings.request_deadline:g} s (a slow drip); stopped reading",
                                  category="tenant-fault")
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.http.close()
