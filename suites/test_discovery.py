"""Discovery: the tenant's smart-configuration and CapabilityStatements, judged for a backend app.

SMART's REQUIRED fields fail a check when missing; RECOMMENDED ones only warn, since Epic's own
sandbox omits some (``token_endpoint_auth_signing_alg_values_supported``) and lists no resource
scopes in any discovery document.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.checks import CAPABILITY, REACHABLE, SMART_CONFIGURATION, CheckContext, CheckFailed, check
from harness.client import TenantClient
from harness.config import is_loopback
from harness.discovery import Discovery, FetchedDocument, oauth_uris
from harness.run.state import RunState
from suites.sources import (
    EPIC_OAUTH, EPIC_OAUTH_URL, FHIR_CAPABILITY, FHIR_CAPABILITY_URL, SMART_ASYMMETRIC, SMART_ASYMMETRIC_URL,
    SMART_CONFORMANCE, SMART_CONFORMANCE_URL,
)

FHIR_VERSION_PREFIX = {"R4": "4.0.", "STU3": "3.0.", "DSTU2": "1.0."}
RESOURCE_TYPE = {"R4": "CapabilityStatement", "STU3": "CapabilityStatement", "DSTU2": "Conformance"}


def smart(discovery: Discovery) -> dict:
    """The smart-configuration body (checks that read it need SMART_CONFIGURATION, so it is usable)."""
    body = discovery.smart_configuration.body
    assert body is not None
    return body


def capability(discovery: Discovery, version: str) -> dict:
    body = discovery.capability(version).body
    assert body is not None
    return body


def _is_json(doc: FetchedDocument, *types: str) -> bool:
    media = doc.content_type.split(";")[0].strip().lower()
    return media in types


@check("discovery.smart-configuration.served", title="smart-configuration is served as JSON",
       why="A backend app finds the token endpoint here; Epic serves it from August 2021 on every FHIR base.",
       source=SMART_CONFORMANCE, source_url=SMART_CONFORMANCE_URL, group="discovery", severity="blocker",
       needs=(REACHABLE,))
def test_smart_configuration_served(discovery: Discovery) -> None:
    doc = discovery.smart_configuration
    if doc.body is None:
        raise CheckFailed(f"GET {doc.url}: {doc.error}")
    if not _is_json(doc, "application/json"):
        raise CheckFailed(f"Content-Type is {doc.content_type or 'missing'}, SMART requires application/json")


@check("discovery.smart-configuration.token-endpoint", title="smart-configuration names an absolute token endpoint",
       why="Without token_endpoint the app cannot obtain an access token, and the assertion's aud must equal it.",
       source=SMART_CONFORMANCE, source_url=SMART_CONFORMANCE_URL, group="discovery", severity="blocker", needs=(SMART_CONFIGURATION,))
def test_token_endpoint(discovery: Discovery) -> None:
    url = smart(discovery).get("token_endpoint")
    if not isinstance(url, str) or not url:
        raise CheckFailed("token_endpoint is missing (REQUIRED)")
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname)):
        raise CheckFailed(f"token_endpoint {url!r} is not an absolute https URL")


@check("discovery.smart-configuration.client-credentials", title="smart-configuration offers the client_credentials grant",
       why="SMART Backend Services is the client_credentials grant; grant_types_supported is REQUIRED and must list it.",
       source=SMART_CONFORMANCE, source_url=SMART_CONFORMANCE_URL, group="discovery", needs=(SMART_CONFIGURATION,))
def test_client_credentials(discovery: Discovery) -> None:
    grants = smart(discovery).get("grant_types_supported")
    if not isinstance(grants, list):
        raise CheckFailed("grant_types_supported is missing (REQUIRED)")
    if "client_credentials" not in grants:
        raise CheckFailed(f"grant_types_supported does not list client_credentials: {grants}")


@check("discovery.smart-configuration.capabilities", title="smart-configuration lists capabilities, incl. asymmetric client auth",
       why="capabilities is REQUIRED; client-confidential-asymmetric says the server takes signed JWT assertions.",
       source=SMART_CONFORMANCE, source_url=SMART_CONFORMANCE_URL, group="discovery", severity="normal", needs=(SMART_CONFIGURATION,))
def test_capabilities(discovery: Discovery, verdict: CheckContext) -> None:
    capabilities = smart(discovery).get("capabilities")
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        raise CheckFailed("capabilities is missing or not a list of strings (REQUIRED)")
    if "client-confidential-asymmetric" not in capabilities:
        verdict.warn("capabilities does not list client-confidential-asymmetric (RECOMMENDED for backend services)")


@check("discovery.smart-configuration.private-key-jwt", title="smart-configuration offers private_key_jwt client authentication",
       why="The app authenticates with a signed JWT (private_key_jwt); a tenant that lists other methods only will refuse it.",
       source=SMART_ASYMMETRIC, source_url=SMART_ASYMMETRIC_URL, group="discovery", needs=(SMART_CONFIGURATION,))
def test_private_key_jwt(discovery: Discovery, verdict: CheckContext) -> None:
    methods = smart(discovery).get("token_endpoint_auth_methods_supported")
    if methods is None:
        verdict.warn("token_endpoint_auth_methods_supported is absent (RECOMMENDED)")
        return
    if not isinstance(methods, list) or "private_key_jwt" not in methods:
        raise CheckFailed(f"token_endpoint_auth_methods_supported does not list private_key_jwt: {methods}")


@check("discovery.smart-configuration.signing-algorithms", title="smart-configuration signing algorithms include RS384 or ES384",
       why="SMART servers validate RS384 or ES384 assertions; a list without either means the app's JWT is refused.",
       source=SMART_ASYMMETRIC, source_url=SMART_ASYMMETRIC_URL, group="discovery", severity="normal", needs=(SMART_CONFIGURATION,))
def test_signing_algorithms(discovery: Discovery, verdict: CheckContext) -> None:
    algs = smart(discovery).get("token_endpoint_auth_signing_alg_values_supported")
    if algs is None:
        verdict.warn("token_endpoint_auth_signing_alg_values_supported is absent (RECOMMENDED; Epic omits it)")
        return
    if not isinstance(algs, list) or not ({"RS384", "ES384"} & set(algs)):
        raise CheckFailed(f"token_endpoint_auth_signing_alg_values_supported lists neither RS384 nor ES384: {algs}")


@check("discovery.smart-configuration.scopes-supported", title="smart-configuration lists scopes_supported",
       why="scopes_supported is RECOMMENDED; Epic lists no resource scopes there, so grants are read from the token.",
       source=SMART_CONFORMANCE, source_url=SMART_CONFORMANCE_URL, group="discovery", severity="minor", needs=(SMART_CONFIGURATION,))
def test_scopes_supported(discovery: Discovery, verdict: CheckContext) -> None:
    scopes = smart(discovery).get("scopes_supported")
    if scopes is None:
        verdict.warn("scopes_supported is absent (RECOMMENDED)")
    elif not any(isinstance(s, str) and s.startswith("system/") for s in scopes):
        verdict.note("scopes_supported lists no system/ scopes; granted scopes come from the token response")


@check("discovery.smart-configuration.pkce", title="smart-configuration never offers PKCE 'plain'",
       why="code_challenge_methods_supported is REQUIRED by SMART 2 and must list S256 and never plain.",
       source=SMART_CONFORMANCE, source_url=SMART_CONFORMANCE_URL, group="discovery", severity="minor", needs=(SMART_CONFIGURATION,))
def test_pkce(discovery: Discovery, verdict: CheckContext) -> None:
    methods = smart(discovery).get("code_challenge_methods_supported")
    if methods is None:
        verdict.warn("code_challenge_methods_supported is absent (REQUIRED by SMART 2, unused by backend services)")
        return
    if "plain" in methods:
        raise CheckFailed("code_challenge_methods_supported offers 'plain', which SMART forbids")
    if "S256" not in methods:
        verdict.warn(f"code_challenge_methods_supported does not list S256: {methods}")


@check("discovery.metadata.served", title="/metadata is served as FHIR JSON when asked",
       why="Epic answers XML unless Accept asks for JSON; the app's every request depends on JSON negotiation.",
       source=FHIR_CAPABILITY, source_url=FHIR_CAPABILITY_URL, group="discovery", severity="blocker",
       needs=(REACHABLE,))
def test_metadata_served(discovery: Discovery, fhir_version: str) -> None:
    doc = discovery.capability(fhir_version)
    if doc.body is None:
        raise CheckFailed(f"GET {doc.url}: {doc.error}")
    if not _is_json(doc, "application/fhir+json", "application/json", "application/json+fhir"):
        raise CheckFailed(f"asked for application/fhir+json, got Content-Type {doc.content_type or 'missing'}")
    expected = RESOURCE_TYPE[fhir_version]
    if doc.body.get("resourceType") != expected:
        raise CheckFailed(f"resourceType is {doc.body.get('resourceType')!r}, expected {expected}")


@check("discovery.metadata.fhir-version", title="each FHIR base reports its own FHIR version",
       why="A base that reports another version serves resources the app's parser will misread.",
       source=FHIR_CAPABILITY, source_url=FHIR_CAPABILITY_URL, group="discovery", needs=(CAPABILITY,))
def test_fhir_version(discovery: Discovery, fhir_version: str, verdict: CheckContext) -> None:
    reported = capability(discovery, fhir_version).get("fhirVersion")
    prefix = FHIR_VERSION_PREFIX[fhir_version]
    if not isinstance(reported, str) or not reported.startswith(prefix):
        raise CheckFailed(f"the {fhir_version} base reports fhirVersion {reported!r}, expected {prefix}x")
    if fhir_version == "R4" and reported == "4.0.0":
        verdict.warn("fhirVersion is 4.0.0, the R4 ballot; 4.0.1 is R4's technical correction")


@check("discovery.metadata.json-format", title="CapabilityStatement lists JSON among its formats",
       why="format declares the wire formats; the app speaks JSON only.",
       source=FHIR_CAPABILITY, source_url=FHIR_CAPABILITY_URL, group="discovery", severity="normal", needs=(CAPABILITY,))
def test_json_format(discovery: Discovery, fhir_version: str) -> None:
    formats = capability(discovery, fhir_version).get("format") or []
    if not any(f in ("json", "application/json", "application/fhir+json", "application/json+fhir") for f in formats):
        raise CheckFailed(f"format does not list JSON: {formats}")


@check("discovery.metadata.oauth-uris", title="CapabilityStatement's oauth-uris token URL matches smart-configuration",
       why="Two discovery documents naming different token endpoints leave the app signing for the wrong aud.",
       source=EPIC_OAUTH, source_url=EPIC_OAUTH_URL, group="discovery", severity="normal", needs=(CAPABILITY,))
def test_oauth_uris(discovery: Discovery, fhir_version: str, verdict: CheckContext) -> None:
    uris = oauth_uris(capability(discovery, fhir_version))
    token = uris.get("token")
    if not token:
        verdict.warn("rest.security has no oauth-uris token extension (SMART 2 prefers smart-configuration)")
        return
    smart_doc = discovery.smart_configuration.body or {}
    expected = smart_doc.get("token_endpoint")
    if expected and token.rstrip("/") != str(expected).rstrip("/"):
        raise CheckFailed(f"oauth-uris token is {token}, smart-configuration token_endpoint is {expected}")


@check("preflight.reachable", title="the tenant answers at its FHIR base",
       why="Every other check talks to the tenant; when it does not answer, they are blocked, not failed one by one.",
       source=FHIR_CAPABILITY, source_url=FHIR_CAPABILITY_URL, group="preflight", severity="blocker", needs=())
def test_reachable(run_state: RunState, verdict: CheckContext) -> None:
    pre = run_state.run_preflight()
    if not pre.reachable:
        raise CheckFailed(f"the tenant did not answer at {run_state.tenant.fhir_base(run_state.discovery.primary_version)}: "
                          f"{pre.unreachable}; check base_url, the network path (VPN, firewall) and the tenant's "
                          f"status", category="tenant-fault")
    verdict.note(f"answered; discovery and the token took {pre.seconds:.1f} s")


@check("discovery.foreign-origins", title="discovery documents name no origin other than the tenant's FHIR bases'",
       why="The harness sends the token only to the FHIR bases' origins; an endpoint elsewhere is either a proxy the "
           "tenant file must name (client.bearer_origins) or a misconfiguration that would send the app's secrets away.",
       source=SMART_CONFORMANCE, source_url=SMART_CONFORMANCE_URL, group="discovery", severity="normal",
       needs=(SMART_CONFIGURATION,))
def test_foreign_origins(discovery: Discovery, client: TenantClient, verdict: CheckContext) -> None:
    documents = [("smart-configuration", discovery.smart_configuration.body)]
    documents += [(f"{v} CapabilityStatement", (discovery.fetched(v) or discovery.capability(v)).body)
                  for v in discovery.versions]
    foreign = [(name, f) for name, body in documents for f in client.foreign_origins(body)]
    for name, found in foreign:
        verdict.warn(f"{name}: {found.describe()}")
    if not foreign:
        verdict.note(f"every endpoint the {len(documents)} discovery document(s) name is on a FHIR base origin")
