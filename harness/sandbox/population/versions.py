"""The STU3 and DSTU2 shapes of the population's R4 resources, and absolute references.

Each FHIR version serves the resource types its Epic APIs cover: R4 every populated type; STU3 the
types of the STU3 APIs (plus Schedule and Slot, written in STU3 shape); DSTU2 Patient and
Practitioner. The conversions change only what differs between the versions for the elements the
population uses (cardinalities, renamed elements); ids stay the same in every version.
"""

from __future__ import annotations

import re
from typing import Any

STU3_TYPES: tuple[str, ...] = (
    "Appointment", "Consent", "Coverage", "DocumentReference", "Encounter", "Endpoint", "Flag", "List",
    "Location", "Organization", "Patient", "Practitioner", "PractitionerRole",
)
DSTU2_TYPES: tuple[str, ...] = ("Patient", "Practitioner")

_RELATIVE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def to_stu3(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` (R4 shape) in STU3 shape. Changes it in place and returns it."""
    kind = resource["resourceType"]
    if kind == "Location" and "type" in resource:
        resource["type"] = _first(resource["type"])
    elif kind == "Flag" and "category" in resource:
        resource["category"] = _first(resource["category"])
    elif kind == "Appointment":
        if "serviceCategory" in resource:
            resource["serviceCategory"] = _first(resource["serviceCategory"])
        if "reasonCode" in resource:
            resource["reason"] = resource.pop("reasonCode")
        resource.pop("patientInstruction", None)
    elif kind == "Encounter":
        resource.pop("serviceType", None)
        resource.pop("reasonReference", None)  # STU3 has none: its diagnosis names the conditions
        if "reasonCode" in resource:
            resource["reason"] = resource.pop("reasonCode")
        if "appointment" in resource:
            resource["appointment"] = _first(resource["appointment"])
    elif kind == "Consent":
        resource["identifier"] = _first(resource.get("identifier"))  # STU3: one Identifier
        if resource["identifier"] is None:
            resource.pop("identifier")
        resource.pop("scope", None)
        resource.pop("provision", None)
        if "performer" in resource:
            resource["consentingParty"] = resource.pop("performer")
    elif kind == "DocumentReference":
        if "category" in resource:
            resource["class"] = _first(resource.pop("category"))
        if "date" in resource:
            resource["indexed"] = resource.pop("date")
        else:
            resource["indexed"] = "2026-01-01T00:00:00Z"
        context = resource.get("context")
        if isinstance(context, dict) and "encounter" in context:
            context["encounter"] = _first(context["encounter"])
    elif kind == "Coverage":
        resource.update(_stu3_grouping(resource.pop("class", [])))
    return resource


def _stu3_grouping(classes: list[dict[str, Any]]) -> dict[str, Any]:
    """R4's ``Coverage.class`` (group, plan) as STU3's ``Coverage.grouping``."""
    grouping: dict[str, str] = {}
    for item in classes:
        kind = next((c.get("code") for c in item.get("type", {}).get("coding", ())), None)
        if kind in ("group", "plan") and item.get("value"):
            grouping[kind] = item["value"]
            if item.get("name"):
                grouping[f"{kind}Display"] = item["name"]
    return {"grouping": grouping} if grouping else {}


def _dstu2_name(name: dict[str, Any]) -> dict[str, Any]:
    converted = dict(name)
    if isinstance(converted.get("family"), str):
        converted["family"] = [converted["family"]]
    return converted


def to_dstu2(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` (R4 shape) in DSTU2 shape (Patient, Practitioner). Changes it in place."""
    kind = resource["resourceType"]
    if "name" in resource and isinstance(resource["name"], list):
        names = [_dstu2_name(name) for name in resource["name"]]
        resource["name"] = names if kind == "Patient" else names[0]
    if kind == "Patient":
        if "generalPractitioner" in resource:
            resource["careProvider"] = resource.pop("generalPractitioner")
        for communication in resource.get("communication", ()):
            communication.pop("extension", None)
    for telecom in resource.get("telecom", ()):
        if telecom.get("system") not in ("phone", "fax", "email", "pager", "other"):
            telecom["system"] = "other"
    return resource


def absolute_references(node: Any, base: str) -> Any:
    """A copy of ``node`` whose relative references (``Type/id``) are absolute under ``base``."""
    if isinstance(node, dict):
        copied = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and _RELATIVE.match(value):
                copied[key] = f"{base}/{value}"
            else:
                copied[key] = absolute_references(value, base)
        return copied
    if isinstance(node, list):
        return [absolute_references(item, base) for item in node]
    return node


def relative_reference(value: str) -> str:
    """``Type/id`` for a reference written relative or absolute (``.../Type/id``); else as is."""
    parts = value.rstrip("/").split("/")
    if len(parts) >= 2 and re.match(r"^[A-Z][A-Za-z]+$", parts[-2]):
        return f"{parts[-2]}/{parts[-1]}"
    return value
