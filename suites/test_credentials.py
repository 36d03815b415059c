"""The app's own credentials, checked before any request: the assertion it builds and the JWK Set it publishes."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from harness.auth import AssertionSpec, sign_assertion
from harness.checks import TOKEN_ENDPOINT, CheckContext, CheckFailed, check
from harness.client import TenantClient
from harness.config import Tenant
from harness.discovery import Discovery
from harness.errors import TenantError
from harness.keys import check_jwks
from suites.sources import EPIC_OAUTH, EPIC_OAUTH_URL, SMART_ASYMMETRIC, SMART_ASYMMETRIC_URL

@check("auth.assertion.rules", title="the app's client assertion follows SMART and Epic's JWT rules",
       why="Epic answers a malformed assertion with a bare invalid_client; checking our own JWT first tells the two apart.",
       source=EPIC_OAUTH, source_url=EPIC_OAUTH_URL, group="auth", severity="critical", needs=(TOKEN_ENDPOINT,),
       credentials=True)
def test_assertion_rules(tenant: Tenant, discovery: Discovery) -> None:
    endpoint = discovery.token_endpoint()
    token = sign_assertion(AssertionSpec.for_client(tenant.auth, endpoint), tenant.auth.private_key)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, tenant.auth.private_key.public_key(), algorithms=[tenant.auth.algorithm],
                        audience=endpoint, options={"require": ["iss", "sub", "aud", "exp", "jti", "iat"]})
    now = time.time()
    problems = []
    if header.get("alg") != tenant.auth.algorithm or header.get("typ") != "JWT":
        problems.append(f"header is {header}, expected alg {tenant.auth.algorithm} and typ JWT")
    if not header.get("kid"):
        problems.append("no kid in the header (set auth.kid)")
    if not (claims["iss"] == claims["sub"] == tenant.auth.client_id):
        problems.append("iss and sub must both be the client id")
    if not isinstance(claims["jti"], str) or len(claims["jti"]) > 151:
        problems.append("jti must be a string of at most 151 characters")
    if claims["exp"] - now > 300 or claims["iat"] > now + 1 or claims.get("nbf", 0) > now + 1:
        problems.append("exp must be at most 5 minutes ahead and iat/nbf not in the future")
    if problems:
        raise CheckFailed("; ".join(problems), category="vendor-credentials")


def _load_jwks(tenant: Tenant, client: TenantClient, verdict: CheckContext) -> dict:
    if tenant.auth.jwks_file:
        try:
            return json.loads(tenant.auth.jwks_file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckFailed(f"cannot read the JWK Set file {tenant.auth.jwks_file}: {exc}",
                              category="vendor-credentials") from None
    assert tenant.auth.jwks_url
    try:
        response = client.get(tenant.auth.jwks_url, auth=False, accept="application/json")
    except TenantError as exc:
        raise CheckFailed(f"the JWK Set URL cannot be fetched: {exc}", category="vendor-credentials") from None
    if response.status_code != 200:
        raise CheckFailed(f"the JWK Set URL answered HTTP {response.status_code} without credentials; "
                          f"Epic fetches it unauthenticated", category="vendor-credentials")
    verdict.note(f"JWK Set URL Cache-Control: {response.headers.get('cache-control') or 'none (Epic caches up to 29 h)'}")
    try:
        return response.json()
    except ValueError:
        raise CheckFailed("the JWK Set URL did not answer JSON", category="vendor-credentials") from None


@check("auth.jwks.matches-key", title="the app's JWK Set holds the public half of its signing key, safely",
       why="Epic verifies the assertion with the registered JWK Set: a missing kid, a wrong key or a leaked private member breaks or endangers the integration.",
       source=SMART_ASYMMETRIC, source_url=SMART_ASYMMETRIC_URL, group="auth", needs=(), required=False,
       credentials=True)
def test_jwks(tenant: Tenant, client: TenantClient, verdict: CheckContext) -> None:
    if not tenant.auth.jwks_file and not tenant.auth.jwks_url:
        pytest.skip("no JWK Set given (auth.jwks or auth.jwks_url)")
    if tenant.auth.jwks_url and not tenant.auth.jwks_url.startswith("https://"):
        verdict.warn("the JWK Set URL is not https; Epic requires TLS for a JWK Set URL")
    finding = check_jwks(_load_jwks(tenant, client, verdict), tenant.auth.private_key,
                         kid=tenant.auth.kid, algorithm=tenant.auth.algorithm)
    for note in finding.notes:
        verdict.warn(note)
    if finding.problems:
        raise CheckFailed("; ".join(finding.problems), category="vendor-credentials")
