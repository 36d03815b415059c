"""The token endpoint's own behaviour: every malformed or forged client assertion is refused.

Each probe is its own check with its own request. They run only where the tenant file allows
(``checks.negative_auth``, on by default for non-production), since some tenants lock a client
after repeated failures.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from harness.auth import TokenProvider
from harness.checks import CheckContext, CheckFailed, check
from harness.client import TenantClient
from harness.config import Tenant
from harness.discovery import Discovery
from harness.token_probes import OAUTH_ERRORS, PROBES, BadTokenRequest, TokenProbe, replayed_jti
from suites.sources import (
    RFC6749_ERRORS, SMART_ASYMMETRIC, SMART_ASYMMETRIC_URL, SMART_BACKEND, SMART_BACKEND_URL,
)

AREA = "Authorization"


@pytest.fixture
def negative_allowed(tenant: Tenant) -> None:
    if not tenant.checks.negative_auth:
        pytest.skip("negative auth checks are off for this tenant (checks.negative_auth = false)")


def send(client: TenantClient, endpoint: str, request: BadTokenRequest) -> httpx.Response:
    return client.post(endpoint, auth=False, accept="application/json", content=request.content,
                       headers={"Content-Type": request.content_type})


def judge_refusal(response: httpx.Response, probe_title: str, expect_error: str | None,
                  verdict: CheckContext) -> None:
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        pass
    if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
        raise CheckFailed(f"SECURITY: the token endpoint issued a token for a request with {probe_title}",
                          category="tenant-fault")
    if response.status_code not in (400, 401):
        raise CheckFailed(f"expected 400 or 401 for {probe_title}, got HTTP {response.status_code}",
                          category="tenant-fault")
    error = body.get("error") if isinstance(body, dict) else None
    if error not in OAUTH_ERRORS:
        raise CheckFailed(f"refused with HTTP {response.status_code} but not with an RFC 6749 error body "
                          f"(error={error!r})", category="tenant-fault")
    if expect_error and error != expect_error:
        verdict.warn(f"refused with {error}; {expect_error} is the error RFC 6749 and SMART give for this")
    if isinstance(body, dict) and not body.get("error_description"):
        verdict.note("no error_description: the app's logs will only say " + str(error))


@check("auth.token.refuses", title="token endpoint refuses a bad client assertion",
       why="A token endpoint that accepts a forged, replayed or expired assertion lets anyone act as the app.",
       source=f"{SMART_BACKEND}; {RFC6749_ERRORS}", source_url=SMART_BACKEND_URL, area=AREA, marker="auth")
@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_refuses(probe: TokenProbe, negative_allowed: None, tenant: Tenant, client: TenantClient,
                 discovery: Discovery, verdict: CheckContext) -> None:
    endpoint = discovery.token_endpoint()
    response = send(client, endpoint, probe.build(tenant.auth, endpoint))
    judge_refusal(response, probe.title, probe.expect_error, verdict)


@check("auth.token.refuses-replayed-jti", title="token endpoint refuses a replayed jti",
       why="A jti seen before must be refused until it expires; otherwise a captured assertion can be replayed.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, area=AREA, marker="auth")
def test_refuses_replayed_jti(negative_allowed: None, tenant: Tenant, client: TenantClient,
                              discovery: Discovery, verdict: CheckContext) -> None:
    endpoint = discovery.token_endpoint()
    first, second = replayed_jti(tenant.auth, endpoint)
    answer = send(client, endpoint, first)
    if answer.status_code != 200:
        pytest.skip(f"the first, valid assertion was refused (HTTP {answer.status_code}); see auth.token.issued")
    judge_refusal(send(client, endpoint, second), "a jti already used", "invalid_client", verdict)


def _fhir_probe_url(tenant: Tenant, client: TenantClient) -> str:
    version = "R4" if "R4" in tenant.fhir_bases else next(iter(tenant.fhir_bases))
    patient = tenant.test_data.get("patient") or "unknown"
    return client.url(version, f"Patient/{patient}")


def _expect_401(response: httpx.Response, what: str) -> None:
    if response.status_code == 200:
        raise CheckFailed(f"SECURITY: a FHIR request with {what} was answered 200", category="tenant-fault")
    if response.status_code != 401:
        raise CheckFailed(f"a FHIR request with {what} got HTTP {response.status_code}, expected 401",
                          category="tenant-fault")


@check("auth.fhir.no-token", title="FHIR request without a token gets 401",
       why="The resource server must not answer without a token.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, area=AREA, marker="auth", severity="blocker")
def test_fhir_without_token(tenant: Tenant, client: TenantClient) -> None:
    _expect_401(client.get(_fhir_probe_url(tenant, client), auth=False), "no token")


@check("auth.fhir.invalid-token", title="FHIR request with an invalid token gets 401",
       why="The resource server must validate the token, not merely its presence.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, area=AREA, marker="auth", severity="blocker")
def test_fhir_invalid_token(tenant: Tenant, client: TenantClient) -> None:
    response = client.get(_fhir_probe_url(tenant, client), auth=False,
                          headers={"Authorization": "Bearer not-a-valid-token-0000000000"})
    _expect_401(response, "an invalid token")
    if "invalid_token" not in response.headers.get("www-authenticate", ""):
        pytest.skip("401 given without WWW-Authenticate: Bearer error=\"invalid_token\" (Epic sends it)")


MAX_EXPIRY_WAIT = 75.0


@check("auth.fhir.expired-token", title="FHIR request with an expired token gets 401",
       why="The resource server SHALL validate the token's expiry (SMART Backend Services).",
       source=SMART_ASYMMETRIC, source_url=SMART_ASYMMETRIC_URL, area=AREA, marker="auth")
def test_fhir_expired_token(tenant: Tenant, client: TenantClient, discovery: Discovery) -> None:
    endpoint = discovery.token_endpoint()
    provider = TokenProvider(tenant.auth, lambda: endpoint,
                             lambda url, form: client.post(url, data=form, auth=False, accept="application/json"),
                             client.secrets)
    token = provider.token()
    lifetime = provider.grant.expires_in if provider.grant else None
    if not isinstance(lifetime, (int, float)) or lifetime > MAX_EXPIRY_WAIT:
        pytest.skip(f"tokens live {lifetime} s here; waiting for one to expire would take too long")
    time.sleep(float(lifetime) + 2)
    response = client.get(_fhir_probe_url(tenant, client), auth=False, headers={"Authorization": f"Bearer {token}"})
    _expect_401(response, "an expired token")
