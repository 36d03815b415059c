"""What one tenant's discovery documents say: release, FHIR version, coverage, readiness, shape."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from harness.catalog import RequestedApis
from harness.coverage import declared
from harness.discovery import resource_entries

PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_CREDENTIALS = "client_credentials"
ASYMMETRIC = "client-confidential-asymmetric"

#: FHIR version number prefix -> the release name Epic uses in its paths.
FHIR_RELEASE_OF = {"4.": "R4", "3.": "STU3", "1.0": "DSTU2"}


def fhir_release(fhir_version: str | None) -> str | None:
    if not fhir_version:
        return None
    return next((name for prefix, name in FHIR_RELEASE_OF.items() if fhir_version.startswith(prefix)), None)


def is_capability_statement(body: dict[str, Any] | None) -> bool:
    return bool(body) and body.get("resourceType") in ("CapabilityStatement", "Conformance")  # type: ignore[union-attr]


@dataclass(frozen=True)
class Coverage:
    """Declared coverage of the requested APIs that one FHIR version's CapabilityStatement can judge.

    ``judged``: the requested FHIR APIs of the tenant's FHIR version; ``declared``: those the
    statement lists; ``missing``: those it does not; ``unknown``: those it cannot tell (Epic lists
    few operations); ``other_version``: requested FHIR APIs of another FHIR version (another base
    serves them); ``not_fhir``: Epic web services, which no CapabilityStatement lists.
    """

    requested: int
    judged: int
    declared: int
    missing: tuple[str, ...]
    unknown: tuple[str, ...]
    other_version: int
    not_fhir: int

    @property
    def full(self) -> bool:
        return self.judged > 0 and not self.missing

    def as_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "judged": self.judged,
            "declared": self.declared,
            "missing": list(self.missing),
            "unknown": list(self.unknown),
            "other_version": self.other_version,
            "not_fhir": self.not_fhir,
            "full": self.full,
        }


def coverage(requested: RequestedApis, release: str | None, capability: dict[str, Any] | None) -> Coverage | None:
    """Coverage of ``requested`` by the ``release`` (R4, STU3, DSTU2) statement; None without one."""
    if not is_capability_statement(capability) or release is None:
        return None
    entries = resource_entries(capability)
    rest_operations = [o for r in capability.get("rest") or [] if isinstance(r, dict)  # type: ignore[union-attr]
                       for o in r.get("operation") or []]

    def statement_for(resource: str | None) -> dict[str, Any]:
        # The statement reduced to the one resource an API names: ``declared`` then reads one entry,
        # not every resource type once per API.
        listed = [entries[resource]] if resource in entries else []
        return {"resourceType": "CapabilityStatement",
                "rest": [{"mode": "server", "resource": listed, "operation": rest_operations}]}

    judged = declared_n = other = not_fhir = 0
    missing: list[str] = []
    unknown: list[str] = []
    for api in requested.apis:
        if not api.is_fhir:
            not_fhir += 1
            continue
        if api.version != release:
            other += 1
            continue
        judged += 1
        finding = declared(api, statement_for(api.resource))
        if finding.value is True:
            declared_n += 1
        elif finding.value is False:
            missing.append(api.name)
        else:
            unknown.append(api.name)
    return Coverage(len(requested.apis), judged, declared_n, tuple(missing), tuple(unknown), other, not_fhir)


@dataclass(frozen=True)
class Readiness:
    """Can a SMART Backend Services app use this tenant, by its smart-configuration? None: cannot tell."""

    private_key_jwt: bool | None
    client_credentials: bool | None
    client_confidential_asymmetric: bool | None

    @property
    def ready(self) -> bool | None:
        flags = (self.private_key_jwt, self.client_credentials, self.client_confidential_asymmetric)
        if any(flag is False for flag in flags):
            return False
        if all(flag is True for flag in flags):
            return True
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "private_key_jwt": self.private_key_jwt,
            "client_credentials": self.client_credentials,
            "client_confidential_asymmetric": self.client_confidential_asymmetric,
            "ready": self.ready,
        }


def _member(document: dict[str, Any] | None, key: str, value: str) -> bool | None:
    """True/False when ``document[key]`` is a list that does/doesn't hold ``value``; None when absent."""
    if document is None:
        return None
    items = document.get(key)
    if not isinstance(items, list):
        return None
    return value in items


