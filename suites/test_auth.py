"""SMART Backend Services: the token endpoint answers a good client assertion as the spec says."""

from __future__ import annotations

from harness.auth import TokenProvider
from harness.checks import CheckContext, CheckFailed, check
from harness.scopes import Grants
from suites.sources import EPIC_OAUTH, EPIC_OAUTH_URL, SMART_BACKEND, SMART_BACKEND_URL

AREA = "Authorization"


@check("auth.token.issued", title="token endpoint issues an access token for a valid client assertion",
       why="Every FHIR request needs this token; Epic go-lives most often fail here with invalid_client.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, area=AREA, marker="auth", severity="blocker")
def test_token_issued(token_provider: TokenProvider) -> None:
    token_provider.token()


@check("auth.token.response", title="token response carries access_token, token_type bearer, numeric expires_in and scope",
       why="The app reads expires_in to renew in time and scope to know which APIs it may call.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, area=AREA, marker="auth")
def test_token_response(token_provider: TokenProvider, verdict: CheckContext) -> None:
    token_provider.token()
    grant = token_provider.grant
    assert grant is not None
    problems = []
    if grant.token_type.lower() != "bearer":
        problems.append(f"token_type is {grant.token_type!r}, expected bearer")
    if isinstance(grant.expires_in, bool) or not isinstance(grant.expires_in, (int, float)):
        problems.append(f"expires_in is {grant.expires_in!r}, expected a number of seconds")
    if grant.scope is None:
        problems.append("scope is missing")
    if problems:
        raise CheckFailed("; ".join(problems))
    if isinstance(grant.expires_in, (int, float)) and grant.expires_in > 300:
        verdict.note(f"expires_in is {grant.expires_in} s; SMART suggests at most 300 s (Epic issues 3600)")
    if "refresh_token" in grant.fields:
        verdict.warn("a refresh_token was issued; SMART Backend Services SHOULD NOT issue one")


@check("auth.token.scopes-parse", title="granted scopes are valid SMART v1 or v2 scopes",
       why="A scope the app cannot parse is an API it cannot tell it was granted.",
       source=EPIC_OAUTH, source_url=EPIC_OAUTH_URL, area=AREA, marker="auth", severity="normal")
def test_scopes_parse(grants: Grants, verdict: CheckContext) -> None:
    if grants.malformed:
        raise CheckFailed(f"malformed scopes in the token response: {', '.join(grants.malformed[:5])}")
    if not grants.scopes:
        raise CheckFailed("the token grants no resource scopes at all")
    verdict.note(f"{len(grants.scopes)} resource scopes granted, SMART v{'/v'.join(str(v) for v in sorted(grants.versions))}")
