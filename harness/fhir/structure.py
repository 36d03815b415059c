"""What HL7's R4 StructureDefinitions say and the R4 JSON schema cannot: the rules, and how they run.

The rules come from ``schemas/r4/structure.json.gz`` (generated once by
``scripts/build_fhir_rules.py`` from HL7's R4 4.0.1 StructureDefinitions and value sets, pinned by
sha256 in ``schemas/MANIFEST.json`` and refused when altered). They run in two places, so that
validation stays one fast pass over each resource:

1. **In the JSON schema**, compiled by jsonschema-rs: :func:`overlay` rewrites the shipped schema in
   memory (after its hash check) so that it also says

   - ``type``: a complex element is a JSON object (``maritalStatus: "Married"`` is refused); an
     ``integer`` is a whole number, ``positiveInt`` > 0, ``unsignedInt`` >= 0;
   - ``required``: every element of min 1, primitives included (``status`` or ``_status``), and one
     variant of a required choice (``Immunization.occurrence[x]``);
   - ``cardinality``: min > 1 and a bounded max of repeating elements;
   - ``choice``: at most one variant of a choice element (``valueQuantity`` with ``valueString``);
   - ``binding``: codes of required bindings whose value set expands locally, on ``code`` elements
     the schema leaves open (``Immunization.status: "done"``) and on ``CodeableConcept`` (one coding
     from the value set: ``Condition.clinicalStatus``);
   - ``empty``: no ``""``, ``{}``, ``[]``, ``[{}]`` and no element holding only an ``id`` (ele-1);
   - ``date``: calendar dates only (``2025-02-30`` and ``2023-02-29`` are refused);
   - and it mends one gap of HL7's R4 schema: the ``_x`` of the 70 ``canonical`` elements (their
     extensions) is accepted;
   - invariants that are a matter of presence: ext-1, cpt-2, qty-3, att-1, pat-1, app-1/2/3/4,
     obs-3, obs-6, con-1/2, lst-1, bdl-5, bdl-8, imm-1, org-1, ppc-1, prr-1, cpl-3, mad-1, fhs-1/2,
     grp-1, apr-1, cmp-1/2, cpb-1/2, qrs-1, tim-1/2/6/7/8/10, ipn-1, exp-1.

   Each overlaid keyword is registered with its rule, so an error of the schema pass is reported
   under the rule it enforces (:meth:`Overlay.rule_for`).

2. **In Python**, once per resource (:class:`InvariantChecker`): invariants that compare values or
   look across the resource (ref-1 and dom-2/3/4/5 around contained resources, bdl-1/2/3/4/7/9/10/
   11/12, obs-7, con-3 (a warning in R4), con-4, con-5, ait-1/2, lst-2, lst-3), and references to a
   resource type the element does not allow (``reference``, from ``Reference.targetProfile``),
   reached through per-type tables of the resource's and its backbone elements' references,
   precomputed at load. per-1 runs in Python too, but is called by the schema pass at each Period
   (a custom keyword, :class:`PeriodOrder`), so no walk of our own is needed; ref-1 for a resource
   without contained resources is a schema rule (no ``#id`` reference at all).

Not checked: invariants that need a terminology server or a FHIRPath engine over the whole
resource (txt-1/2 narrative XHTML, que-*, sdf-*, eld-* and the like), bindings to value sets that
do not expand locally (LOINC, SNOMED CT, UCUM, mime types), extensible and preferred bindings.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "PERIOD_KEYWORD",
    "InvariantChecker",
    "Overlay",
    "PeriodOrder",
    "RuleInfo",
    "StructureRules",
    "overlay",
    "strict_local_references",
]

_PRIMITIVE_NUMBERS = {"integer": None, "positiveInt": 1, "unsignedInt": 0}
#: The schema keyword that checks per-1 on every Period (see :class:`PeriodOrder`).
PERIOD_KEYWORD = "fhirPeriodOrder"
_DATE_TYPES = ("date", "dateTime", "instant")
# A date that matches FHIR's format but is not in the calendar: 30/31 February, 31 April, June,
# September, November, 29 February of a year that is not a leap year.
_NON_LEAP = r"(?:\d\d(?:[02468][1235679]|[13579][01345789])|(?:[02468][1235679]|[13579][01345789])00)"
IMPOSSIBLE_DATE = rf"^(?:\d{{4}}-(?:02-3[01]|(?:0[469]|11)-31)|{_NON_LEAP}-02-29)"
_IMPOSSIBLE_DATE_RE = re.compile(IMPOSSIBLE_DATE)
_REFERENCE_RE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


@dataclass(frozen=True)
class RuleInfo:
    """What an overlaid schema keyword enforces: the rule name and the words for the message."""

    rule: str
    text: str
    element: str = ""


class StructureRules:
    """The parsed ``structure.json.gz``: types, value sets, invariants, schema names."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.types: dict[str, dict[str, dict[str, Any]]] = data["types"]
        self.valuesets: dict[str, list[list[str]]] = data["valuesets"]
        self.invariants: dict[str, dict[str, str]] = data["invariants"]
        self.schema_names: dict[str, str] = data["schema_names"]
        self.resource_types: frozenset[str] = frozenset(data["resource_types"])

    def human(self, key: str) -> str:
        return self.invariants.get(key, {}).get("human", key)


