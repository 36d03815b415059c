"""The simulated fleet's variations, as faults: what makes one tenant of the fleet differ.

A fleet tenant is described by a few fields (its release, FHIR base, resources left out, how its
discovery documents are served, ...); :func:`tenant_faults` turns them into the sandbox faults
the tenant is served with. Each variation of the real fleet is a set of those fields, and the
fault ``fleet-variation:NAME`` stands for the faults of that variation, so a single sandbox can
misbehave as any fleet tenant does.

Hook point: ``fleet.FleetTenant.faults`` (and this module's expansion for one sandbox).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .core import FaultKind, Hook, choice

SANDBOX_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials",
                       "urn:ietf:params:oauth:grant-type:jwt-bearer")
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
OLD_CAPABILITIES = ("launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                    "context-banner", "context-style", "context-ehr-patient", "context-ehr-encounter",
                    "context-standalone-patient", "permission-offline", "permission-patient", "permission-user",
                    "sso-openid-connect")
#: How a discovery document is served (the last five: hostile tenants only).
DOCUMENT_BEHAVIOURS = ("ok", "404", "403", "503", "html", "xml", "hang", "flaky",
                       "gzip-bomb", "double-gzip", "endless", "redirect-inward", "redirect-http")
#: Where an inward redirect leads: the cloud metadata address, which no fleet run may reach.
INWARD = "http://169.254.169.254/latest/meta-data/"
#: Certificates a hostile https tenant is served with -> days the certificate is valid.
TLS_KINDS: dict[str, float] = {"valid": 365.0, "expiring": 10.0}

#: Every tenant variation: name -> what that tenant does.
VARIATIONS: dict[str, str] = {
    "current": "a current release (February 2025 to February 2026), as most of the fleet",
    "old-release": "an old release (February 2023/2024, May 2022/2024): no supportedProfile, 53 to 59 resource "
                   "types, empty grant_types_supported and code_challenge_methods_supported, no "
                   "client-confidential-asymmetric, permission-v1/v2 or authorize-post",
    "localized-release": "software.version 'toukokuu 2022' (Finnish), otherwise as old-release",
    "fhir-4.0.0": "a current release declaring fhirVersion 4.0.0",
    "fewer-resources": "a current release without Appointment and Claim",
    "empty-grant-types": "a current release whose grant_types_supported is []",
    "no-smart-config": "smart-configuration answers 404 (an IIS page); /metadata works",
    "no-metadata": "/metadata answers 404 (an IIS page); smart-configuration works",
    "metadata-503": "/metadata answers 503; smart-configuration works",
    "down-503": "both documents answer 503",
    "html": "both documents answer 200 with an HTML sign-in page",
    "not-json": "/metadata answers FHIR XML whatever the Accept header asks; smart-configuration works",
    "forbidden": "both documents answer 403",
    "hang": "both documents never answer",
    "flaky": "the first request for each document answers 503, the next ones work",
    "slow": "both documents answer after a delay",
    "dstu2": "a DSTU2 base on a current release",
}

OLD = {"release": "May 2022", "drop_resources": ("Claim", "Contract", "Media"), "grant_types": (),
       "capabilities": OLD_CAPABILITIES, "code_challenge_methods": (), "profiles": False, "rev_include": False}
#: variation -> its tenant fields (beyond a current tenant's), for a tenant of its own
VARIATION_FIELDS: dict[str, dict[str, Any]] = {
    "current": {},
    "old-release": OLD,
    "localized-release": {**OLD, "release": "toukokuu 2022"},
    "fhir-4.0.0": {"fhir_version": "4.0.0"},
    "fewer-resources": {"drop_resources": ("Appointment", "Claim")},
    "empty-grant-types": {"grant_types": ()},
    "no-smart-config": {"smart": "404"},
    "no-metadata": {"metadata": "404"},
    "metadata-503": {"metadata": "503"},
    "down-503": {"metadata": "503", "smart": "503"},
    "html": {"metadata": "html", "smart": "html"},
    "not-json": {"metadata": "xml"},
    "forbidden": {"metadata": "403", "smart": "403"},
    "hang": {"metadata": "hang", "smart": "hang"},
    "flaky": {"metadata": "flaky", "smart": "flaky"},
    "slow": {"delay": 0.5},
    "dstu2": {"fhir": "DSTU2"},
}
#: Hostile tenants, never in the default fleet (``build_fleet(hostile=True)``): name -> what it does.
HOSTILE_VARIATIONS: dict[str, str] = {
    "gzip-bomb": "/metadata answers Content-Encoding: gzip, about 1 MB that decodes to 1 GiB of zeros",
    "double-gzip": "/metadata answers Content-Encoding: gzip, gzip, about 10 KB that decode to 4 GiB",
    "endless-body": "/metadata answers 200 with a body that never ends",
    "redirect-inward": f"/metadata redirects to {INWARD} (an internal address)",
    "https": "an https tenant whose certificate is signed by the fleet's throwaway CA, valid a year",
    "https-expiring": "an https tenant whose certificate expires in 10 days",
    "redirect-to-http": "an https tenant whose /metadata redirects to the same tenant over plain http",
}
HOSTILE_FIELDS: dict[str, dict[str, Any]] = {
    "gzip-bomb": {"metadata": "gzip-bomb"},
    "double-gzip": {"metadata": "double-gzip"},
    "endless-body": {"metadata": "endless"},
    "redirect-inward": {"metadata": "redirect-inward"},
    "https": {"tls": "valid"},
    "https-expiring": {"tls": "expiring"},
    "redirect-to-http": {"tls": "valid", "metadata": "redirect-http"},
}
CURRENT: dict[str, Any] = {"fhir": "R4", "release": "November 2025", "fhir_version": None, "drop_resources": (),
                           "profiles": True, "rev_include": True, "grant_types": SANDBOX_GRANT_TYPES,
                           "capabilities": None, "code_challenge_methods": None, "metadata": "ok", "smart": "ok",
                           "delay": 0.0}

_BEHAVIOUR_FAULTS = {"404": "discovery-error:{doc}=404", "403": "discovery-error:{doc}=403",
                     "503": "discovery-error:{doc}=503", "html": "discovery-sign-in-page:{doc}",
                     "hang": "discovery-hang:{doc}", "flaky": "discovery-flaky:{doc}",
                     "gzip-bomb": "discovery-gzip-bomb:{doc}", "double-gzip": "discovery-double-gzip:{doc}",
                     "endless": "discovery-endless-body:{doc}", "redirect-inward": f"discovery-redirect:{{doc}}={INWARD}"}


def tenant_faults(*, fhir: str, release: str, fhir_version: str | None, drop_resources: Iterable[str],
                  profiles: bool, rev_include: bool, grant_types: tuple[str, ...] | None,
                  capabilities: tuple[str, ...] | None, code_challenge_methods: tuple[str, ...] | None,
                  metadata: str, smart: str, delay: float, plain_origin: str | None = None) -> frozenset[str]:
    """The sandbox faults of a fleet tenant with these fields. ``plain_origin``: where the fleet
    serves plain http, for a redirect from https to http (else the same host and port)."""
    chosen = {f"metadata-set:{fhir}=software.version={json.dumps(release)}", f"metadata-live-date:{fhir}"}
    if fhir_version:
        chosen.add(f"metadata-fhir-version:{fhir}={fhir_version}")
    chosen.update(f"metadata-drop-resource:{fhir}={r}" for r in drop_resources)
    if not profiles:
        chosen.add(f"metadata-drop:{fhir}=rest.resource.supportedProfile")
    if not rev_include:
        chosen.add(f"metadata-drop:{fhir}=rest.resource.searchRevInclude")
    for name, value in (("grant_types_supported", grant_types), ("capabilities", capabilities),
                        ("code_challenge_methods_supported", code_challenge_methods)):
        if value is not None:
            chosen.add(f"smart-config-set:{name}={json.dumps(list(value))}")
    for document, behaviour in (("metadata", metadata), ("smart-configuration", smart)):
        if behaviour == "xml":
            if document == "metadata":
                chosen.add(f"metadata-xml-only:{fhir}")
        elif behaviour == "redirect-http":
            chosen.add(f"discovery-redirect:{document}={plain_origin or 'http://{host}'}{{path}}")
        elif behaviour in _BEHAVIOUR_FAULTS:
            chosen.add(_BEHAVIOUR_FAULTS[behaviour].format(doc=document))
    if delay:
        chosen.add(f"discovery-delay:{delay:g}")
    return frozenset(chosen)


def variation_faults(variation: str) -> frozenset[str]:
    """The faults of a tenant of ``variation`` on its own (fleet fields at their usual values)."""
    return tenant_faults(**{**CURRENT, **VARIATION_FIELDS[variation]})


KINDS: tuple[FaultKind, ...] = (
    FaultKind("fleet-variation", Hook.FLEET, "the sandbox is served as a fleet tenant of variation NAME",
              (choice("NAME", VARIATIONS, "fleet variation"),), expands=lambda name: sorted(variation_faults(name)),
              choices={name: f"as the fleet's {name} tenants: {what}" for name, what in VARIATIONS.items()}),
)
