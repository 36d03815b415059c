"""What one run shares: the tenant, its client, discovery and token, the preflight, and the results.

The preflight establishes, once and before any check, what every check may need: whether the
tenant answers at all, the discovery documents, the token endpoint and the access token. A check
that needs something the preflight could not establish is blocked by the check that reports it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from harness.auth import TokenProvider
from harness.client import TenantClient
from harness.config import Tenant
from harness.discovery import Discovery
from harness.errors import AuthError, HarnessError
from harness.run.results import CheckResult
from harness.scopes import Grants
from harness.scrub import SecretRegistry


@dataclass
class Preflight:
    """What the run could establish before its checks; None while not yet tried."""

    done: bool = False
    reachable: bool | None = None
    unreachable: str = ""  # why the tenant did not answer
    token_endpoint: str | None = None
    token_endpoint_error: str = ""
    token_error: str = ""  # why no access token was issued
    token_error_code: str | None = None  # the OAuth error code, e.g. invalid_client
    seconds: float = 0.0


@dataclass
class RunState:
    tenant: Tenant
    report_dir: Path
    secrets: SecretRegistry = field(default_factory=SecretRegistry)
    mode: str = "live"
    policy: Any = None
    baseline: dict[str, Any] | None = None
    cassette_dir: Path | None = None
    vcr: Any = None
    progress: Any = None
    transport: Any = None  # an httpx transport to send through instead of the network (an embedding's own)
    sleep: Callable[[float], None] = time.sleep  # how the client waits out Retry-After and back-offs

    def __post_init__(self) -> None:
        if self.cassette_dir is None:
            self.cassette_dir = Path("cassettes") / self.tenant.name
        recorded: Any = ()
        if self.mode == "replay":  # the recording's own next links point at the origin it was made against
            from harness.cassettes import recorded_origins

            recorded = recorded_origins(self.cassette_dir)
        self.client = TenantClient(self.tenant, secrets=self.secrets, transport=self.transport, sleep=self.sleep,
                                   bearer_origins=tuple(recorded) + tuple(self.tenant.client.bearer_origins))
        self.discovery = Discovery(self.client, self.tenant)
        self.started = datetime.now(timezone.utc)
        self.monotonic_start = time.monotonic()
        self.results: dict[str, CheckResult] = {}
        self.preflight = Preflight()
        self.crashed: str | None = None
        self.collected = 0
        self.preflight_log_end = 0  # the exchanges of the preflight are the client log's first ones
        self.memo: dict[str, Any] = {}  # what checks build once per run (a profile checker, say)
        self.evidence: dict[str, dict[str, Any]] = {}  # per check (node id): what it judged, for the Allure results
        self._provider: TokenProvider | None = None
        self._grants: Grants | None = None
        self.grants_error: str | None = None
        self._control: Any = None
        self.client.use_tokens(self.token, lambda: self.token_provider.invalidate())
        if self.policy is None:
            self.policy = self.tenant.policy

    # -- the token --------------------------------------------------------------------------
    def token(self) -> str:
        """The run's access token; a refusal is remembered, so a broken tenant is asked once, not per check."""
        if self.grants_error:
            raise AuthError(f"no access token: {self.grants_error}")
        try:
            return self.token_provider.token()
        except HarnessError as exc:
            self.grants_error = str(exc)
            raise

    @property
    def token_provider(self) -> TokenProvider:
        if self._provider is None:
            self._provider = TokenProvider(
                self.tenant.auth, self.discovery.token_endpoint,
                lambda url, form: self.client.post(url, data=form, auth=False, accept="application/json"),
                self.secrets,
            )
        return self._provider

    @property
    def known_grants(self) -> Grants | None:
        """The grants, if this run obtained a token (never asks for one)."""
        return self._grants

    @property
    def token_requests(self) -> int:
        return self._provider.requests_sent if self._provider else 0

    def grants(self) -> Grants:
        if self._grants is None:
            self.token()
            grant = self.token_provider.grant
            self._grants = Grants.parse(grant.scope if grant and grant.scope else "")
        return self._grants

    # -- the preflight ----------------------------------------------------------------------
    def run_preflight(self, *, wants_token: bool = True) -> Preflight:
        """Reachability, discovery, token endpoint and token, once. Never raises."""
        pre = self.preflight
        if pre.done:
            return pre
        started = time.monotonic()
        pre.done = True
        smart = self.discovery.smart_configuration
        answered = smart.status is not None
        if not answered or smart.body is None:
            for version in self.discovery.versions:
                doc = self.discovery.capability(version)
                answered = answered or doc.status is not None
                if answered:
                    break
        pre.reachable = answered
        if not answered:
            pre.unreachable = smart.error or "no answer"
            pre.seconds = time.monotonic() - started
            return pre
        for version in self.discovery.versions:
            self.discovery.capability(version)
        try:
            pre.token_endpoint = self.discovery.token_endpoint()
        except HarnessError as exc:
            pre.token_endpoint_error = str(exc)
        if pre.token_endpoint and wants_token:
            try:
                self.grants()
            except HarnessError as exc:
                pre.token_error = str(exc).removeprefix("no access token: ")
                pre.token_error_code = getattr(exc, "oauth_error", None) or _oauth_error(pre.token_error)
        pre.seconds = time.monotonic() - started
        return pre

    # -- the control of the negative token probes ------------------------------------------
    def token_control(self) -> Any:
        """Send the valid token request, built exactly as the negative probes are, once per run."""
        if self._control is not None:
            return self._control
        from harness.token_probes import ControlResult, control

        pre = self.run_preflight()
        if not pre.token_endpoint:
            self._control = ControlResult(False, None, None, f"no token endpoint: {pre.token_endpoint_error}")
            return self._control
        request = control(self.tenant.auth, pre.token_endpoint)
        try:
            response = self.client.post(pre.token_endpoint, auth=False, accept="application/json",
                                        content=request.content, headers={"Content-Type": request.content_type})
        except HarnessError as exc:
            self._control = ControlResult(False, None, None, f"the control request could not be sent: {exc}")
            return self._control
        body = _json_object(response)
        token = body.get("access_token") if body else None
        if response.status_code == 200 and token:
            self.secrets.add(str(token))
            self._control = ControlResult(True, 200, None, "the valid control request was accepted")
        else:
            error = body.get("error") if body else None
            described = f" ({body.get('error_description')})" if body and body.get("error_description") else ""
            self._control = ControlResult(False, response.status_code, error if isinstance(error, str) else None,
                                          f"the valid control request (built as the probes are) was refused: "
                                          f"HTTP {response.status_code} {error or ''}{described}".rstrip())
        return self._control

    # -- evidence for later checks -----------------------------------------------------------
    def answered_with_token(self, accept: Callable[[str], bool] = lambda url: True) -> list[str]:
        """GET URLs on the tenant's FHIR bases that answered 200 to the run's token, in the order sent."""
        bases = tuple(b.rstrip("/") + "/" for b in self.tenant.fhir_bases.values())
        out: list[str] = []
        for entry in self.client.log:
            if entry.method != "GET" or entry.status != 200 or not entry.url.startswith(bases):
                continue
            if not any(k.lower() == "authorization" for k in entry.request_headers):
                continue
            if "[redacted]" in urlsplit(entry.url).query or entry.url in out or not accept(entry.url):
                continue
            out.append(entry.url)
        return out


def _json_object(response: Any) -> dict[str, Any] | None:
    import json

    try:
        body = json.loads(response.content.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _oauth_error(text: str) -> str | None:
    for code in ("invalid_client", "unauthorized_client", "invalid_scope", "invalid_grant", "invalid_request",
                 "unsupported_grant_type"):
        if code in text:
            return code
    return None