# --------------------------------------------------------------------------------------------
# The schema overlay


def _variants(leaf: str, types: list[str]) -> list[tuple[str, str]]:
    """(JSON name, type) of an element: one for a plain element, one per type for a choice."""
    if not leaf.endswith("[x]"):
        return [(leaf, types[0] if types else "")]
    base = leaf[:-3]
    return [(base + t[0].upper() + t[1:], t) for t in types]


def _is_primitive(type_code: str) -> bool:
    return bool(type_code) and type_code[0].islower() and "." not in type_code


class Overlay:
    """The rewritten schema definitions and, for each overlaid keyword, the rule it enforces."""

    def __init__(self, definitions: dict[str, Any]) -> None:
        self.definitions = definitions
        self._rules: dict[tuple[str | int, ...], RuleInfo] = {}

    def register(self, path: tuple[str | int, ...], info: RuleInfo) -> None:
        self._rules[("definitions", *path)] = info

    def rule_for(self, schema_path: tuple[str | int, ...]) -> RuleInfo | None:
        """The rule of the keyword at ``schema_path`` (as jsonschema-rs reports it), if overlaid."""
        return self._rules.get(schema_path)

    def add_all_of(self, definition: str, node: dict[str, Any], info: RuleInfo) -> None:
        target = self.definitions[definition]
        all_of = target.setdefault("allOf", [])
        all_of.append(node)
        keyword = next(iter(node))
        self.register((definition, "allOf", len(all_of) - 1, keyword), info)


def _wrap(prop: dict[str, Any]) -> dict[str, Any]:
    """A property schema that can take sibling keywords ($ref ignores its siblings in draft-06)."""
    if "$ref" in prop:
        return {"allOf": [{"$ref": prop["$ref"]}]}
    return {k: v for k, v in prop.items() if k != "description"}


def overlay(definitions: Mapping[str, Any], rules: StructureRules) -> Overlay:
    """A copy of the R4 schema ``definitions`` that also enforces ``rules`` (see the module doc)."""
    result = Overlay(copy.deepcopy(dict(definitions)))
    defs = result.definitions
    _primitive_overlays(result)
    for key, elements in rules.types.items():
        name = rules.schema_names.get(key)
        if name is None or name not in defs:
            continue
        definition = defs[name]
        if "properties" in definition and definition.get("type") is None:
            definition["type"] = "object"
            result.register((name, "type"), RuleInfo("type", f"a JSON object ({key})"))
        if "properties" in definition:
            if key == "Element":  # the _x of a primitive: {"id": ...} beside its value is fine
                definition["minProperties"] = 1
                result.register((name, "minProperties"), RuleInfo("empty", "an empty object"))
            elif "." in key or key not in rules.resource_types:
                # ele-1: {} and {"id": ...} alike have no value and no children (one cheap keyword:
                # the property names stop at the first that is not "id")
                result.add_all_of(name, {"not": {"propertyNames": {"const": "id"}}},
                                  RuleInfo("empty", "an empty element (no value, no children)"))
            else:
                definition["minProperties"] = 1
                result.register((name, "minProperties"), RuleInfo("empty", "an empty object"))
        props = definition.get("properties", {})
        required = set(definition.get("required", []))
        for leaf, entry in elements.items():
            _element_overlay(result, rules, key, name, props, required, leaf, entry)
    _invariant_overlays(result, rules)
    return result


def _primitive_overlays(result: Overlay) -> None:
    defs = result.definitions
    for name, definition in defs.items():
        if not name[:1].islower() or not isinstance(definition, dict):
            continue
        if name == "xhtml" and "type" not in definition:  # the schema says nothing of Narrative.div
            definition["type"] = "string"
            result.register((name, "type"), RuleInfo("type", "a string of XHTML"))
        if definition.get("type") == "string":
            definition["minLength"] = 1
            result.register((name, "minLength"), RuleInfo("empty", "an empty string"))
        if name in _PRIMITIVE_NUMBERS:
            definition["type"] = "integer"
            result.register((name, "type"), RuleInfo("type", f"a whole number (FHIR {name})"))
            minimum = _PRIMITIVE_NUMBERS[name]
            if minimum is not None:
                definition["minimum"] = minimum
                result.register((name, "minimum"), RuleInfo("format", f"a FHIR {name} ({'> 0' if minimum else '>= 0'})"))
        if name in _DATE_TYPES:
            result.add_all_of(name, {"not": {"type": "string", "pattern": IMPOSSIBLE_DATE}},
                              RuleInfo("date", "not a calendar date"))


