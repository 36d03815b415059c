"""The only place the harness sends HTTP to a tenant.

It adds the FHIR ``Accept`` header (Epic answers XML without one); sends the bearer token only to
the tenant's FHIR base origins (and origins the tenant file names), never to its token endpoint
nor to any origin a discovery document or an answer names; re-authenticates on a 401
``invalid_token`` a bounded number of times per run; bounds each exchange in time (a wall-clock
deadline over headers and body) and in memory (raw and decoded bytes, one content encoding at
most, and the bytes of answers still held); and keeps a scrubbed, bounded log of every exchange
for the report (patient data scrubbed too when the tenant asks for it).
"""

from __future__ import annotations

import gc
import json
import random
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

import httpx

from harness import deadline as _deadline
from harness.config import Tenant, is_loopback
from harness.decoding import ACCEPT_ENCODING, BodyRefused, BoundedDecoder
from harness.errors import OriginError, TenantError
from harness.origins import origin_of, without_query
from harness.pseudonyms import Pseudonymizer
from harness.ratelimit import RateLimiter
from harness.scrub import (
    STRUCTURED_LIMIT, SecretRegistry, looks_like_json, parse_json_body, scrub_headers, scrubbed_excerpt,
)

FHIR_JSON = "application/fhir+json"
MAX_LOGGED_BODY = 20_000  # characters of each body kept in the exchange log, scrubbed before cutting
USER_AGENT = "epic-fhir-harness"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
BACKOFF_BASE = 0.5
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})  # answers that say "try again later"
MAX_REAUTH = 3  # fresh tokens asked for after a 401 invalid_token, per run
MAX_LIVE_RESPONSE_BYTES = 150_000_000  # decoded bytes of answers still held by the run at once
HEADER_ALLOWANCE = 1_000_000  # raw bytes allowed on top of the body cap (status line, headers, framing)


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


class ReauthLimit(TenantError):
    """The tenant refused every fresh token: the harness stops asking for more in this run."""

    def __init__(self, message: str) -> None:
        super().__init__(message, category="tenant-configuration")


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


# -- origins ------------------------------------------------------------------------------------

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def named_endpoints(document: Any) -> list[tuple[str, str]]:
    """(where, url) of every endpoint a discovery document names: the smart-configuration's
    ``*_endpoint`` and ``*_uri`` members, a CapabilityStatement's oauth-uris and implementation URL."""
    found: list[tuple[str, str]] = []
    if not isinstance(document, dict):
        return found
    if document.get("resourceType") in ("CapabilityStatement", "Conformance"):
        implementation = document.get("implementation")
        if isinstance(implementation, dict) and isinstance(implementation.get("url"), str):
            found.append(("implementation.url", implementation["url"]))
        for rest in document.get("rest") or []:
            security = rest.get("security") if isinstance(rest, dict) else None
            for ext in (security or {}).get("extension") or []:
                if isinstance(ext, dict) and ext.get("url") == OAUTH_URIS:
                    for inner in ext.get("extension") or []:
                        if isinstance(inner, dict) and isinstance(inner.get("valueUri"), str):
                            found.append((f"oauth-uris {inner.get('url')}", inner["valueUri"]))
        return found
    for key, value in document.items():
        if isinstance(value, str) and (key.endswith("_endpoint") or key.endswith("_uri") or key == "issuer"):
            found.append((key, value))
    return found


@dataclass(frozen=True)
class ForeignOrigin:
    """An endpoint a discovery document names on an origin that is not one of the FHIR bases'."""

    where: str  # the member that names it, e.g. "registration_endpoint"
    url: str
    origin: str

    def describe(self) -> str:
        return f"{self.where} is on {self.origin}, not a FHIR base origin: the access token is never sent there"