def readiness(smart: dict[str, Any] | None) -> Readiness:
    """Readiness from the smart-configuration. A missing key is unknown; an empty list is False."""
    return Readiness(
        private_key_jwt=_member(smart, "token_endpoint_auth_methods_supported", PRIVATE_KEY_JWT),
        client_credentials=_member(smart, "grant_types_supported", CLIENT_CREDENTIALS),
        client_confidential_asymmetric=_member(smart, "capabilities", ASYMMETRIC),
    )


def _codes(items: Any, key: str) -> list[str]:
    return sorted({str(i.get(key)) for i in items or [] if isinstance(i, dict) and i.get(key) is not None})


def _strings(items: Any) -> list[str]:
    return sorted({str(i) for i in items or [] if isinstance(i, (str, int, float))})


def shape(capability: dict[str, Any]) -> dict[str, Any]:
    """The shape of a CapabilityStatement: what it declares, without what changes between fetches
    or between tenants that declare the same thing.

    Kept: ``fhirVersion``, ``kind``, ``format``, ``instantiates``; per REST mode its interactions
    and operations (by name), its security service codes, and per resource type its interactions,
    operations (by name), search parameters (name and type), ``searchInclude``,
    ``searchRevInclude`` and ``supportedProfile``.

    Left out: ``date`` (the generation time, new on every fetch), ``id``, ``meta``, ``text``,
    ``url``, ``version``, ``name``, ``publisher``, ``copyright``, ``status``, ``experimental``,
    ``software`` (the release is reported on its own), ``implementation`` (the tenant's own URL
    and description), every extension (the ``oauth-uris`` hold the tenant's own endpoints), the
    operations' ``definition`` URLs and every ``documentation`` text.
    """
    rests = []
    for rest in capability.get("rest") or []:
        if not isinstance(rest, dict):
            continue
        resources = []
        for res in rest.get("resource") or []:
            if not isinstance(res, dict) or not isinstance(res.get("type"), str):
                continue
            resources.append({
                "type": res["type"],
                "interaction": _codes(res.get("interaction"), "code"),
                "operation": _codes(res.get("operation"), "name"),
                "searchParam": sorted(f"{p.get('name')}:{p.get('type')}" for p in res.get("searchParam") or []
                                      if isinstance(p, dict)),
                "searchInclude": _strings(res.get("searchInclude")),
                "searchRevInclude": _strings(res.get("searchRevInclude")),
                "supportedProfile": _strings(res.get("supportedProfile")),
            })
        security = rest.get("security") if isinstance(rest.get("security"), dict) else {}
        services = sorted({f"{c.get('system')}|{c.get('code')}" for s in security.get("service") or []
                           if isinstance(s, dict) for c in s.get("coding") or [] if isinstance(c, dict)})
        rests.append({
            "mode": rest.get("mode"),
            "interaction": _codes(rest.get("interaction"), "code"),
            "operation": _codes(rest.get("operation"), "name"),
            "security": services,
            "resource": sorted(resources, key=lambda r: r["type"]),
        })
    return {
        "fhirVersion": capability.get("fhirVersion"),
        "kind": capability.get("kind"),
        "format": _strings(capability.get("format")),
        "instantiates": _strings(capability.get("instantiates")),
        "rest": sorted(rests, key=lambda r: str(r["mode"])),
    }


def fingerprint(capability: dict[str, Any] | None) -> str | None:
    """``sha256:<hex>`` of the statement's :func:`shape` in canonical JSON; None without a statement."""
    if not is_capability_statement(capability):
        return None
    canonical = json.dumps(shape(capability), sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # type: ignore[arg-type]
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def resource_count(capability: dict[str, Any] | None) -> int | None:
    return len(resource_entries(capability)) if is_capability_statement(capability) else None


def supported_profile_count(capability: dict[str, Any] | None) -> int | None:
    if not is_capability_statement(capability):
        return None
    return sum(len(r.get("supportedProfile") or []) for r in resource_entries(capability).values())