def _element_overlay(result: Overlay, rules: StructureRules, key: str, name: str, props: dict[str, Any],
                     required: set[str], leaf: str, entry: Mapping[str, Any]) -> None:
    types: list[str] = entry["types"]
    variants = [(n, t) for n, t in _variants(leaf, types) if n in props]
    if not variants:
        return
    element = f"{key}.{leaf}"
    minimum, maximum = int(entry["min"]), str(entry["max"])
    # required, primitives and choices included
    if minimum >= 1:
        names = [n for n, t in variants]
        alternatives = names + [f"_{n}" for n, t in variants if _is_primitive(t) and f"_{n}" in props]
        if len(alternatives) == 1:
            if names[0] not in required:
                result.add_all_of(name, {"required": alternatives}, RuleInfo("required", "required", element))
        else:
            result.add_all_of(name, {"anyOf": [{"required": [a]} for a in alternatives]},
                              RuleInfo("required", "required", element))
    # at most one variant of a choice (Extension's 50 value types: see _invariant_overlays)
    if len(variants) > 1 and key != "Extension":
        deps = result.definitions[name].setdefault("dependencies", {})
        names = [n for n, _ in variants]
        for n in names:
            # one regular expression over the object's few keys: far cheaper than a required
            # check per other variant (Extension.value[x] has 50)
            others = "|".join(re.escape(o) for o in names if o != n)
            deps[n] = {"propertyNames": {"not": {"pattern": f"^_?(?:{others})$"}}}
            result.register((name, "dependencies", n, "propertyNames", "not"),
                            RuleInfo("choice", f"one type only for {leaf}", element))
    for json_name, type_code in variants:
        prop = props[json_name]
        if _is_primitive(type_code) and "$ref" not in prop.get("items", prop):
            _inline_primitive(result, name, json_name, prop, type_code)
        if type_code == "canonical" and f"_{json_name}" not in props:
            # HL7's R4 JSON schema has no _x for canonical elements: their extensions are valid FHIR
            element_ref = {"$ref": "#/definitions/Element"}
            props[f"_{json_name}"] = {"type": "array", "items": element_ref} if prop.get("type") == "array" else element_ref
        repeating = prop.get("type") == "array"
        if repeating:
            prop["minItems"] = max(1, minimum)
            result.register((name, "properties", json_name, "minItems"),
                            RuleInfo("cardinality" if minimum > 1 else "empty", f"at least {max(1, minimum)} item(s)", element))
            if maximum not in ("*", "1") and maximum.isdigit():
                prop["maxItems"] = int(maximum)
                result.register((name, "properties", json_name, "maxItems"),
                                RuleInfo("cardinality", f"at most {maximum} items", element))
            under = f"_{json_name}"
            if under in props and props[under].get("type") == "array":
                props[under]["minItems"] = 1
                result.register((name, "properties", under, "minItems"), RuleInfo("empty", "at least 1 item", element))
        binding = entry.get("binding")
        if binding and binding in rules.valuesets:
            _binding_overlay(result, rules, name, json_name, prop, repeating, type_code, binding, element)


def _inline_primitive(result: Overlay, name: str, json_name: str, prop: dict[str, Any], type_code: str) -> None:
    """The primitive overlays, for a primitive the schema writes inline (choice variants)."""
    repeating = prop.get("type") == "array" and isinstance(prop.get("items"), dict)
    holder = prop["items"] if repeating else prop
    where: tuple[str | int, ...] = (name, "properties", json_name, *(("items",) if repeating else ()))
    if holder.get("type") == "string" and "minLength" not in holder:
        holder["minLength"] = 1
        result.register((*where, "minLength"), RuleInfo("empty", "an empty string"))
    if type_code in _PRIMITIVE_NUMBERS:
        holder["type"] = "integer"
        result.register((*where, "type"), RuleInfo("type", f"a whole number (FHIR {type_code})"))
        minimum = _PRIMITIVE_NUMBERS[type_code]
        if minimum is not None:
            holder["minimum"] = minimum
            result.register((*where, "minimum"), RuleInfo("format", f"a FHIR {type_code} ({'> 0' if minimum else '>= 0'})"))
    if type_code in _DATE_TYPES and "not" not in holder:
        holder["not"] = {"type": "string", "pattern": IMPOSSIBLE_DATE}
        result.register((*where, "not"), RuleInfo("date", "not a calendar date"))


