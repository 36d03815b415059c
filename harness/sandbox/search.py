"""Search parameters: which ones each resource type knows, and whether a resource matches them.

A parameter has a kind (token, reference, string, date) and the element paths it looks at; a
search matches a resource when every parameter matches (repeated parameters AND, comma-separated
values OR). Values follow FHIR's search syntax: ``system|code``, ``|code``, ``code``; references as
``id``, ``Type/id`` or an absolute URL; strings match the start of any word-part, case- and
accent-insensitively (``:exact``, ``:contains``); dates take the ``eq ne gt lt ge le`` prefixes.

Parameters a type does not know are reported back, not applied: Epic ignores them on most
resources and refuses them on Patient and Observation (the FHIR service decides).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .versions import relative_reference

#: Parameters that shape the answer rather than filter it.
CONTROL_PARAMS: frozenset[str] = frozenset({
    "_count", "_format", "_include", "_revinclude", "_summary", "_elements", "_sort", "_total",
    "_contained", "_containedType", "_pretty", "_lastUpdated", "sessionID", "_type",
})


@dataclass(frozen=True)
class Param:
    kind: str  # "id" | "token" | "reference" | "string" | "date" | "uri"
    paths: tuple[str, ...] = ()
    target: str | None = None  # the reference's resource type, for bare ids

    def values(self, resource: dict[str, Any]) -> Iterator[Any]:
        for path in self.paths:
            yield from _walk(resource, path.split("."))


def _walk(node: Any, parts: Sequence[str]) -> Iterator[Any]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, parts)
        return
    if not parts:
        if node is not None:
            yield node
        return
    if isinstance(node, dict) and parts[0] in node:
        yield from _walk(node[parts[0]], parts[1:])


def _token(*paths: str) -> Param:
    return Param("token", paths)


def _ref(*paths: str, target: str | None = None) -> Param:
    return Param("reference", paths, target)


def _string(*paths: str) -> Param:
    return Param("string", paths)


def _date(*paths: str) -> Param:
    return Param("date", paths)


_ID = Param("id")
_IDENTIFIER = _token("identifier")
_ADDRESS = {
    "address": _string("address"),
    "address-city": _string("address.city"),
    "address-state": _string("address.state"),
    "address-postalcode": _string("address.postalCode"),
    "address-country": _string("address.country"),
}
_PATIENT_SUBJECT = {"patient": _ref("subject", target="Patient"), "subject": _ref("subject")}

PARAMS: dict[str, dict[str, Param]] = {
    "Patient": {
        "identifier": _IDENTIFIER,
        "family": _string("name.family"),
        "given": _string("name.given"),
        "name": _string("name"),
        "birthdate": _date("birthDate"),
        "gender": _token("gender"),
        "telecom": _token("telecom"),
        "phone": _token("telecom"),
        "email": _token("telecom"),
        "general-practitioner": _ref("generalPractitioner", "careProvider", target="Practitioner"),
        "organization": _ref("managingOrganization", target="Organization"),
        "active": _token("active"),
        "legal-sex": _token("extension.valueCodeableConcept"),
        "own-name": _string("name"),
        "own-prefix": _string("name.prefix"),
        **_ADDRESS,
    },
    "Practitioner": {
        "identifier": _IDENTIFIER,
        "family": _string("name.family"),
        "given": _string("name.given"),
        "name": _string("name"),
        "gender": _token("gender"),
        "active": _token("active"),
        "telecom": _token("telecom"),
        **_ADDRESS,
    },
    "PractitionerRole": {
        "practitioner": _ref("practitioner", target="Practitioner"),
        "organization": _ref("organization", target="Organization"),
        "location": _ref("location", target="Location"),
        "specialty": _token("specialty"),
        "role": _token("code"),
        "active": _token("active"),
        "identifier": _IDENTIFIER,
    },
    "Location": {
        "name": _string("name", "alias"),
        "identifier": _IDENTIFIER,
        "organization": _ref("managingOrganization", target="Organization"),
        "type": _token("type"),
        "status": _token("status"),
        **_ADDRESS,
    },
    "Organization": {
        "name": _string("name", "alias"),
        "identifier": _IDENTIFIER,
        "type": _token("type"),
        "active": _token("active"),
        "partof": _ref("partOf", target="Organization"),
        **_ADDRESS,
    },
    "Endpoint": {
        "identifier": _IDENTIFIER,
        "name": _string("name"),
        "status": _token("status"),
        "organization": _ref("managingOrganization", target="Organization"),
        "connection-type": _token("connectionType"),
    },
    "Coverage": {
        "patient": _ref("beneficiary", target="Patient"),
        "beneficiary": _ref("beneficiary", target="Patient"),
        "subscriber": _ref("subscriber"),
        "policy-holder": _ref("policyHolder"),
        "payor": _ref("payor"),
        "status": _token("status"),
        "type": _token("type"),
        "identifier": _IDENTIFIER,
    },
    "Encounter": {
        **_PATIENT_SUBJECT,
        "date": _date("period"),
        "status": _token("status"),
        "class": _token("class"),
        "type": _token("type"),
        "practitioner": _ref("participant.individual", target="Practitioner"),
        "participant": _ref("participant.individual"),
        "location": _ref("location.location", target="Location"),
        "service-provider": _ref("serviceProvider", target="Organization"),
        "identifier": _IDENTIFIER,
    },
    "Condition": {
        **_PATIENT_SUBJECT,
        "category": _token("category"),
        "code": _token("code"),
        "clinical-status": _token("clinicalStatus"),
        "encounter": _ref("encounter", target="Encounter"),
        "onset-date": _date("onsetDateTime"),
        "recorded-date": _date("recordedDate"),
    },
    "EpisodeOfCare": {
        "patient": _ref("patient", target="Patient"),
        "status": _token("status"),
        "type": _token("type"),
        "care-manager": _ref("careManager", target="Practitioner"),
        "organization": _ref("managingOrganization", target="Organization"),
        "date": _date("period"),
    },
    "List": {
        **_PATIENT_SUBJECT,
        "code": _token("code"),
        "identifier": _IDENTIFIER,
        "status": _token("status"),
        "encounter": _ref("encounter", target="Encounter"),
        "date": _date("date"),
        "title": _string("title"),
    },
    "Flag": {
        **_PATIENT_SUBJECT,
        "category": _token("category"),
        "status": _token("status"),
        "date": _date("period"),
        "author": _ref("author"),
        "encounter": _ref("encounter", target="Encounter"),
    },
    "Consent": {
        "patient": _ref("patient", target="Patient"),
        "category": _token("category"),
        "status": _token("status"),
        "scope": _token("scope"),
        "date": _date("dateTime"),
        "organization": _ref("organization", target="Organization"),
    },
    "DocumentReference": {
        **_PATIENT_SUBJECT,
        "category": _token("category", "class"),
        "type": _token("type"),
        "date": _date("date", "indexed"),
        "status": _token("status"),
        "encounter": _ref("context.encounter", target="Encounter"),
        "author": _ref("author"),
        "identifier": _IDENTIFIER,
    },
    "Questionnaire": {
        "name": _string("name"),
        "title": _string("title"),
        "url": Param("uri", ("url",)),
        "status": _token("status"),
        "identifier": _IDENTIFIER,
        "version": _token("version"),
        "date": _date("date"),
    },
    "QuestionnaireResponse": {
        **_PATIENT_SUBJECT,
        "questionnaire": Param("uri", ("questionnaire",)),
        "status": _token("status"),
        "authored": _date("authored"),
        "author": _ref("author"),
        "encounter": _ref("encounter", target="Encounter"),
        "based-on": _ref("basedOn"),
        "_tag": _token("meta.tag"),
    },
    "ServiceRequest": {
        **_PATIENT_SUBJECT,
        "category": _token("category"),
        "code": _token("code"),
        "status": _token("status"),
        "intent": _token("intent"),
        "authored": _date("authoredOn"),
        "encounter": _ref("encounter", target="Encounter"),
        "requester": _ref("requester"),
        "performer": _ref("performer"),
        "identifier": _IDENTIFIER,
    },
    "Communication": {
        **_PATIENT_SUBJECT,
        "category": _token("category"),
        "status": _token("status"),
        "sent": _date("sent"),
        "recipient": _ref("recipient"),
        "sender": _ref("sender"),
        "encounter": _ref("encounter", target="Encounter"),
    },
    "Task": {
        "patient": _ref("for", target="Patient"),
        "subject": _ref("for"),
        "status": _token("status"),
        "intent": _token("intent"),
        "code": _token("code"),
        "focus": _ref("focus"),
        "owner": _ref("owner"),
        "requester": _ref("requester"),
        "authored-on": _date("authoredOn"),
        "based-on": _ref("basedOn"),
        "identifier": _IDENTIFIER,
    },
    "RelatedPerson": {
        "patient": _ref("patient", target="Patient"),
        "relationship": _token("relationship"),
        "name": _string("name"),
        "family": _string("name.family"),
        "given": _string("name.given"),
        "gender": _token("gender"),
        "active": _token("active"),
        "telecom": _token("telecom"),
        "identifier": _IDENTIFIER,
    },
    "Appointment": {
        "patient": _ref("participant.actor", target="Patient"),
        "practitioner": _ref("participant.actor", target="Practitioner"),
        "location": _ref("participant.actor", target="Location"),
        "actor": _ref("participant.actor"),
        "date": _date("start"),
        "status": _token("status"),
        "service-category": _token("serviceCategory"),
        "service-type": _token("serviceType"),
        "appointment-type": _token("appointmentType"),
        "identifier": _IDENTIFIER,
    },
    "Schedule": {
        "actor": _ref("actor"),
        "active": _token("active"),
        "date": _date("planningHorizon"),
        "service-type": _token("serviceType"),
    },
    "Slot": {
        "schedule": _ref("schedule", target="Schedule"),
        "status": _token("status"),
        "start": _date("start"),
        "service-type": _token("serviceType"),
    },
    "Observation": {
        **_PATIENT_SUBJECT,
        "category": _token("category"),
        "code": _token("code"),
        "date": _date("effectiveDateTime", "effectivePeriod"),
        "encounter": _ref("encounter", target="Encounter"),
        "status": _token("status"),
        "issued": _date("issued"),
        "based-on": _ref("basedOn"),
        "focus": _ref("focus"),
        "value-concept": _token("valueCodeableConcept"),
    },
}


def known_params(resource_type: str) -> dict[str, Param]:
    """The parameters ``resource_type`` knows (``_id`` and ``identifier``-less types included)."""
    return {"_id": _ID, **PARAMS.get(resource_type, {})}


@dataclass
class Query:
    """A parsed search: the filters to apply and what was not understood."""

    filters: list[tuple[str, str | None, Param, list[str]]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        return {name for name, _, _, _ in self.filters}


def parse(resource_type: str, params: Iterable[tuple[str, str]]) -> Query:
    known = known_params(resource_type)
    query = Query()
    for raw_name, raw_value in params:
        name, _, modifier = raw_name.partition(":")
        if name in CONTROL_PARAMS:
            continue
        param = known.get(name)
        if param is None:
            query.unknown.append(raw_name)
            continue
        if modifier == "missing":
            continue
        values = [value.strip() for value in _split(raw_value) if value.strip()]
        if values:
            query.filters.append((name, modifier or None, param, values))
    return query


def _split(value: str) -> list[str]:
    """Split on commas not escaped with a backslash."""
    parts, current, escaped = [], [], False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def matches(resource: dict[str, Any], query: Query) -> bool:
    return all(
        any(_matches(resource, param, modifier, value) for value in values)
        for _, modifier, param, values in query.filters
    )


def _matches(resource: dict[str, Any], param: Param, modifier: str | None, value: str) -> bool:
    if param.kind == "id":
        return resource.get("id") == value
    nodes = list(param.values(resource))
    if param.kind == "token":
        return any(_token_matches(node, value, modifier) for node in nodes)
    if param.kind == "reference":
        return any(_reference_matches(node, value, param.target) for node in nodes)
    if param.kind == "string":
        return any(_string_matches(text, value, modifier) for node in nodes for text in _strings(node))
    if param.kind == "date":
        return any(_date_matches(node, value) for node in nodes)
    if param.kind == "uri":
        return any(isinstance(node, str) and node.split("|")[0] == value.split("|")[0] for node in nodes)
    return False


# --- tokens ---------------------------------------------------------------------------------


def _codes(node: Any) -> Iterator[tuple[str | None, str]]:
    """(system, code) pairs of a code, Coding, CodeableConcept, Identifier or ContactPoint."""
    if isinstance(node, bool):
        yield None, "true" if node else "false"
    elif isinstance(node, (str, int)):
        yield None, str(node)
    elif isinstance(node, dict):
        if "coding" in node:
            for coding in node.get("coding") or ():
                yield from _codes(coding)
        elif "code" in node:
            yield node.get("system"), str(node["code"])
        elif "value" in node:
            yield node.get("system"), str(node["value"])


def _token_matches(node: Any, value: str, modifier: str | None) -> bool:
    if modifier == "text":
        wanted = _fold(value)
        text = node.get("text", "") if isinstance(node, dict) else ""
        return _fold(text).startswith(wanted)
    if "|" in value:
        system, _, code = value.partition("|")
    else:
        system, code = None, value
    for have_system, have_code in _codes(node):
        if system is None:
            if have_code == code:
                return True
        elif system == "":
            if have_system is None and have_code == code:
                return True
        elif have_system == system and (code == "" or have_code == code):
            return True
    return False


# --- references -----------------------------------------------------------------------------


def _reference_matches(node: Any, value: str, target: str | None) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get("reference"), str):
        return False
    have = relative_reference(node["reference"])
    if "/" in value:
        return have == relative_reference(value)
    if target:
        return have == f"{target}/{value}"
    return have.rsplit("/", 1)[-1] == value


# --- strings --------------------------------------------------------------------------------


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for key in ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state",
                    "postalCode", "country"):
            if key in node:
                yield from _strings(node[key])


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def _string_matches(text: str, value: str, modifier: str | None) -> bool:
    if modifier == "exact":
        return text == value
    have, want = _fold(text), _fold(value)
    if modifier == "contains":
        return want in have
    return have.startswith(want)


# --- dates ----------------------------------------------------------------------------------

_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def _date_matches(node: Any, value: str) -> bool:
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    wanted = value[2:] if value[:2] in _PREFIXES else value
    if isinstance(node, dict):
        start, end = node.get("start"), node.get("end")
    elif isinstance(node, str):
        start = end = node
    else:
        return False
    low = (start or "0000")[: len(wanted)]
    high = (end or start or "9999")[: len(wanted)]
    if prefix in ("eq", "ap"):
        return low <= wanted <= high
    if prefix == "ne":
        return not (low <= wanted <= high)
    if prefix in ("gt", "sa"):
        return high > wanted
    if prefix in ("lt", "eb"):
        return low < wanted
    if prefix == "ge":
        return high >= wanted
    return low <= wanted  # le
