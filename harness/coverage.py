"""The coverage matrix: for each requested API, is it declared, granted and exercised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.catalog import CAPABILITY_INTERACTION, SCOPE_PERMISSION, Api
from harness.discovery import resource_entries
from harness.scopes import Grants


@dataclass(frozen=True)
class Finding:
    value: bool | None
    detail: str


NOT_FHIR = "an Epic web service, not a FHIR API: no CapabilityStatement or scope lists it"


def declared(api: Api, capability: dict[str, Any] | None) -> Finding:
    if not api.is_fhir or api.resource is None:
        return Finding(None, NOT_FHIR)
    if capability is None:
        return Finding(None, f"no {api.version} CapabilityStatement could be read")
    entry = resource_entries(capability).get(api.resource)
    if entry is None:
        return Finding(False, f"the {api.version} CapabilityStatement does not list {api.resource}")
    if api.kind == "operation":
        op = (api.interaction or "").lstrip("$")
        names = {o.get("name") for o in entry.get("operation") or [] if isinstance(o, dict)}
        names |= {o.get("name") for r in capability.get("rest") or [] for o in r.get("operation") or [] if isinstance(o, dict)}
        if op in names:
            return Finding(True, f"{api.resource} lists the {op} operation")
        return Finding(None, f"Epic does not list ${op} in its CapabilityStatement; to be verified by exercising it")
    code = CAPABILITY_INTERACTION[api.interaction or ""]
    codes = {i.get("code") for i in entry.get("interaction") or [] if isinstance(i, dict)}
    if code not in codes:
        listed = ", ".join(sorted(c for c in codes if c)) or "no interactions"
        return Finding(False, f"{api.resource} is listed with {listed}, without {code}")
    if api.context:
        return Finding(True, f"{api.resource} {code} declared; the ({api.context}) context is not visible "
                             f"in a CapabilityStatement and is verified by exercising it")
    return Finding(True, f"{api.resource} {code} declared")


def granted(api: Api, grants: Grants | None, why_no_grants: str = "no token was obtained in this run") -> Finding:
    if not api.is_fhir or api.resource is None:
        return Finding(None, NOT_FHIR)
    if api.kind == "operation":
        return Finding(None, f"{api.interaction} is enabled by the customer's Epic configuration, not by an OAuth scope")
    if grants is None:
        return Finding(None, why_no_grants)
    result = grants.allows(api.resource, SCOPE_PERMISSION[api.interaction or ""])  # type: ignore[arg-type]
    return Finding(result.granted, result.detail)