def _binding_overlay(result: Overlay, rules: StructureRules, name: str, json_name: str, prop: dict[str, Any],
                     repeating: bool, type_code: str, binding: str, element: str) -> None:
    pairs = rules.valuesets[binding]
    where: tuple[str | int, ...] = (name, "properties", json_name, *(("items",) if repeating else ()))
    holder = prop["items"] if repeating else prop
    vs_name = binding.rsplit("/", 1)[-1]
    if type_code == "code":
        if "enum" in holder:  # the schema already lists the codes, but says nothing of the type
            if "type" not in holder:
                holder["type"] = "string"
                result.register((*where, "type"), RuleInfo("type", "a code (a JSON string)", element))
            return
        # the codes say all a code's pattern would: no $ref needed
        wrapped = {"type": "string", "enum": sorted({code for _, code in pairs})}
        result.register((*where, "enum"), RuleInfo("binding", f"a code of the required value set {vs_name}", element))
        result.register((*where, "type"), RuleInfo("type", "a code (a JSON string)", element))
    elif type_code == "CodeableConcept":
        by_system: dict[str, list[str]] = {}
        for system, code in pairs:
            by_system.setdefault(system, []).append(code)
        match = {"anyOf": [{"required": ["system", "code"],
                            "properties": {"system": {"const": s}, "code": {"enum": sorted(c)}}}
                           for s, c in sorted(by_system.items())]}
        wrapped = _wrap(holder)
        wrapped["required"] = ["coding"]
        wrapped["properties"] = {"coding": {"contains": match}}
        info = RuleInfo("binding", f"a coding of the required value set {vs_name}", element)
        result.register((*where, "required"), info)
        result.register((*where, "properties", "coding", "contains"), info)
    else:
        return
    if repeating:
        prop["items"] = wrapped
    else:
        prop.clear()
        prop.update(wrapped)


def strict_local_references(result: Overlay, rules: StructureRules) -> dict[str, Any]:
    """The definitions for a resource without contained resources: no ``#id`` reference (ref-1)."""
    definitions = dict(result.definitions)
    for name in ("Reference",):
        reference = copy.deepcopy(definitions[name])
        reference.setdefault("allOf", []).append({"properties": {"reference": {"not": {"type": "string", "pattern": "^#."}}}})
        definitions[name] = reference
        index = len(reference["allOf"]) - 1
        result.register((name, "allOf", index, "properties", "reference", "not"), RuleInfo("ref-1", rules.human("ref-1")))
    return definitions


def _presence(*names: str) -> dict[str, Any]:
    return {"anyOf": [{"required": [n]} for n in names]}


