"""Scope negotiation: what the token endpoint grants against what was asked, and whether the FHIR server
enforces it.

Epic grants every scope registered for the app whatever the request asks (epic-notes §3, §11), so
"granted wider than requested" is Epic's normal behaviour: a finding for a security reviewer (a gate
policy may make it fail), not a failure of a correct Epic tenant. Access beyond the registration
is what must never happen: an unknown scope granted, or a write scope for an API registered read-only.
Every check needs the control (the valid request built the same way) to be accepted; otherwise it
is inconclusive.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from harness.catalog import SCOPE_PERMISSION
from harness.checks import TOKEN, TOKEN_ENDPOINT, CheckContext, CheckFailed, Inconclusive, check
from harness.client import TenantClient
from harness.config import Tenant
from harness.discovery import Discovery
from harness.run.preconditions import Skip
from harness.run.state import RunState
from harness.scopes import Grants
from harness.token_probes import scoped
from suites.sources import SMART_BACKEND, SMART_BACKEND_URL, SMART_SCOPES, SMART_SCOPES_URL

RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]+")


def requested_scopes(tenant: Tenant) -> list[str]:
    """The scopes the tenant file asks for, or the system v2 scopes its requested APIs need."""
    if tenant.auth.scope:
        return tenant.auth.scope.split()
    needed: dict[str, set[str]] = {}
    for api in tenant.requested.apis:
        if api.kind == "rest" and api.resource and api.interaction in SCOPE_PERMISSION:
            needed.setdefault(api.resource, set()).add(SCOPE_PERMISSION[api.interaction])
    return [f"system/{r}.{''.join(p for p in 'cruds' if p in perms)}" for r, perms in sorted(needed.items())]


def ask(run_state: RunState, client: TenantClient, discovery: Discovery, scope: str) -> tuple[httpx.Response, Any]:
    """One token request for ``scope``; the control must have been accepted for its answer to mean anything."""
    control = run_state.token_control()
    if not control.accepted:
        raise Inconclusive(f"not proven: {control.detail}")
    endpoint = discovery.token_endpoint()
    request = scoped(run_state.tenant.auth, endpoint, scope)
    response = client.post(endpoint, auth=False, accept="application/json", content=request.content,
                           headers={"Content-Type": request.content_type})
    try:
        body = json.loads(response.content.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and body.get("access_token"):
        run_state.secrets.add(str(body["access_token"]))
    return response, body


def granted_of(body: Any) -> Grants | None:
    if isinstance(body, dict) and body.get("access_token"):
        return Grants.parse(body.get("scope") if isinstance(body.get("scope"), str) else "")
    return None


def _raw(grants: Grants) -> set[str]:
    """The resource scopes in v2 syntax, so that v1 and v2 spellings of the same access compare equal."""
    return {s.v2 for s in grants.scopes}


@check("scopes.granted-as-requested", title="the token grants what was asked (or says how it differs)",
       why="A token wider than the request gives the app, and anyone who steals the token, more than it needs: a "
           "hospital's security reviewer wants to see it (Epic grants every registered scope: normal there).",
       source=SMART_SCOPES, source_url=SMART_SCOPES_URL, group="auth", severity="normal", needs=(TOKEN,))
def test_granted_as_requested(run_state: RunState, client: TenantClient, discovery: Discovery, tenant: Tenant,
                              grants: Grants, verdict: CheckContext) -> None:
    asked = requested_scopes(tenant)
    if not asked:
        raise Inconclusive("no requested API needs a resource scope, so there is nothing to compare")
    if tenant.auth.scope:
        granted = grants  # the run's own token was asked for exactly these
    elif tenant.is_production:
        raise Skip("the tenant file asks for no scope, and a second token request is not sent to production: set "
                   "auth.scope to compare what is granted with what is asked", advisory=True)
    else:
        response, body = ask(run_state, client, discovery, " ".join(asked))
        granted = granted_of(body)
        if granted is None:
            raise CheckFailed(f"a token request for the scopes the requested APIs need was refused: HTTP "
                              f"{response.status_code} {body.get('error') if isinstance(body, dict) else ''}".rstrip(),
                              category="vendor-credentials")
    asked_grants = Grants.parse(" ".join(asked))
    wider = sorted(_raw(granted) - _raw(asked_grants))
    missing = [str(s) for s in asked_grants.scopes
               if not any(granted.allows(s.resource if s.resource != "*" else "Patient", p).granted
                          for p in s.permissions)]
    verdict.data["scopes"] = {"asked": len(asked), "granted": len(granted.scopes), "wider": wider[:50],
                              "missing": missing[:50]}
    if wider:
        verdict.warn(f"granted wider than requested: {len(wider)} scope(s) beyond the {len(asked)} asked, e.g. "
                     f"{', '.join(wider[:4])} (Epic grants every scope registered for the app)")
    if missing:
        verdict.note(f"granted narrower than requested: {len(missing)} scope(s) asked and not granted, e.g. "
                     f"{', '.join(missing[:4])} (coverage.granted reports the APIs this leaves out)")
    if not wider and not missing:
        verdict.note(f"granted exactly the {len(asked)} scope(s) asked")


def _resource_type_of(url: str, bases: tuple[str, ...]) -> str | None:
    """The resource type a FHIR URL reads or searches (``Patient`` of ``<base>/Patient/123`` or
    ``<base>/Patient?name=x``): the first segment after the FHIR base, never the version in the base."""
    base = next((b for b in bases if url.startswith(b)), None)
    if base is None:
        return None
    first = url[len(base):].split("?", 1)[0].split("/", 1)[0]
    return first if RESOURCE_TYPE.fullmatch(first) else None


def _two_resources(grants: Grants, run_state: RunState) -> tuple[str, str, str] | None:
    """(resource to keep, another readable resource, a read URL of the other that answered 200)."""
    bases = tuple(b.rstrip("/") + "/" for b in run_state.tenant.fhir_bases.values())
    for url in run_state.answered_with_token():
        other = _resource_type_of(url, bases)
        if other is None:
            continue
        keep = next((str(s.resource) for s in grants.scopes if s.resource not in ("*", other)
                     and s.covers(str(s.resource), "r")), None)
        if keep:
            return keep, other, url
    return None


@check("scopes.narrowing", title="a token asked for fewer scopes is narrowed, and the FHIR server enforces it",
       why="A server that ignores a narrower request, or whose FHIR API serves beyond the token's scope, cannot be "
           "relied on to confine a component that should see less.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, group="auth", severity="normal", needs=(TOKEN,), late=True,
       production=False)
def test_narrowing(run_state: RunState, client: TenantClient, discovery: Discovery, grants: Grants,
                   verdict: CheckContext) -> None:
    chosen = _two_resources(grants, run_state)
    if chosen is None:
        raise Inconclusive("no read of a second resource type answered 200 in this run to try a narrowed token on")
    keep, other, url = chosen
    response, body = ask(run_state, client, discovery, f"system/{keep}.rs")
    narrowed = granted_of(body)
    if narrowed is None:
        raise Inconclusive(f"a token asked for only system/{keep}.rs was refused (HTTP {response.status_code}); "
                           f"the narrowing cannot be observed")
    token_narrowed = not narrowed.allows(other, "r").granted
    answer = client.get(url, auth=False, headers={"Authorization": f"Bearer {body['access_token']}"})
    served = answer.status_code == 200
    verdict.data["narrowing"] = {"asked": f"system/{keep}.rs", "token_narrowed": token_narrowed,
                                 "served_outside": served, "probe": url}
    if token_narrowed and served:
        raise CheckFailed(f"SECURITY: a token granted only {keep} still read {other} ({url} answered 200): the FHIR "
                          f"server does not enforce the token's scope", category="tenant-fault")
    if not token_narrowed:
        verdict.warn(f"asked for system/{keep}.rs, the token still grants {other} (and {'was' if served else 'was not'} "
                     f"served it): the server grants every registered scope whatever is asked, as Epic does")
    else:
        verdict.note(f"a token narrowed to {keep} was refused {other} with HTTP {answer.status_code}")


@check("scopes.unknown-refused", title="an unknown resource or action scope is refused or left out, never granted",
       why="A server that grants a scope it does not know grants something nobody registered.",
       source=SMART_SCOPES, source_url=SMART_SCOPES_URL, group="auth", needs=(TOKEN_ENDPOINT,), negative=True)
def test_unknown_scope(run_state: RunState, client: TenantClient, discovery: Discovery, verdict: CheckContext) -> None:
    unknown = ["system/NoSuchResourceType.rs", "system/Patient.xyz"]
    for scope in unknown:
        response, body = ask(run_state, client, discovery, scope)
        granted = granted_of(body)
        if granted is None:
            error = body.get("error") if isinstance(body, dict) else None
            verdict.note(f"{scope}: refused with HTTP {response.status_code} {error or ''}".rstrip())
            continue
        raw = (body.get("scope") or "") if isinstance(body, dict) else ""
        if scope in raw.split():
            raise CheckFailed(f"SECURITY: the token endpoint granted the unknown scope {scope}", category="tenant-fault")
        verdict.note(f"{scope}: a token was issued without it (left out of the grant)")


@check("scopes.v1-v2", title="SMART v1 and v2 syntax for the same access are both understood",
       why="Apps and libraries still send v1 scopes (system/Patient.read); a server advertising v2 must map them.",
       source=SMART_SCOPES, source_url=SMART_SCOPES_URL, group="auth", severity="normal", needs=(TOKEN,),
       production=False)
def test_v1_and_v2(run_state: RunState, client: TenantClient, discovery: Discovery, grants: Grants,
                   verdict: CheckContext) -> None:
    capabilities = (discovery.smart_configuration.body or {}).get("capabilities") or []
    resource = next((str(s.resource) for s in grants.scopes if s.resource != "*" and s.covers(str(s.resource), "r")), None)
    if resource is None:
        raise Inconclusive("the run's token grants no readable resource to ask for in both syntaxes")
    forms = {"v1": f"system/{resource}.read"}
    if "permission-v2" in capabilities:
        forms["v2"] = f"system/{resource}.rs"
    for name, scope in forms.items():
        response, body = ask(run_state, client, discovery, scope)
        granted = granted_of(body)
        if granted is None:
            raise CheckFailed(f"a token request for {scope} ({name} syntax) was refused: HTTP {response.status_code}",
                              category="tenant-fault")
        if not granted.allows(resource, "r").granted:
            raise CheckFailed(f"asked for {scope} ({name} syntax), the token does not grant reading {resource}",
                              category="tenant-fault")
        verdict.note(f"{name} {scope}: granted ({len(granted.scopes)} scope(s) in the token)")
    if "v2" not in forms:
        verdict.note("the smart-configuration does not advertise permission-v2: only v1 was asked")


@check("scopes.write-outside-registration", title="a write scope for an API registered read-only is not granted",
       why="A token endpoint that grants a write the app was never registered for lets it change records no one "
           "approved it to change.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, group="auth", needs=(TOKEN,), negative=True)
def test_write_outside_registration(run_state: RunState, client: TenantClient, discovery: Discovery, grants: Grants,
                                    tenant: Tenant, verdict: CheckContext) -> None:
    read_only = sorted(str(s.resource) for s in grants.scopes if s.resource != "*" and s.covers(str(s.resource), "r")
                       and not grants.allows(str(s.resource), "c").granted)
    if not read_only:
        raise Inconclusive("every readable resource of the run's token is writable too: no read-only registration "
                           "to ask a write for")
    resource = read_only[0]
    scope = f"system/{resource}.c"
    response, body = ask(run_state, client, discovery, scope)
    granted = granted_of(body)
    if granted is not None and granted.allows(resource, "c").granted:
        raise CheckFailed(f"SECURITY: asked for {scope}, the token grants creating {resource}, for which the app is "
                          f"registered read-only", category="tenant-fault")
    if granted is not None and tenant.checks.allow_writes and not tenant.is_production:
        created = client.post(client.url("R4", resource), auth=False, json={"resourceType": resource},
                              headers={"Authorization": f"Bearer {body['access_token']}",
                                       "Content-Type": "application/fhir+json"})
        if created.status_code in (200, 201):
            raise CheckFailed(f"SECURITY: a create of {resource} was accepted (HTTP {created.status_code}) with a token "
                              f"that does not grant it", category="tenant-fault")
        verdict.note(f"a create of {resource} with that token was refused with HTTP {created.status_code}")
    verdict.note(f"{scope}: " + ("refused" if granted is None else "left out of the grant"))
