"""SMART Backend Services: the token endpoint answers a good client assertion as the spec says."""

from __future__ import annotations

from harness.actors import token_refusal_actor
from harness.auth import TokenProvider
from harness.checks import TOKEN, TOKEN_ENDPOINT, CheckContext, CheckFailed, check
from harness.errors import AuthError
from harness.run.state import RunState
from harness.scopes import Grants
from suites.sources import EPIC_OAUTH, EPIC_OAUTH_URL, SMART_BACKEND, SMART_BACKEND_URL

@check("auth.token.issued", title="token endpoint issues an access token for a valid client assertion",
       why="Every FHIR request needs this token; Epic go-lives most often fail here with invalid_client.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, group="auth", severity="blocker", needs=(TOKEN_ENDPOINT,))
def test_token_issued(run_state: RunState, verdict: CheckContext) -> None:
    pre = run_state.run_preflight()
    if pre.token_error:
        raise CheckFailed(pre.token_error, category=token_refusal_actor(pre.token_error_code))
    try:
        run_state.token()
    except AuthError as exc:
        raise CheckFailed(str(exc), category="tenant-fault") from None
    verdict.note(f"{run_state.token_requests} token request(s) in this run")


@check("auth.token.response", title="token response carries access_token, token_type bearer, numeric expires_in and scope",
       why="The app reads expires_in to renew in time and scope to know which APIs it may call.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, group="auth", needs=(TOKEN,))
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
        raise CheckFailed("; ".join(problems), category="tenant-fault")
    if isinstance(grant.expires_in, (int, float)) and grant.expires_in > 300:
        verdict.note(f"expires_in is {grant.expires_in} s; SMART suggests at most 300 s (Epic issues 3600)")
    if "refresh_token" in grant.fields:
        verdict.warn("a refresh_token was issued; SMART Backend Services SHOULD NOT issue one")


@check("auth.token.scopes-parse", title="granted scopes are valid SMART v1 or v2 scopes",
       why="A scope the app cannot parse is an API it cannot tell it was granted.",
       source=EPIC_OAUTH, source_url=EPIC_OAUTH_URL, group="auth", severity="normal", needs=(TOKEN,))
def test_scopes_parse(grants: Grants, verdict: CheckContext) -> None:
    if grants.malformed:
        raise CheckFailed(f"malformed scopes in the token response: {', '.join(grants.malformed[:5])}",
                          category="tenant-fault")
    if not grants.scopes:
        raise CheckFailed("the token grants no resource scopes at all: the customer's Epic team must activate the "
                          "app's APIs for its client id")
    verdict.note(f"{len(grants.scopes)} resource scopes granted, SMART v{'/v'.join(str(v) for v in sorted(grants.versions))}")