def _invariant_overlays(result: Overlay, rules: StructureRules) -> None:
    defs = result.definitions
    choice = {key: _choice_names(rules, key) for key in ("Extension", "Observation", "MedicationAdministration.dosage",
                                                          "FamilyMemberHistory", "Goal.target")}

    def add(key: str, definition: str, node: dict[str, Any]) -> None:
        if definition in defs:
            result.add_all_of(definition, node, RuleInfo(key, rules.human(key)))

    def depend(key: str, definition: str, when: str, node: dict[str, Any]) -> None:
        if definition not in defs:
            return
        deps = defs[definition].setdefault("dependencies", {})
        if when in deps:  # already a choice dependency: combine
            deps[when] = {"allOf": [deps[when], node]}
            first = next(iter(node))
            result.register((definition, "dependencies", when, "allOf", 1, first), RuleInfo(key, rules.human(key)))
            old = result.rule_for(("definitions", definition, "dependencies", when, "propertyNames", "not"))
            if old:
                result.register((definition, "dependencies", when, "allOf", 0, "propertyNames", "not"), old)
            return
        deps[when] = node
        result.register((definition, "dependencies", when, next(iter(node))), RuleInfo(key, rules.human(key)))

    # per-1, in Python but called by the schema pass at each Period only (no walk of our own)
    if "Period" in defs:
        defs["Period"][PERIOD_KEYWORD] = True
        result.register(("Period", PERIOD_KEYWORD), RuleInfo("per-1", rules.human("per-1")))
    # "has a value": some property is named value... (one regular expression over a few keys)
    has_value = {"not": {"propertyNames": {"not": {"pattern": "^value[A-Z]"}}}}
    add("ext-1", "Extension", {"oneOf": [{"required": ["extension"]}, has_value]})
    # At most one value[x]: a dependency per value type costs a lookup per type on every
    # extension; counting keys is cheap. An extension holding a value has url, maybe id, and the
    # value: two value types make one key too many. (Extensions with _value... are not counted.)
    has_underscore_value = {"not": {"propertyNames": {"not": {"pattern": "^_value[A-Z]"}}}}
    result.add_all_of("Extension", {"anyOf": [
        {"required": ["extension"]}, has_underscore_value,
        {"not": {"required": ["id"]}, "maxProperties": 2},
        {"required": ["id"], "maxProperties": 3},
    ]}, RuleInfo("choice", "one type only for value[x]", "Extension.value[x]"))
    depend("cpt-2", "ContactPoint", "value", {"required": ["system"]})
    for q in ("Quantity", "Age", "Count", "Distance", "Duration", "SimpleQuantity", "MoneyQuantity"):
        depend("qty-3", q, "code", {"required": ["system"]})
    depend("att-1", "Attachment", "data", {"required": ["contentType"]})
    add("pat-1", "Patient_Contact", _presence("name", "telecom", "address", "organization"))
    add("app-1", "Appointment_Participant", _presence("type", "actor"))
    depend("app-2", "Appointment", "start", {"required": ["end"]})
    depend("app-2", "Appointment", "end", {"required": ["start"]})
    add("app-3", "Appointment", {"anyOf": [{"required": ["start", "end"]},
                                           {"properties": {"status": {"enum": ["proposed", "cancelled", "waitlist"]}}}]})
    depend("app-4", "Appointment", "cancelationReason", {"properties": {"status": {"enum": ["noshow", "cancelled"]}}})
    add("obs-3", "Observation_ReferenceRange", _presence("low", "high", "text"))
    depend("obs-6", "Observation", "dataAbsentReason", {"not": _presence(*choice["Observation"])})
    add("con-1", "Condition_Stage", _presence("summary", "assessment"))
    add("con-2", "Condition_Evidence", _presence("code", "detail"))
    depend("lst-1", "List", "emptyReason", {"not": {"required": ["entry"]}})
    add("bdl-5", "Bundle_Entry", _presence("resource", "request", "response"))
    if "Bundle_Entry" in defs:
        result.add_all_of("Bundle_Entry", {"properties": {"fullUrl": {"not": {"type": "string", "pattern": "/_history/"}}}},
                          RuleInfo("bdl-8", rules.human("bdl-8")))
        index = len(defs["Bundle_Entry"]["allOf"]) - 1
        result.register(("Bundle_Entry", "allOf", index, "properties", "fullUrl", "not"), RuleInfo("bdl-8", rules.human("bdl-8")))
    add("imm-1", "Immunization_Education", _presence("documentType", "reference"))
    add("org-1", "Organization", _presence("identifier", "name"))
    add("ipn-1", "InsurancePlan", _presence("identifier", "name"))
    add("ppc-1", "Consent", _presence("policy", "policyRule"))
    depend("prr-1", "ServiceRequest", "orderDetail", {"required": ["code"]})
    add("cpl-3", "CarePlan_Activity", {"not": {"required": ["detail", "reference"]}})
    add("mad-1", "MedicationAdministration_Dosage", _presence("dose", *choice["MedicationAdministration.dosage"]))
    fmh = choice["FamilyMemberHistory"]
    ages = [n for n in fmh if n.startswith("age")]
    borns = [n for n in fmh if n.startswith("born")]
    add("fhs-1", "FamilyMemberHistory", {"not": {"allOf": [_presence(*ages), _presence(*borns)]}})
    depend("fhs-2", "FamilyMemberHistory", "estimatedAge", _presence(*ages))
    for detail in (n for n in choice["Goal.target"] if n.startswith("detail")):
        depend("gol-1", "Goal_Target", detail, {"required": ["measure"]})
    depend("grp-1", "Group", "member", {"required": ["actual"], "properties": {"actual": {"const": True}}})
    add("apr-1", "AppointmentResponse", _presence("participantType", "actor"))
    add("cmp-1", "Composition_Section", _presence("text", "entry", "section"))
    depend("cmp-2", "Composition_Section", "emptyReason", {"not": {"required": ["entry"]}})
    add("cpb-1", "CapabilityStatement", _presence("rest", "messaging", "document"))
    add("cpb-2", "CapabilityStatement", _presence("description", "software", "implementation"))
    add("qrs-1", "QuestionnaireResponse_Item", {"not": {"required": ["answer", "item"]}})
    depend("tim-1", "Timing_Repeat", "duration", {"required": ["durationUnit"]})
    depend("tim-2", "Timing_Repeat", "period", {"required": ["periodUnit"]})
    depend("tim-6", "Timing_Repeat", "periodMax", {"required": ["period"]})
    depend("tim-7", "Timing_Repeat", "durationMax", {"required": ["duration"]})
    depend("tim-8", "Timing_Repeat", "countMax", {"required": ["count"]})
    add("tim-10", "Timing_Repeat", {"not": {"required": ["timeOfDay", "when"]}})
    add("exp-1", "Expression", _presence("expression", "reference"))


def _choice_names(rules: StructureRules, key: str) -> list[str]:
    """The JSON names of the value-like choice of ``key`` (value[x], rate[x], age[x] + born[x]...)."""
    names: list[str] = []
    for leaf, entry in rules.types.get(key, {}).items():
        if leaf.endswith("[x]") and leaf[:-3] in ("value", "rate", "age", "born", "detail"):
            names.extend(n for n, _ in _variants(leaf, entry["types"]))
    return names


# --------------------------------------------------------------------------------------------
# Python invariants


Finding = tuple[str, str, str, object]  # (relative path, rule, message, offending value)


