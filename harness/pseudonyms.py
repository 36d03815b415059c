"""Patient data out of what the harness keeps, by allow-list: only what is known to be safe stays.

:class:`Pseudonymizer` walks FHIR JSON and keeps its structure, its codes (every element the FHIR
schemas constrain to a code list, plus ids, references, systems and URLs), numbers and booleans.
Every other string is replaced by a stable pseudonym (an HMAC of the value under the tenant's
pseudonym key), so that the same value always becomes the same pseudonym and searches, references
and replays still agree. On top of that, by element:

- dates and date-times keep their year only (``1987-09-12`` → ``1987-01-01``), except in resources
  that describe no person's care (Slot, Schedule, a proposed Appointment) and definitions; a time
  of day (FHIR ``time``, ``08:30:00``) becomes ``00:00:00``, so that it stays a valid time;
- narratives (``text.div``) become an empty ``div``; attachments lose ``data``, ``url``, ``title``
  and ``hash``; QuestionnaireResponse answers lose their values (0, false, a pseudonym, the year);
- definitions (CapabilityStatement, OperationDefinition, Questionnaire, ValueSet, ...) are kept
  whole: they hold no patient, and the checks read their names;
- JSON outside any FHIR resource (OAuth answers, smart-configuration) is kept.

Query strings keep the values of structural parameters (``_count``, ``_include``, ``sessionID``,
``status``, ``patient``, ...) and replace the others (``family``, ``given``, ``birthdate`` with
its year kept, ``address-city``, ``address-postalcode``, ``mrn``, ``phone``, ``email``, ...).

Every value replaced is remembered, so :meth:`Pseudonymizer.text` removes it (and phone numbers
and e-mail addresses) from free text such as a message or a coding's display.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PSEUDO_PREFIX = "pseudo-"
EMPTY_DIV = '<div xmlns="http://www.w3.org/1999/xhtml">[patient data removed]</div>'
REMOVED_BASE64 = "cmVtb3ZlZA=="  # base64 of "removed": still a valid base64Binary
MAX_KNOWN = 200_000  # remembered values for text scrubbing

#: Every element name the shipped R4 and STU3 schemas bind to a closed code list (``enum``):
#: replacing one of them would make a valid resource invalid. ``tests/test_pseudonyms.py``
#: re-derives this list from the schemas and fails if one is missing.
ENUM_ELEMENTS = frozenset({
    "accept", "acceptUnknown", "action", "actuality", "aggregation", "assurance", "availability", "base",
    "cardinalityBehavior", "category", "causality", "clinicalStatus", "code", "codeSearch", "color", "comparator",
    "conditionalDelete", "conditionalRead", "content", "contentType", "contextType", "criticality", "daysOfWeek",
    "derivation", "direction", "durationUnit", "enableBehavior", "entryType", "equivalence", "exposureState",
    "eye", "fhirVersion", "gender", "generation", "groupMeasure", "groupingBehavior", "hierarchyMeaning",
    "intent", "kind", "language", "license", "lifecycleStatus", "listMode", "meaning", "measurementPrinciple",
    "method", "mode", "modifier", "op", "operationalStatus", "operator", "orientation", "outcome",
    "participantEffectiveGroupMeasure", "periodUnit", "permittedDataType", "precheckBehavior", "preference",
    "priority", "productCategory", "purpose", "referencePolicy", "relationship", "relationtype", "representation",
    "requestMethod", "required", "requiredBehavior", "resourceType", "response", "responseRequired", "result",
    "role", "rule", "rules", "scale", "searchType", "selectionBehavior", "severity", "state", "status", "strand",
    "strength", "stringency", "studyEffectiveGroupMeasure", "system", "taken", "transform", "type", "typeMode",
    "use", "variableType", "verificationStatus", "versioning", "when", "xpathUsage",
})
#: Structural strings: ids, references, systems, versions, units, URLs (a query in them is pseudonymised).
STRUCTURAL_ELEMENTS = frozenset({
    "id", "versionId", "reference", "version", "unit", "currency", "linkId", "definition", "questionnaire",
    "profile", "source", "implicitRules", "instantiatesCanonical", "instantiatesUri", "docStatus",
    "participantStatus", "valueCode", "valueId", "valueUri", "valueUrl", "valueCanonical", "valueOid", "valueUuid",
    "valueBoolean", "sessionID", "location", "expression", "relation",
})
URL_ELEMENTS = frozenset({"url", "fullUrl"})
KEPT_ELEMENTS = ENUM_ELEMENTS | STRUCTURAL_ELEMENTS
#: Resources that describe no patient: kept whole.
DEFINITIONS = frozenset({
    "CapabilityStatement", "Conformance", "OperationDefinition", "StructureDefinition", "SearchParameter",
    "ValueSet", "CodeSystem", "ConceptMap", "NamingSystem", "Questionnaire", "ImplementationGuide",
    "CompartmentDefinition", "TerminologyCapabilities", "GraphDefinition", "MessageDefinition", "StructureMap",
})
#: Resources whose dates are a provider's availability, not a person's care: dates kept.
AVAILABILITY = frozenset({"Slot", "Schedule"})
ATTACHMENT_MEMBERS = frozenset({"contentType", "data", "url", "size", "hash", "title", "creation"})

#: Query parameters whose values carry no patient data: kept. Every other value is replaced.
KEPT_QUERY = frozenset({
    "_count", "_id", "_include", "_revinclude", "_sort", "_summary", "_elements", "_format", "_total", "_type",
    "_contained", "_containedType", "sessionID", "status", "category", "code", "clinical-status",
    "verification-status", "type", "intent", "class", "patient", "subject", "practitioner", "organization",
    "location", "encounter", "actor", "schedule", "service-type", "specialty", "based-on", "context",
    "questionnaire", "_lastUpdated", "date", "period",
})
DATE_QUERY = frozenset({"_lastUpdated", "date", "period"})

_DATE = re.compile(r"^(\d{4})(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_PREFIXED_DATE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4}(?:-\d{2}(?:-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)?)?)$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?$")
_PHONE = re.compile(r"(?<![\w-])(?:\+?1[-. ]?)?\(?\d{3}\)?[-. ]?\d{3}[-. ]?\d{4}(?![\w-])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def year_kept(value: str) -> str | None:
    """A FHIR date/dateTime/instant with only its year kept, in the same shape; None if not a date."""
    match = _DATE.match(value)
    if not match:
        return None
    year, rest, day, time_part = match.group(1), match.group(2), match.group(3), match.group(4)
    if not rest:
        return year
    if not day:
        return f"{year}-01"
    if not time_part:
        return f"{year}-01-01"
    zone = match.group(7) or ""
    return f"{year}-01-01T00:00:00{zone}"


class Pseudonymizer:
    """Replaces patient data with stable pseudonyms (see the module's docstring for what stays)."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._known: dict[str, str] = {}
        self._ordered: tuple[str, ...] | None = ()
        self._lock = threading.Lock()

    # -- values -----------------------------------------------------------------------------
    def __call__(self, value: str) -> str:
        """The pseudonym of one value: a date keeps its year, anything else becomes ``pseudo-<hmac>``."""
        if value.startswith(PSEUDO_PREFIX) or not value.strip():
            return value
        dated = year_kept(value)
        if dated is not None:
            replaced = dated
        elif _TIME.match(value):
            replaced = "00:00:00"
        else:
            replaced = PSEUDO_PREFIX + hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:12]
        if replaced != value:
            self._remember(value, replaced)
        return replaced

    def _remember(self, value: str, replaced: str) -> None:
        if len(value) < 4 or value in self._known or len(self._known) >= MAX_KNOWN:
            return
        with self._lock:
            self._known[value] = replaced
            self._ordered = None  # sorted again when text is next scrubbed

    def text(self, text: str) -> str:
        """Free text without any patient value replaced so far, phone number or e-mail address."""
        if not text:
            return text
        ordered = self._ordered
        if ordered is None:
            with self._lock:
                ordered = self._ordered = tuple(sorted(self._known, key=len, reverse=True))
        for value in ordered:
            if value in text:
                text = text.replace(value, self._known[value])
        text = _PHONE.sub(lambda m: self(m.group(0)), text)
        return _EMAIL.sub(lambda m: self(m.group(0)), text)

    # -- FHIR JSON --------------------------------------------------------------------------
    def resource(self, node: Any) -> Any:
        """A copy of FHIR JSON (a resource, a Bundle, a list of them) with patient data replaced."""
        return self._node(node, None, None, False)

    def _node(self, node: Any, key: str | None, rtype: str | None, dates_kept: bool) -> Any:
        if isinstance(node, list):
            return [self._node(v, key, rtype, dates_kept) for v in node]
        if not isinstance(node, dict):
            return self._leaf(key, node, rtype, dates_kept)
        own_type = node.get("resourceType")
        if isinstance(own_type, str):
            if own_type in DEFINITIONS:
                return node
            rtype = own_type
            dates_kept = own_type in AVAILABILITY or (own_type == "Appointment" and node.get("status") == "proposed")
        if rtype is None:  # JSON outside any FHIR resource: look for resources inside it
            return {k: self._node(v, k, None, False) if isinstance(v, (dict, list)) else v for k, v in node.items()}
        coding = "code" in node or "system" in node
        attachment = (key in ("attachment", "photo", "valueAttachment", "presentedForm", "content")
                      or ("contentType" in node and bool(set(node) & {"data", "url", "title"})))
        attachment = attachment and set(node) <= ATTACHMENT_MEMBERS | {"id", "extension", "language"}
        parameter = rtype == "Parameters" and key in ("parameter", "part")
        message = rtype == "OperationOutcome"
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "div" and key == "text" and isinstance(v, str):
                out[k] = EMPTY_DIV
            elif attachment and k in ("data", "hash") and isinstance(v, str):
                out[k] = REMOVED_BASE64
            elif attachment and k in ("url", "title") and isinstance(v, str):
                out[k] = self(v)
            elif k == "answer" and rtype == "QuestionnaireResponse":
                out[k] = self._answers(v, rtype)
            elif k == "display" and isinstance(v, str):
                # a code's display is terminology, kept; an outcome's display is a message
                out[k] = (self.text(v) if message else v) if coding else self(v)
            elif k == "name" and parameter and isinstance(v, str):
                out[k] = v
            else:
                out[k] = self._node(v, k, rtype, dates_kept)
        return out

    def _answers(self, answers: Any, rtype: str) -> Any:
        if not isinstance(answers, list):
            return self._node(answers, "answer", rtype, False)
        out = []
        for answer in answers:
            if not isinstance(answer, dict):
                out.append(self._node(answer, "answer", rtype, False))
                continue
            cleaned: dict[str, Any] = {}
            for k, v in answer.items():
                if not k.startswith("value"):
                    cleaned[k] = self._node(v, k, rtype, False)
                elif isinstance(v, bool):
                    cleaned[k] = False
                elif isinstance(v, (int, float)):
                    cleaned[k] = 0
                elif isinstance(v, str):
                    cleaned[k] = self(v)
                elif isinstance(v, dict) and k == "valueReference":
                    cleaned[k] = self._node(v, k, rtype, False)
                elif isinstance(v, dict):
                    cleaned[k] = {m: (self._answer_member(x) if m not in ("system", "unit", "contentType") else x)
                                  for m, x in v.items()}
                else:
                    cleaned[k] = self._node(v, k, rtype, False)
            out.append(cleaned)
        return out

    def _answer_member(self, value: Any) -> Any:
        if isinstance(value, bool):
            return False
        if isinstance(value, (int, float)):
            return 0
        if isinstance(value, str):
            return self(value)
        return self._node(value, None, "QuestionnaireResponse", False)

    def _leaf(self, key: str | None, value: Any, rtype: str | None, dates_kept: bool) -> Any:
        if rtype is None or not isinstance(value, str) or key is None:
            return value
        if key in KEPT_ELEMENTS:
            return value
        if key in URL_ELEMENTS:
            return self.query(value)
        if year_kept(value) is not None:
            return value if dates_kept else self(value)
        return self(value)

    # -- URLs -------------------------------------------------------------------------------
    def query(self, uri: str) -> str:
        """A URL with the values of its non-structural query parameters replaced."""
        parts = urlsplit(uri)
        if not parts.query:
            return uri
        pairs = [(k, self._query_value(k, v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        return urlunsplit(parts._replace(query=urlencode(pairs, safe="|:/,")))

    def _query_value(self, name: str, value: str) -> str:
        base = name.split(":")[0]
        if base in KEPT_QUERY and "." not in name and base not in DATE_QUERY:
            return value
        if not value or value.startswith(PSEUDO_PREFIX):
            return value
        if "," in value:
            return ",".join(self._query_value(name, v) for v in value.split(","))
        dated = _PREFIXED_DATE.match(value)
        if dated:
            return (dated.group(1) or "") + (year_kept(dated.group(2)) or dated.group(2))
        if base in DATE_QUERY:
            return value
        if "|" in value:
            system, _, code = value.partition("|")
            return f"{system}|{self(code)}" if code else value
        return self(value)
