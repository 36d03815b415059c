"""The token endpoint's own behaviour: every malformed or forged client assertion is refused, and the
FHIR server refuses requests without a valid token.

Each probe is its own check with its own request, judged against the control: the valid request
built exactly as the probes are, sent once per run. Without an accepted control, a refusal proves
nothing and the probe is inconclusive. They run only where the tenant file allows
(``checks.negative_auth``, on by default for non-production) and never against production, since
some tenants lock a client after repeated failures.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from harness.auth import TokenProvider
from harness.checks import TOKEN, TOKEN_ENDPOINT, CheckContext, CheckFailed, Inconclusive, check
from harness.client import TenantClient
from harness.config import Tenant
from harness.discovery import Discovery
from harness.run.state import RunState
from harness.token_probes import OAUTH_ERRORS, PROBES, BadTokenRequest, TokenProbe, refusal_elsewhere, replayed_jti
from suites.sources import (
    RFC6749_ERRORS, SMART_ASYMMETRIC, SMART_ASYMMETRIC_URL, SMART_BACKEND, SMART_BACKEND_URL,
)


def send(client: TenantClient, endpoint: str, request: BadTokenRequest) -> httpx.Response:
    return client.post(endpoint, auth=False, accept="application/json", content=request.content,
                       headers={"Content-Type": request.content_type})


def _body(response: httpx.Response) -> Any:
    try:
        import json

        return json.loads(response.content.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return None


def require_control(run_state: RunState) -> None:
    control = run_state.token_control()
    if not control.accepted:
        raise Inconclusive(f"not proven: {control.detail}; a refusal of a bad request proves nothing "
                           f"while the good one is refused too")


def judge_refusal(response: httpx.Response, probe_title: str, expect_error: str | None, about: tuple[str, ...],
                  verdict: CheckContext, run_state: RunState) -> None:
    body = _body(response)
    if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
        run_state.secrets.add(str(body["access_token"]))
        raise CheckFailed(f"SECURITY: the token endpoint issued a token for a request with {probe_title}",
                          category="tenant-fault")
    require_control(run_state)
    if response.status_code not in (400, 401):
        raise CheckFailed(f"expected 400 or 401 for a request with {probe_title}, got HTTP {response.status_code}",
                          category="tenant-fault")
    error = body.get("error") if isinstance(body, dict) else None
    description = body.get("error_description") if isinstance(body, dict) else None
    if error not in OAUTH_ERRORS:
        raise CheckFailed(f"refused with HTTP {response.status_code} but not with an RFC 6749 error body "
                          f"(error={error!r})", category="tenant-fault")
    elsewhere = refusal_elsewhere(about, error, description if isinstance(description, str) else None)
    if elsewhere:
        raise Inconclusive(f"refused, but for another reason: {elsewhere}")
    if expect_error and error != expect_error:
        verdict.warn(f"refused with {error}; {expect_error} is the error RFC 6749 and SMART give for this")
    if not description:
        verdict.note("no error_description: the app's logs will only say " + str(error))
    verdict.note(f"refused with HTTP {response.status_code} {error}; the control was accepted")


@check("auth.token.refuses", title="token endpoint refuses a bad client assertion",
       why="A token endpoint that accepts a forged, replayed or expired assertion lets anyone act as the app.",
       source=f"{SMART_BACKEND}; {RFC6749_ERRORS}", source_url=SMART_BACKEND_URL, group="auth",
       needs=(TOKEN_ENDPOINT,), negative=True)
@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_refuses(probe: TokenProbe, tenant: Tenant, client: TenantClient, discovery: Discovery,
                 run_state: RunState, verdict: CheckContext) -> None:
    endpoint = discovery.token_endpoint()
    response = send(client, endpoint, probe.build(tenant.auth, endpoint))
    judge_refusal(response, probe.title, probe.expect_error, probe.about, verdict, run_state)


@check("auth.token.refuses-replayed-jti", title="token endpoint refuses a replayed jti",
       why="A jti seen before must be refused until it expires; otherwise a captured assertion can be replayed.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, group="auth", needs=(TOKEN_ENDPOINT,), negative=True)
def test_refuses_replayed_jti(tenant: Tenant, client: TenantClient, discovery: Discovery, run_state: RunState,
                              verdict: CheckContext) -> None:
    require_control(run_state)
    endpoint = discovery.token_endpoint()
    first, second = replayed_jti(tenant.auth, endpoint)
    answer = send(client, endpoint, first)
    body = _body(answer)
    if answer.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error") if isinstance(body, dict) else None
        raise Inconclusive(f"not proven: the first, valid assertion was refused (HTTP {answer.status_code} "
                           f"{error or ''}), so a refusal of its replay proves nothing".replace(" )", ")"))
    run_state.secrets.add(str(body["access_token"]))
    judge_refusal(send(client, endpoint, second), "a jti already used", "invalid_client", ("jti",), verdict, run_state)


def _probe_url(run_state: RunState) -> str:
    """A FHIR URL that answered 200 to the run's token in this run: a read if there is one."""
    bases = [b.rstrip("/") + "/" for b in run_state.tenant.fhir_bases.values()]

    def is_read(url: str) -> bool:
        rest = next((url[len(b):] for b in bases if url.startswith(b)), "")
        parts = rest.split("?")[0].split("/")
        return len(parts) == 2 and parts[0][:1].isupper() and bool(parts[1]) and not parts[1].startswith(("$", "_"))

    reads = run_state.answered_with_token(accept=is_read)
    if reads:
        return reads[0]
    for url in _read_candidates(run_state):  # no read ran yet in this run: make the control here
        if run_state.client.get(url).status_code == 200:
            return url
    raise Inconclusive("no FHIR read answered 200 to the run's token, so there is no path on which a "
                       "refusal without it would mean anything")