def _codings(concept: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(concept, dict):
        coding = concept.get("coding")
        if isinstance(coding, list):
            for c in coding:
                if isinstance(c, dict):
                    yield c


def _has_code(concept: object, system: str, codes: tuple[str, ...]) -> bool:
    return any(c.get("system") == system and c.get("code") in codes for c in _codings(concept))


def _parse_instant(text: str) -> tuple[str, datetime | None]:
    """(date part, aware datetime or None) of a FHIR date/dateTime/instant string."""
    if len(text) <= 10:
        return text, None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text[:10], None
    if value.tzinfo is None:
        return text[:10], None
    return text[:10], value.astimezone(timezone.utc)


_DAY_RE = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")


def period_out_of_order(start: object, end: object) -> bool:
    """per-1: True only when ``start`` is certainly after ``end`` (unequal precisions compare by date).

    Values that are not FHIR dates are left to the format check."""
    if not isinstance(start, str) or not isinstance(end, str):
        return False
    if not _DAY_RE.match(start[:10]) or not _DAY_RE.match(end[:10]):
        return False
    start_day, start_at = _parse_instant(start)
    end_day, end_at = _parse_instant(end)
    if start_at is not None and end_at is not None:
        return start_at > end_at
    common = min(len(start_day), len(end_day))
    return start_day[:common] > end_day[:common]


_COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_AI_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def _condition(resource: Mapping[str, Any], human: Callable[[str], str]) -> Iterator[Finding]:
    clinical = resource.get("clinicalStatus")
    refuted = _has_code(resource.get("verificationStatus"), _COND_VERIFICATION, ("entered-in-error",))
    abated = any(k.startswith("abatement") for k in resource)
    if abated and not _has_code(clinical, _COND_CLINICAL, ("resolved", "remission", "inactive")):
        yield ".clinicalStatus", "con-4", human("con-4"), clinical
    if refuted and clinical is not None:
        yield ".clinicalStatus", "con-5", human("con-5"), clinical
    if clinical is None and not refuted:
        categories = resource.get("category")
        if isinstance(categories, list) and any(
            _has_code(c, "http://terminology.hl7.org/CodeSystem/condition-category", ("problem-list-item",))
            for c in categories
        ):
            yield ".clinicalStatus", "con-3", human("con-3"), None


def _allergy(resource: Mapping[str, Any], human: Callable[[str], str]) -> Iterator[Finding]:
    refuted = _has_code(resource.get("verificationStatus"), _AI_VERIFICATION, ("entered-in-error",))
    clinical = resource.get("clinicalStatus")
    if not refuted and clinical is None:
        yield ".clinicalStatus", "ait-1", human("ait-1"), None
    if refuted and clinical is not None:
        yield ".clinicalStatus", "ait-2", human("ait-2"), clinical


def _list(resource: Mapping[str, Any], human: Callable[[str], str]) -> Iterator[Finding]:
    mode = resource.get("mode")
    entries = resource.get("entry")
    if not isinstance(entries, list):
        return
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        if mode != "changes" and "deleted" in entry:
            yield f".entry[{i}].deleted", "lst-2", human("lst-2"), entry["deleted"]
        if mode != "working" and "date" in entry:
            yield f".entry[{i}].date", "lst-3", f"{human('lst-3')} (mode is {mode!r})", entry["date"]


def _observation(resource: Mapping[str, Any], human: Callable[[str], str]) -> Iterator[Finding]:
    if not any(k.startswith("value") for k in resource):
        return
    own = {(c.get("system"), c.get("code")) for c in _codings(resource.get("code"))}
    components = resource.get("component")
    if not own or not isinstance(components, list):
        return
    for i, component in enumerate(components):
        if isinstance(component, dict) and own & {(c.get("system"), c.get("code")) for c in _codings(component.get("code"))}:
            yield f".component[{i}].code", "obs-7", human("obs-7"), component.get("code")


_SEARCH_OR_HISTORY = ("searchset", "history")
_REQUESTS = ("batch", "transaction", "history")
_RESPONSES = ("batch-response", "transaction-response", "history")


def _bundle(resource: Mapping[str, Any], human: Callable[[str], str]) -> Iterator[Finding]:
    kind = resource.get("type")
    if "total" in resource and kind not in _SEARCH_OR_HISTORY:
        yield ".total", "bdl-1", human("bdl-1"), resource["total"]
    entries = resource.get("entry")
    entries = entries if isinstance(entries, list) else []
    seen: dict[tuple[object, object], int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        if "search" in entry and kind != "searchset":
            yield f".entry[{i}].search", "bdl-2", human("bdl-2"), entry["search"]
        if ("request" in entry) != (kind in _REQUESTS):
            yield f".entry[{i}].request", "bdl-3", human("bdl-3"), entry.get("request")
        if ("response" in entry) != (kind in _RESPONSES):
            yield f".entry[{i}].response", "bdl-4", human("bdl-4"), entry.get("response")
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and kind != "history":
            inner = entry.get("resource")
            meta = inner.get("meta") if isinstance(inner, dict) else None
            version = meta.get("versionId") if isinstance(meta, dict) else None
            key = (full_url, version)
            if key in seen:
                yield f".entry[{i}].fullUrl", "bdl-7", human("bdl-7"), full_url
            seen[key] = i
    if kind == "document":
        identifier = resource.get("identifier")
        if not (isinstance(identifier, dict) and identifier.get("system") and identifier.get("value")):
            yield ".identifier", "bdl-9", human("bdl-9"), identifier
        if not resource.get("timestamp"):
            yield ".timestamp", "bdl-10", human("bdl-10"), None
    first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    first_type = first.get("resourceType") if isinstance(first, dict) else None
    if kind == "document" and first_type != "Composition":
        yield ".entry[0].resource", "bdl-11", human("bdl-11"), first_type
    if kind == "message" and first_type != "MessageHeader":
        yield ".entry[0].resource", "bdl-12", human("bdl-12"), first_type


_RESOURCE_INVARIANTS: dict[str, Callable[[Mapping[str, Any], Callable[[str], str]], Iterator[Finding]]] = {
    "Condition": _condition,
    "AllergyIntolerance": _allergy,
    "List": _list,
    "Observation": _observation,
    "Bundle": _bundle,
}
#: Invariants whose R4 severity is "warning": reported with severity "warning".
WARNINGS = frozenset({"con-3"})


class PeriodOrder:
    """The ``fhirPeriodOrder`` keyword for jsonschema-rs: per-1 on the Period it is called for."""

    def __init__(self, parent_schema: Mapping[str, Any], value: Any, schema_path: list[str | int]) -> None:
        self.enabled = bool(value)

    def validate(self, instance: Any) -> None:
        if self.enabled and isinstance(instance, dict) and "end" in instance and "start" in instance \
                and period_out_of_order(instance["start"], instance["end"]):
            raise ValueError("per-1: the period ends before it starts")


class InvariantChecker:
    """The Python side of the R4 rules, built once from :class:`StructureRules`.

    ``check(resource, resource_type, container_ids)`` returns findings relative to the resource
    root. ``container_ids`` is given for a contained resource: the ids of its container's
    contained resources, which its local references (``#id``) may name.
    """

    def __init__(self, rules: StructureRules) -> None:
        self.rules = rules
        self._plans = self._build_plans()
        # the keys of each plan, for a set intersection with a node's keys (done in C)
        self._keys: dict[int, frozenset[str]] = {id(plan): frozenset(plan) for plan in self._plans.values()}
        self._reference_types: dict[str, str | None] = {}

    def _build_plans(self) -> dict[str, dict[str, tuple[str, tuple[str, ...] | None]]]:
        """Per resource type and backbone element: JSON name -> (child, targets) for the
        elements that are, or hold in backbone elements, a Reference with target types. Data
        types are not entered: the few references they hold (Identifier.assigner) are not
        checked for their target type."""
        types = self.rules.types
        plans: dict[str, dict[str, tuple[str, tuple[str, ...] | None]]] = {}

        def build(key: str, depth: int) -> dict[str, tuple[str, tuple[str, ...] | None]]:
            if key in plans:
                return plans[key]
            plan: dict[str, tuple[str, tuple[str, ...] | None]] = {}
            plans[key] = plan  # recursive backbones (Questionnaire.item.item) end here
            for leaf, entry in types.get(key, {}).items():
                for json_name, t in _variants(leaf, entry["types"]):
                    if t == "Reference" and entry.get("targets"):
                        plan[json_name] = ("Reference", tuple(entry["targets"]))
                    elif "." in t and depth < 6 and build(t, depth + 1):
                        plan[json_name] = (t, None)
            return plan

        for key in types:
            if "." not in key and key in self.rules.resource_types:
                build(key, 0)
        return {k: v for k, v in plans.items() if v}

    def check(self, resource: Mapping[str, Any], resource_type: str,
              container_ids: frozenset[str] | None = None) -> list[Finding]:
        found: list[Finding] = []
        human = self.rules.human
        special = _RESOURCE_INVARIANTS.get(resource_type)
        if special is not None:
            found.extend(special(resource, human))
        contained = resource.get("contained")
        if container_ids is not None:
            if "contained" in resource:
                found.append((".contained", "dom-2", human("dom-2"), None))
            meta = resource.get("meta")
            if isinstance(meta, dict):
                if "versionId" in meta or "lastUpdated" in meta:
                    found.append((".meta", "dom-4", human("dom-4"), {k: meta[k] for k in ("versionId", "lastUpdated") if k in meta}))
                if "security" in meta:
                    found.append((".meta.security", "dom-5", human("dom-5"), meta["security"]))
            found.extend(self._local_references(resource, container_ids))
        elif isinstance(contained, list) and contained:
            ids = frozenset(str(c.get("id")) for c in contained if isinstance(c, dict) and "id" in c)
            found.extend(self._dom3(resource, contained))
            found.extend(self._local_references({k: v for k, v in resource.items() if k != "contained"}, ids))
        plan = self._plans.get(resource_type)
        if plan is not None:
            self._walk(resource, plan, None, found)
        return found

    def _walk(self, node: Mapping[str, Any], plan: Mapping[str, tuple[str, tuple[str, ...] | None]], path: Any,
              found: list[Finding]) -> None:
        """Follow ``plan`` through ``node`` to every Reference with target types. ``path`` is
        built lazily: (parent, name, index or None), turned into text only for a finding."""
        for name in node.keys() & self._keys[id(plan)]:
            child, targets = plan[name]
            value = node[name]
            items = enumerate(value) if value.__class__ is list else ((None, value),)
            if targets is not None:
                for i, item in items:
                    if item.__class__ is dict:
                        reference = item.get("reference")
                        if (reference.__class__ is str and "/" in reference) or "type" in item:
                            self._reference(item, (path, name, i), targets, found)
                continue
            sub = self._plans.get(child)
            if sub is not None:
                for i, item in items:
                    if item.__class__ is dict:
                        self._walk(item, sub, (path, name, i), found)

    def _reference(self, item: Mapping[str, Any], where: Any, targets: tuple[str, ...], found: list[Finding]) -> None:
        reference = item.get("reference")
        if isinstance(reference, str):
            kind = self._reference_type(reference)
            if kind is not None and kind not in targets:
                found.append((f"{_text(where)}.reference", "reference",
                              f"a reference to {kind}, where only {_list_targets(targets)} may be referenced", reference))
                return
        kind = item.get("type")
        if isinstance(kind, str) and kind in self.rules.resource_types and kind not in targets:
            found.append((f"{_text(where)}.type", "reference",
                          f"type {kind}, where only {_list_targets(targets)} may be referenced", kind))

    def _reference_type(self, reference: str) -> str | None:
        """The resource type a RESTful reference names (``Patient`` for ``.../Patient/123``), or None."""
        known = self._reference_types
        kind = known.get(reference, "")
        if kind != "":
            return kind
        match = _REFERENCE_RE.search(reference)
        kind = match.group(1) if match and match.group(1) in self.rules.resource_types else None
        if len(known) > 50_000:
            known.clear()
        known[reference] = kind
        return kind

    def _dom3(self, resource: Mapping[str, Any], contained: list[Any]) -> Iterator[Finding]:
        strings: set[str] = set()
        _collect_strings({k: v for k, v in resource.items() if k != "contained"}, strings, 0)
        for i, item in enumerate(contained):
            if not isinstance(item, dict) or "id" not in item:
                continue
            others = [c for j, c in enumerate(contained) if j != i]
            _collect_strings(others, strings, 0)
            if f"#{item['id']}" in strings:
                continue
            inner: set[str] = set()
            _collect_strings(item, inner, 0)
            if "#" not in inner:
                yield f".contained[{i}]", "dom-3", self.rules.human("dom-3"), item.get("id")

    def _local_references(self, node: Mapping[str, Any], ids: frozenset[str]) -> Iterator[Finding]:
        """ref-1 where local references are allowed: each ``#id`` names a contained resource."""
        for where, reference in _references(node, "", 0):
            if reference.startswith("#") and len(reference) > 1 and reference[1:] not in ids:
                yield where, "ref-1", self.rules.human("ref-1"), reference

def _text(where: Any) -> str:
    """``.name[0].period`` from the lazy path (parent, name, index)."""
    parts: list[str] = []
    while where is not None:
        where, name, index = where
        parts.append(f".{name}" if index is None else f".{name}[{index}]")
    return "".join(reversed(parts))


def _references(node: object, path: str, depth: int) -> Iterator[tuple[str, str]]:
    """(path, value) of every ``reference`` string under ``node``."""
    if depth > 64:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield f"{path}.reference", value
            elif isinstance(value, (dict, list)):
                yield from _references(value, f"{path}.{key}", depth + 1)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _references(value, f"{path}[{i}]", depth + 1)


def _list_targets(targets: tuple[str, ...]) -> str:
    return targets[0] if len(targets) == 1 else f"{', '.join(targets[:-1])} or {targets[-1]}"


def _collect_strings(node: object, into: set[str], depth: int) -> None:
    """Every string starting with '#' anywhere in ``node`` (local references, canonicals, uris)."""
    if depth > 64:
        return
    if isinstance(node, dict):
        for value in node.values():
            if isinstance(value, str):
                if value.startswith("#"):
                    into.add(value)
            else:
                _collect_strings(value, into, depth + 1)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, str):
                if value.startswith("#"):
                    into.add(value)
            else:
                _collect_strings(value, into, depth + 1)


def impossible_date(value: object) -> bool:
    return isinstance(value, str) and bool(_IMPOSSIBLE_DATE_RE.match(value))