# -- the exchange log ---------------------------------------------------------------------------

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
    secrets: SecretRegistry | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The exchange as kept, scrubbed once more with every secret the run knows by now."""
        out = {
            "request": {"method": self.method, "url": self.url, "headers": self.request_headers, "body": self.request_body},
            "response": {"status": self.status, "headers": self.response_headers, "body": self.response_body},
            "elapsed_ms": round(self.elapsed_ms, 1),
            "error": self.error,
        }
        return self.secrets.scrub(out) if self.secrets is not None else out


NOT_KEPT = "[{size:,} characters of {kind} not kept: patient-data scrubbing keeps FHIR JSON only]"


def _verification(ca_file: Any) -> Any:
    """Certificates are always verified: against the system's CAs, or the tenant file's ``client.ca_file``."""
    import ssl

    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise TenantError(f"client.ca_file {ca_file}: not a readable PEM file of CA certificates ({exc})",
                          category="vendor-credentials") from None


class TenantClient:
    def __init__(self, tenant: Tenant, *, secrets: SecretRegistry | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 bearer_origins: Iterable[str] = (), pseudonymizer: Pseudonymizer | None = None,
                 max_reauth: int = MAX_REAUTH, max_live_response_bytes: int = MAX_LIVE_RESPONSE_BYTES) -> None:
        self.tenant = tenant
        self.settings = tenant.client
        self.secrets = secrets if secrets is not None else SecretRegistry()
        self.secrets.add_tenant(tenant)
        self.http = httpx.Client(transport=transport, verify=_verification(self.settings.ca_file),
                                 timeout=httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout),
                                 headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
                                 follow_redirects=False)
        self.deadline_pools = _deadline.install(self.http)
        self.limiter = RateLimiter(self.settings.rate_per_second)
        self._sleep = sleep
        self.retries = 0
        self.retry_wait = 0.0
        self.throttled = 0  # 429 answers seen
        self._persistent: dict[tuple[str, str], int] = {}  # (method, URL) -> the status it kept through every retry
        self.breaker = CircuitBreaker()
        self.first_sent: float | None = None
        self.last_done: float | None = None
        self._bearer_origins = ({origin_of(tenant.base_url)} | {origin_of(u) for u in tenant.fhir_bases.values()}
                                | {origin_of(u) for u in bearer_origins})
        self._token_urls: set[str] = set()
        self.named_origins: dict[str, str] = {}  # origin -> a URL discovery named there (never given the token)
        self.refused_bearer: list[str] = []  # origins the token was refused for
        self._token_source: Callable[[], str] | None = None
        self._invalidate: Callable[[], None] | None = None
        self.max_reauth = max_reauth
        self.reauths = 0
        self.reauth_stopped: str | None = None
        self.pseudonymizer = pseudonymizer if pseudonymizer is not None else (
            Pseudonymizer(tenant.cassettes.pseudonym_key) if tenant.cassettes.scrub_patient_data else None)
        self.max_live_response_bytes = max_live_response_bytes
        self.live_response_bytes = 0
        self._live_lock = threading.RLock()
        self.log: list[Exchange] = []
        self.requests_sent = 0

    # -- credentials ------------------------------------------------------------------------
    def use_tokens(self, token: Callable[[], str], invalidate: Callable[[], None]) -> None:
        self._token_source, self._invalidate = token, invalidate

    @property
    def bearer_origins(self) -> frozenset[str]:
        return frozenset(self._bearer_origins)

    def allow_origin(self, url: str) -> None:
        """Deprecated: the bearer token goes only to the FHIR base origins and those the tenant file
        names. An origin a discovery document names is recorded in ``named_origins``, nothing more."""
        self.named_origins.setdefault(origin_of(url), url)

    def is_own(self, url: str) -> bool:
        """Whether ``url`` may receive the bearer token: a FHIR base origin, never the token endpoint."""
        return origin_of(url) in self._bearer_origins and without_query(url) not in self._token_urls

    def foreign_origins(self, document: Any) -> list[ForeignOrigin]:
        """Endpoints a discovery document names outside the FHIR base origins (the report warns of them)."""
        out = []
        for where, url in named_endpoints(document):
            if url.startswith(("http://", "https://")) and origin_of(url) not in self._bearer_origins:
                out.append(ForeignOrigin(where, url, origin_of(url)))
        return out

    def _guard_bearer(self, url: str) -> None:
        origin = origin_of(url)
        if origin not in self._bearer_origins:
            self.refused_bearer.append(origin)
            raise OriginError(f"refusing to send the bearer token to {origin}, which is not one of the tenant's "
                              f"FHIR base origins ({', '.join(sorted(self._bearer_origins))})")
        if without_query(url) in self._token_urls:
            self.refused_bearer.append(origin)
            raise OriginError(f"refusing to send the bearer token to the token endpoint "
                              f"{self.secrets.scrub_text(without_query(url))}: it gets the token request only")

    def _note_token_request(self, url: str, kw: Mapping[str, Any]) -> None:
        """A request carrying a client assertion is a token request: its assertion becomes a secret
        of the run and its URL is a token endpoint (which never gets the bearer token)."""
        fields: list[tuple[str, str]] = []
        data = kw.get("data")
        if isinstance(data, Mapping):
            fields = [(str(k), str(v)) for k, v in data.items()]
        content = kw.get("content")
        if isinstance(content, (bytes, str)):
            text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
            if "client_assertion" in text:
                fields += parse_qsl(text, keep_blank_values=True)
        if any(k == "client_assertion" for k, _ in fields):
            self._token_urls.add(without_query(url))
            for k, v in fields:
                if k in ("client_assertion", "client_secret"):
                    self.secrets.add(v)

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
            raise TenantError(f"not an absolute http(s) URL: {self.secrets.scrub_text(repr(url))}")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise OriginError(f"refusing plain http to a non-loopback host: {origin_of(url)}")
        send_headers = dict(headers or {})
        if accept:
            send_headers.setdefault("Accept", accept)
        self._note_token_request(url, kw)
        if auth or any(k.lower() == "authorization" for k in send_headers):
            self._guard_bearer(url)
        if auth:
            if self._token_source is None:
                raise TenantError("this request needs an access token, but no token provider is set")
            send_headers["Authorization"] = f"Bearer {self._token_source()}"
        response = self._send(method, url, send_headers, kw, retry=retry)
        if auth and response.status_code == 401 and "invalid_token" in response.headers.get("www-authenticate", ""):
            assert self._invalidate is not None and self._token_source is not None
            if self.reauths >= self.max_reauth:
                self.reauth_stopped = (f"the tenant refused the access token with 401 invalid_token after "
                                       f"{self.reauths} fresh tokens in this run; the harness asks for no more "
                                       f"(a token it issued itself is refused: check the app's registration and "
                                       f"the token's audience in this environment)")
                raise ReauthLimit(f"{method} {self._shown(url)}: {self.reauth_stopped}")
            self.reauths += 1
            self._invalidate()
            send_headers["Authorization"] = f"Bearer {self._token_source()}"
            response = self._send(method, url, send_headers, kw, retry=retry)
        return response

    def _shown(self, url: str) -> str:
        shown = self.pseudonymizer.query(url) if self.pseudonymizer else url
        return self.secrets.scrub_text(shown)

    def _send(self, method: str, url: str, headers: dict[str, str], kw: dict[str, Any], *,
              retry: bool = True) -> httpx.Response:
        retryable = retry and is_idempotent(method, url)
        attempt = 0
        while True:
            attempt += 1
            self.breaker.check(f"{method} {self._shown(url)}")
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
            if retryable and attempt <= self._retries_for(method, url, status):
                hinted = retry_after_seconds(response) if status in (429, 503) else None
                if hinted is None or hinted <= self.settings.retry_after_cap:
                    del response
                    self._wait(hinted if hinted is not None else self._backoff(attempt))
                    continue
            if retryable and (status == 429 or status >= 500):
                self._persistent[(method, url)] = status
            else:
                self._persistent.pop((method, url), None)
            return response

    def _retries_for(self, method: str, url: str, status: int) -> int:
        """How many times an answer of ``status`` is asked again: 429, 502, 503 and 504 say "later"
        (up to ``client.max_retries``); another 5xx is seldom transient, so it is asked once more;
        and a request that kept its error through every retry earlier in the run is not retried
        again (a tenant whose reads of one type all answer 500 would otherwise cost seconds a check)."""
        if status != 429 and status < 500:
            return 0
        if self._persistent.get((method, url)) == status:
            return 0
        return self.settings.max_retries if status in TRANSIENT_STATUSES else min(1, self.settings.max_retries)

    def _backoff(self, attempt: int) -> float:
        return min(self.settings.retry_after_cap, BACKOFF_BASE * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)

    def _wait(self, seconds: float) -> None:
        self.retries += 1
        self.retry_wait += seconds
        self._sleep(seconds)

    # -- one exchange -----------------------------------------------------------------------
    def _log_body(self, body: str, content_type: str | None) -> str:
        if body and self.pseudonymizer is not None and "x-www-form-urlencoded" not in (content_type or "").lower():
            kind = (content_type or "a body").split(";")[0]
            if looks_like_json(body, content_type) and len(body) <= STRUCTURED_LIMIT:
                try:
                    body = json.dumps(self.pseudonymizer.resource(parse_json_body(body)), ensure_ascii=False)
                except ValueError:
                    body = NOT_KEPT.format(size=len(body), kind=kind)
            else:
                body = NOT_KEPT.format(size=len(body), kind=kind)
        return scrubbed_excerpt(body, content_type, self.secrets, MAX_LOGGED_BODY)

    def _send_once(self, method: str, url: str, headers: dict[str, str], kw: dict[str, Any]) -> httpx.Response:
        request = self.http.build_request(method, url, headers=headers, **kw)
        body = request.content.decode("utf-8", "replace") if request.content else ""
        entry = Exchange(method=method, url=self._shown(url),
                         request_headers=scrub_headers(request.headers.items(), self.secrets),
                         request_body=self._log_body(body, request.headers.get("content-type")), secrets=self.secrets)
        del body
        self.log.append(entry)
        self.limiter.acquire()
        self.requests_sent += 1
        started = time.perf_counter()
        if self.first_sent is None:
            self.first_sent = started
        # Failures become text here and are raised below, outside any handler: no exception of
        # this module holds a frame that holds a body.
        failure: TenantError | None = None
        content: bytes | None = None
        status = 0
        response_headers: list[tuple[str, str]] = []
        with _deadline.exchange_budget(self.settings.request_deadline,
                                       self.settings.max_response_bytes + HEADER_ALLOWANCE) as budget:
            try:
                streamed = self.http.send(request, stream=True)
            except (httpx.HTTPError, _deadline.ResponseTooLarge) as exc:
                failure = self._failure(exc, entry, budget)
            else:
                try:
                    status = streamed.status_code
                    response_headers = list(streamed.headers.multi_items())
                    content, failure = self._read_bounded(streamed, started, entry, budget)
                finally:
                    streamed.close()
                    del streamed
        self.last_done = time.perf_counter()
        entry.elapsed_ms = (self.last_done - started) * 1000
        if failure is None and content is not None:
            failure = self._hold(len(content), entry)
        if failure is not None:
            content = None
            raise failure
        assert content is not None
        kept_headers = [(k, v) for k, v in response_headers if k.lower() != "content-encoding"]
        response = httpx.Response(status, headers=kept_headers, content=content, request=request)
        del content
        self._track(response)
        entry.status = response.status_code
        entry.response_headers = scrub_headers(response.headers.items(), self.secrets)
        raw = response.content
        text = raw.decode("utf-8", "replace") if len(raw) <= STRUCTURED_LIMIT else \
            raw[: MAX_LOGGED_BODY * 4 + self.secrets.longest + 65_536].decode("utf-8", "replace")
        entry.response_body = self._log_body(text, response.headers.get("content-type"))
        return response

    def _failure(self, exc: BaseException, entry: Exchange, budget: _deadline.ExchangeBudget) -> TenantError:
        """The text of a failed exchange, as the error the caller gets (it holds no response)."""
        what = f"{entry.method} {entry.url}"
        if isinstance(exc, _deadline.ResponseTooLarge):
            entry.error = "response too large"
            return TenantError(f"{what}: the response exceeds {self.settings.max_response_bytes:,} bytes; "
                               f"stopped reading", category="tenant-fault")
        if isinstance(exc, httpx.TimeoutException) and budget.spent():
            entry.error = "response too slow"
            return TenantError(f"{what}: the response was still arriving after {self.settings.request_deadline:g} s "
                               f"(a slow drip; the deadline covers the status line, the headers and the body); "
                               f"stopped reading", category="tenant-fault")
        if isinstance(exc, httpx.TimeoutException):
            entry.error = f"timed out: {exc.__class__.__name__}"
            return TransportFault(f"{what} timed out ({exc.__class__.__name__}, "
                                  f"read timeout {self.settings.read_timeout:g} s)",
                                  unreachable=isinstance(exc, httpx.ConnectTimeout))
        detail = self.secrets.scrub_text(f"{exc.__class__.__name__}: {exc}")
        entry.error = detail
        return TransportFault(f"{what} failed: {detail}", unreachable=isinstance(exc, httpx.ConnectError))

    def _read_bounded(self, response: httpx.Response, started: float, entry: Exchange,
                      budget: _deadline.ExchangeBudget) -> tuple[bytes | None, TenantError | None]:
        """The whole decoded body, or why it was not read: too large (raw or decoded), encoded
        twice or in a way not asked for, or dripping past the deadline."""
        what = f"{entry.method} {entry.url}"
        chunks: Iterable[bytes]
        if response.is_stream_consumed:  # a transport that answered with a body already read (and decoded)
            encoding, chunks = None, [response.content]
        else:
            encoding, chunks = response.headers.get("content-encoding"), response.iter_raw()
        try:
            decoder = BoundedDecoder(encoding, self.settings.max_response_bytes)
        except BodyRefused as exc:
            entry.error = str(exc)
            return None, TenantError(f"{what}: {exc}", category="tenant-fault")
        body = bytearray()
        failure: TenantError | None = None
        try:
            for raw in chunks:
                if decoder.raw + len(raw) > self.settings.max_response_bytes + HEADER_ALLOWANCE:
                    raise _deadline.ResponseTooLarge("raw")
                body += decoder.feed(raw)
                if time.perf_counter() - started > self.settings.request_deadline:
                    entry.error = "response too slow"
                    failure = TenantError(f"{what}: the response was still arriving after "
                                          f"{self.settings.request_deadline:g} s (a slow drip); stopped reading",
                                          category="tenant-fault")
                    break
            else:
                body += decoder.flush()
        except BodyRefused as exc:
            entry.error = "response too large" if "exceeds" in str(exc) else str(exc)
            failure = TenantError(f"{what}: {exc}", category="tenant-fault")
        except (httpx.HTTPError, _deadline.ResponseTooLarge) as exc:
            failure = self._failure(exc, entry, budget)
        if failure is not None:
            body.clear()
            return None, failure
        content = bytes(body)
        body.clear()
        return content, None

    # -- answers still held -----------------------------------------------------------------
    def _hold(self, size: int, entry: Exchange) -> TenantError | None:
        """Refuse an answer when the run already holds too many bytes of earlier ones (kept alive
        by failing checks, e.g. the examples Hypothesis keeps): memory stays bounded."""
        with self._live_lock:
            if self.live_response_bytes + size <= self.max_live_response_bytes:
                return None
        gc.collect()
        with self._live_lock:
            if self.live_response_bytes + size <= self.max_live_response_bytes:
                return None
            held = self.live_response_bytes
        entry.error = "too many bytes of answers held"
        return TenantError(f"{entry.method} {entry.url}: not kept: the run already holds {held:,} bytes of earlier "
                           f"answers (limit {self.max_live_response_bytes:,}); this {size:,}-byte answer would pass it",
                           category="harness-error")

    def _track(self, response: httpx.Response) -> None:
        size = len(response.content)
        with self._live_lock:
            self.live_response_bytes += size
        weakref.finalize(response, self._release, size)

    def _release(self, size: int) -> None:
        with self._live_lock:
            self.live_response_bytes -= size

    def close(self) -> None:
        self.http.close()