def _read_candidates(run_state: RunState, limit: int = 3) -> list[str]:
    """Reads of requested, declared APIs whose id the tenant file gives."""
    from harness.catalog.probes import MissingTestData, read_id
    from harness.coverage import declared

    out = []
    for api in run_state.tenant.requested.apis:
        if api.kind != "rest" or api.interaction != "read" or api.version not in run_state.tenant.fhir_bases:
            continue
        doc = run_state.discovery.capability(str(api.version))
        if doc.body is None or not declared(api, doc.body).value:
            continue
        try:
            rid = read_id(api, run_state.tenant.test_data)
        except MissingTestData:
            continue
        if rid:
            url = run_state.client.url(str(api.version), f"{api.resource}/{rid}")
            if url not in out:
                out.append(url)
        if len(out) >= limit:
            break
    return out


def _expect_401(response: httpx.Response, what: str, url: str, verdict: CheckContext) -> None:
    status = response.status_code
    if status == 200:
        raise CheckFailed(f"SECURITY: GET {url} with {what} was answered 200", category="tenant-fault")
    if status == 401:
        verdict.note(f"GET {url} with {what}: 401")
        return
    if status == 403:
        verdict.warn(f"GET {url} with {what} was refused with 403; RFC 6750 and SMART say 401")
        return
    raise Inconclusive(f"GET {url} with {what} answered HTTP {status}, not an authorization answer (the same path "
                       f"answered 200 with the token): cannot tell whether the token is checked")


@check("auth.fhir.no-token", title="FHIR request without a token gets 401",
       why="The resource server must not answer without a token.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, group="auth", severity="blocker",
       needs=(TOKEN,), late=True, production=False)
def test_fhir_without_token(client: TenantClient, run_state: RunState, verdict: CheckContext) -> None:
    url = _probe_url(run_state)
    _expect_401(client.get(url, auth=False), "no token", url, verdict)


@check("auth.fhir.invalid-token", title="FHIR request with an invalid token gets 401",
       why="The resource server must validate the token, not merely its presence.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, group="auth", severity="blocker",
       needs=(TOKEN,), late=True, production=False)
def test_fhir_invalid_token(client: TenantClient, run_state: RunState, verdict: CheckContext) -> None:
    url = _probe_url(run_state)
    response = client.get(url, auth=False, headers={"Authorization": "Bearer not-a-valid-token-0000000000"})
    _expect_401(response, "an invalid token", url, verdict)
    if response.status_code == 401 and "invalid_token" not in response.headers.get("www-authenticate", ""):
        verdict.warn("401 given without WWW-Authenticate: Bearer error=\"invalid_token\" (RFC 6750; Epic sends it)")


MAX_EXPIRY_WAIT = 75.0


@check("auth.fhir.expired-token", title="FHIR request with an expired token gets 401",
       why="The resource server SHALL validate the token's expiry (SMART Backend Services).",
       source=SMART_ASYMMETRIC, source_url=SMART_ASYMMETRIC_URL, group="auth", needs=(TOKEN,), late=True,
       production=False, required=False)
def test_fhir_expired_token(tenant: Tenant, client: TenantClient, discovery: Discovery, run_state: RunState,
                            verdict: CheckContext) -> None:
    url = _probe_url(run_state)
    endpoint = discovery.token_endpoint()
    provider = TokenProvider(tenant.auth, lambda: endpoint,
                             lambda u, form: client.post(u, data=form, auth=False, accept="application/json"),
                             client.secrets)
    token = provider.token()
    lifetime = provider.grant.expires_in if provider.grant else None
    if not isinstance(lifetime, (int, float)) or lifetime > MAX_EXPIRY_WAIT:
        pytest.skip(f"tokens live {lifetime} s here; waiting for one to expire would take too long")
    time.sleep(float(lifetime) + 2)
    response = client.get(url, auth=False, headers={"Authorization": f"Bearer {token}"})
    _expect_401(response, "an expired token", url, verdict)
