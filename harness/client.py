"""The only place the harness sends HTTP to a tenant.

It adds the FHIR ``Accept`` header (Epic answers XML without one), sends the bearer token only to
the tenant's own origins, re-authenticates once on a 401 ``invalid_token``, and keeps a scrubbed log
of every exchange for the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

from harness.config import Tenant, is_loopback
from harness.errors import OriginError, TenantError
from harness.scrub import SecretRegistry, scrub_body, scrub_headers

FHIR_JSON = "application/fhir+json"
MAX_LOGGED_BODY = 20_000
USER_AGENT = "epic-fhir-harness"


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
                 transport: httpx.BaseTransport | None = None, timeout: float = 30.0) -> None:
        self.tenant = tenant
        self.secrets = secrets or SecretRegistry()
        self.http = httpx.Client(transport=transport, timeout=httpx.Timeout(timeout, connect=10.0),
                                 headers={"User-Agent": USER_AGENT}, follow_redirects=False)
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
                headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
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
        response = self._send(method, url, send_headers, kw)
        if auth and response.status_code == 401 and "invalid_token" in response.headers.get("www-authenticate", ""):
            assert self._invalidate is not None and self._token_source is not None
            self._invalidate()
            send_headers["Authorization"] = f"Bearer {self._token_source()}"
            response = self._send(method, url, send_headers, kw)
        return response

    def _send(self, method: str, url: str, headers: dict[str, str], kw: dict[str, Any]) -> httpx.Response:
        request = self.http.build_request(method, url, headers=headers, **kw)
        body = request.content.decode("utf-8", "replace") if request.content else ""
        entry = Exchange(method=method, url=self.secrets.scrub_text(url),
                         request_headers=scrub_headers(request.headers.items(), self.secrets),
                         request_body=scrub_body(body[:MAX_LOGGED_BODY], request.headers.get("content-type"), self.secrets))
        self.log.append(entry)
        self.requests_sent += 1
        started = time.perf_counter()
        try:
            response = self.http.send(request)
        except httpx.TimeoutException as exc:
            entry.error = f"timed out: {exc.__class__.__name__}"
            raise TenantError(f"{method} {entry.url} timed out ({exc.__class__.__name__})") from None
        except httpx.HTTPError as exc:
            entry.error = f"{exc.__class__.__name__}: {exc}"
            raise TenantError(f"{method} {entry.url} failed: {exc.__class__.__name__}: {exc}") from None
        finally:
            entry.elapsed_ms = (time.perf_counter() - started) * 1000
        entry.status = response.status_code
        entry.response_headers = scrub_headers(response.headers.items(), self.secrets)
        entry.response_body = scrub_body(response.text[:MAX_LOGGED_BODY], response.headers.get("content-type"), self.secrets)
        return response

    def close(self) -> None:
        self.http.close()
