"""Search parameters: which ones each resource type knows, and whether a resource matches them.

A parameter has a kind (token, reference, string, date) and the element paths it looks at (the
FHIR R4 SearchParameter's expression; ``where`` keeps only the first element's items with one
value, as ``telecom.where(system='email')``); a search matches a resource when every parameter
matches (repeated parameters AND, comma-separated values OR). Values follow FHIR's search syntax:
``system|code``, ``|code``, ``system|``, ``code`` (``:not``, ``:text``); references as ``id``,
``Type/id`` or an absolute URL (``:Type`` names the target); strings match the start of any part,
case- and accent-insensitively (``:exact``, ``:contains``); dates are ranges compared by their
prefix (``dates.py``); ``:missing=true|false`` asks whether the element is there at all.

Parameters a type does not know are reported back, not applied: Epic ignores them on most
resources and refuses them on Patient and Observation (``search.py`` decides).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..population.versions import relative_reference
from . import dates

#: Parameters that shape the answer rather than filter it.
CONTROL_PARAMS: frozenset[str] = frozenset({
    "_count", "_format", "_include", "_revinclude", "_summary", "_elements", "_sort", "_total",
    "_contained", "_containedType", "_pretty", "_lastUpdated", "sessionID", "_type", "_getpagesoffset",
})


@dataclass(frozen=True)
class Param:
    kind: str  # "id" | "token" | "reference" | "string" | "date" | "uri"
    paths: tuple[str, ...] = ()
    target: str | None = None  # the reference's resource type, for bare ids
    where: tuple[str, str] | None = None  # (member, value) the first element's items must have

    def values(self, resource: dict[str, Any]) -> Iterator[Any]:
        for path in self.paths:
            head, *rest = path.split(".")
            found = resource.get(head) if isinstance(resource, dict) else None
            items = found if isinstance(found, list) else [found] if found is not None else []
            if self.where is not None:
                member, wanted = self.where
                items = [item for item in items if isinstance(item, dict) and item.get(member) == wanted]
            yield from _walk(items, rest)


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


def _token(*paths: str, where: tuple[str, str] | None = None) -> Param:
    return Param("token", paths, where=where)


def _ref(*paths: str, target: str | None = None) -> Param:
    return Param("reference", paths, target)


def _string(*paths: str) -> Param:
    return Param("string", paths)


def _date(*paths: str) -> Param:
    return Param("date", paths)


_ID = Param("id")
_IDENTIFIER = _token("identifier")
_TELECOM = {"telecom": _token("telecom"), "phone": _token("telecom", where=("system", "phone")),
            "email": _token("telecom", where=("system", "email"))}
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
        **_TELECOM,
        "general-practitioner": _ref("generalPractitioner", "careProvider", target="Practitioner"),
        "organization": _ref("managingOrganization", target="Organization"),
        "active": _token("active"),
        "legal-sex": _token("extension.valueCodeableConcept",
                            where=("url", "http://open.epic.com/FHIR/StructureDefinition/extension/legal-sex")),
        "own-name": _string("name"),
        "own-prefix": _string("name.prefix"),
        "death-date": _date("deceasedDateTime"),
        "language": _token("communication.language"),
        "link": _ref("link.other"),
        "address-use": _token("address.use"),
        **_ADDRESS,
    },
    "Practitioner": {
        "identifier": _IDENTIFIER,
        "family": _string("name.family"),
        "given": _string("name.given"),
        "name": _string("name"),
        "gender": _token("gender"),
        "active": _token("active"),
        **_TELECOM,
        "communication": _token("communication"),
        "address-use": _token("address.use"),
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
        **_TELECOM,
        "date": _date("period"),
        "endpoint": _ref("endpoint", target="Endpoint"),
        "service": _ref("healthcareService", target="HealthcareService"),
    },
    "Location": {
        "name": _string("name", "alias"),
        "identifier": _IDENTIFIER,
        "organization": _ref("managingOrganization", target="Organization"),
        "type": _token("type"),
        "status": _token("status"),
        "operational-status": _token("operationalStatus"),
        "partof": _ref("partOf", target="Location"),
        "endpoint": _ref("endpoint", target="Endpoint"),
        "address-use": _token("address.use"),
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
        "dependent": _string("dependent"),
        "class-type": _token("class.type"),
        "class-value": _string("class.value"),
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
        "account": _ref("account", target="Account"),
        "appointment": _ref("appointment", target="Appointment"),
        "based-on": _ref("basedOn"),
        "episode-of-care": _ref("episodeOfCare", target="EpisodeOfCare"),
        "diagnosis": _ref("diagnosis.condition"),
        "part-of": _ref("partOf", target="Encounter"),
        "participant-type": _token("participant.type"),
        "reason-code": _token("reasonCode", "reason"),
        "reason-reference": _ref("reasonReference"),
        "location-period": _date("location.period"),
        "special-arrangement": _token("hospitalization.specialArrangement"),
    },
    "Condition": {
        **_PATIENT_SUBJECT,
        "category": _token("category"),
        "code": _token("code"),
        "clinical-status": _token("clinicalStatus"),
        "encounter": _ref("encounter", target="Encounter"),
        "onset-date": _date("onsetDateTime", "onsetPeriod"),
        "recorded-date": _date("recordedDate"),
        "abatement-date": _date("abatementDateTime", "abatementPeriod"),
        "verification-status": _token("verificationStatus"),
        "severity": _token("severity"),
        "body-site": _token("bodySite"),
        "asserter": _ref("asserter"),
        "identifier": _IDENTIFIER,
    },
    "EpisodeOfCare": {
        "patient": _ref("patient", target="Patient"),
        "status": _token("status"),
        "type": _token("type"),
        "care-manager": _ref("careManager", target="Practitioner"),
        "organization": _ref("managingOrganization", target="Organization"),
        "date": _date("period"),
        "condition": _ref("diagnosis.condition", target="Condition"),
        "incoming-referral": _ref("referralRequest"),
        "identifier": _IDENTIFIER,
    },
    "List": {
        **_PATIENT_SUBJECT,
        "code": _token("code"),
        "identifier": _IDENTIFIER,
        "status": _token("status"),
        "encounter": _ref("encounter", target="Encounter"),
        "date": _date("date"),
        "title": _string("title"),
        "source": _ref("source"),
        "item": _ref("entry.item"),
        "empty-reason": _token("emptyReason"),
    },
    "Flag": {
        **_PATIENT_SUBJECT,
        "category": _token("category"),
        "status": _token("status"),
        "date": _date("period"),
        "author": _ref("author"),
        "encounter": _ref("encounter", target="Encounter"),
        "identifier": _IDENTIFIER,
    },
    "Consent": {
        "patient": _ref("patient", target="Patient"),
        "subject": _ref("patient", target="Patient"),
        "identifier": _IDENTIFIER,
        "period": _date("period", "provision.period"),
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
        "identifier": _token("masterIdentifier", "identifier"),
        "class": _token("class", "category"),
        "created": _date("created", "date"),
        "indexed": _date("indexed", "date"),
        "docstatus": _token("docStatus"),
        "period": _date("context.period"),
        "contenttype": _token("content.attachment.contentType"),
        "custodian": _ref("custodian"),
        "description": _string("description"),
        "event": _token("context.event"),
        "facility": _token("context.facilityType"),
        "format": _token("content.format"),
        "language": _token("content.attachment.language"),
        "setting": _token("context.practiceSetting"),
        "authenticator": _ref("authenticator"),
        "relatesto": _ref("relatesTo.target"),
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
        "part-of": _ref("partOf"),
        "source": _ref("source"),
        "identifier": _IDENTIFIER,
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
        "based-on": _ref("basedOn"),
        "body-site": _token("bodySite"),
        "occurrence": _date("occurrenceDateTime", "occurrencePeriod"),
        "performer-type": _token("performerType"),
        "priority": _token("priority"),
        "replaces": _ref("replaces"),
        "requisition": _token("requisition"),
        "specimen": _ref("specimen"),
    },
    "Communication": {
        **_PATIENT_SUBJECT,
        "category": _token("category"),
        "status": _token("status"),
        "sent": _date("sent"),
        "recipient": _ref("recipient"),
        "sender": _ref("sender"),
        "encounter": _ref("encounter", target="Encounter"),
        "identifier": _IDENTIFIER,
        "based-on": _ref("basedOn"),
        "part-of": _ref("partOf"),
        "medium": _token("medium"),
        "received": _date("received"),
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
        "encounter": _ref("encounter", target="Encounter"),
        "business-status": _token("businessStatus"),
        "group-identifier": _token("groupIdentifier"),
        "modified": _date("lastModified"),
        "part-of": _ref("partOf", target="Task"),
        "performer": _token("performerType"),
        "period": _date("executionPeriod"),
        "priority": _token("priority"),
    },
    "RelatedPerson": {
        "patient": _ref("patient", target="Patient"),
        "relationship": _token("relationship"),
        "name": _string("name"),
        "family": _string("name.family"),
        "given": _string("name.given"),
        "gender": _token("gender"),
        "active": _token("active"),
        **_TELECOM,
        "birthdate": _date("birthDate"),
        "identifier": _IDENTIFIER,
        "address-use": _token("address.use"),
        **_ADDRESS,
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
        "specialty": _token("specialty"),
        "slot": _ref("slot", target="Slot"),
        "based-on": _ref("basedOn"),
        "part-status": _token("participant.status"),
        "reason-code": _token("reasonCode", "reason"),
        "reason-reference": _ref("reasonReference"),
        "supporting-info": _ref("supportingInformation"),
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
        "value-string": _string("valueString"),
        "value-date": _date("valueDateTime", "valuePeriod"),
        "identifier": _IDENTIFIER,
        "performer": _ref("performer"),
        "derived-from": _ref("derivedFrom"),
        "has-member": _ref("hasMember"),
        "part-of": _ref("partOf"),
        "specimen": _ref("specimen", target="Specimen"),
        "device": _ref("device"),
        "method": _token("method"),
        "data-absent-reason": _token("dataAbsentReason"),
        "component-code": _token("component.code"),
        "component-value-concept": _token("component.valueCodeableConcept"),
        "component-data-absent-reason": _token("component.dataAbsentReason"),
        "combo-code": _token("code", "component.code"),
        "combo-value-concept": _token("valueCodeableConcept", "component.valueCodeableConcept"),
        "combo-data-absent-reason": _token("dataAbsentReason", "component.dataAbsentReason"),
    },
}


def known_params(resource_type: str) -> dict[str, Param]:
    """The parameters ``resource_type`` knows (``_id`` and ``identifier``-less types included)."""
    return {"_id": _ID, **PARAMS.get(resource_type, {})}


@dataclass
class Query:
    """A parsed search: the filters to apply, the parameters not understood, and the values that
    cannot be what their parameter takes (a date that is no date)."""

    filters: list[tuple[str, str | None, Param, list[str]]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        return {name for name, _, _, _ in self.filters}


def parse(
    resource_type: str, params: Iterable[tuple[str, str]], declared: Iterable[str] = ()
) -> Query:
    """The filters of a search. ``declared`` names parameters the CapabilityStatement lists for
    the type: they are accepted even where the sandbox does not apply them."""
    known = known_params(resource_type)
    accepted = frozenset(declared)
    query = Query()
    for raw_name, raw_value in params:
        name, _, modifier = raw_name.partition(":")
        if name in CONTROL_PARAMS:
            continue
        param = known.get(name)
        if param is None:
            if name not in accepted:
                query.unknown.append(raw_name)
            continue
        values = [value.strip() for value in _split(raw_value) if value.strip()]
        if modifier == "missing":
            if raw_value.strip() not in ("true", "false"):
                query.invalid.append((raw_name, raw_value))
                continue
            values = [raw_value.strip()]
        elif param.kind == "date":
            bad = [value for value in values if not valid_date(value)]
            if bad:
                query.invalid.append((raw_name, bad[0]))
                continue
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
    return all(_filter_matches(resource, param, modifier, values) for _, modifier, param, values in query.filters)


def _filter_matches(resource: dict[str, Any], param: Param, modifier: str | None, values: list[str]) -> bool:
    """One parameter: any of its values matches (``:not``: none does; ``:missing``: the element's
    absence is as asked)."""
    if modifier == "missing":
        present = resource.get("id") is not None if param.kind == "id" else any(True for _ in param.values(resource))
        return present == (values[0] == "false")
    if modifier == "not" and param.kind == "token":
        return not any(_matches(resource, param, None, value) for value in values)
    return any(_matches(resource, param, modifier, value) for value in values)


def _matches(resource: dict[str, Any], param: Param, modifier: str | None, value: str) -> bool:
    if param.kind == "id":
        return resource.get("id") == value
    nodes = list(param.values(resource))
    if param.kind == "token":
        return any(_token_matches(node, value, modifier) for node in nodes)
    if param.kind == "reference":
        target = modifier if modifier and modifier[:1].isupper() else param.target
        return any(_reference_matches(node, value, target) for node in nodes)
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
        wanted = fold(value)
        text = node.get("text", "") if isinstance(node, dict) else ""
        return fold(text).startswith(wanted)
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


def fold(text: str) -> str:
    """``text`` without accents, case-folded (how strings and names are compared)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def _string_matches(text: str, value: str, modifier: str | None) -> bool:
    if modifier == "exact":
        return text == value
    have, want = fold(text), fold(value)
    if modifier == "contains":
        return want in have
    return have.startswith(want)


# --- dates ---------------------------------------------------------------------------------


def valid_date(value: str) -> bool:
    """Is ``value`` a FHIR search date (an optional prefix, then YYYY[-MM[-DD[Thh:mm[:ss[.f]][zone]]]])
    naming a real calendar date and time?"""
    return dates.date_range(dates.split_prefix(value)[1]) is not None


def _date_matches(node: Any, value: str) -> bool:
    prefix, text = dates.split_prefix(value)
    wanted, have = dates.date_range(text), dates.target_range(node)
    return wanted is not None and have is not None and dates.prefix_holds(prefix, wanted, have)
