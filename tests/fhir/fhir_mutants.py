"""Invalid R4 resources, one defect each, made from valid ones: the detection corpus.

``mutants(bases, per_class, seed)`` returns, for every defect class of :data:`CLASSES`, up to
``per_class`` mutants, each a deep copy of a valid base with exactly one defect put in at a
random site of the right kind, found by walking the base with the R4 structure rules (every
element's type, cardinality and binding). Seeded: the same seed gives the same mutants.

The classes are those of the harness's detection table: wrong primitive / JSON type, a complex
element given as a primitive, a missing required element, a code outside a required binding,
an extension without url, two types for one choice element, empty values, invariants, impossible
dates, references to a resource type the element does not allow.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from harness.fhir.structure import StructureRules, _is_primitive, _variants
from harness.fhir.validation import structure_rules

CLASSES = (
    "primitive-type",
    "complex-as-primitive",
    "missing-required",
    "binding",
    "extension-url",
    "choice",
    "empty",
    "invariant",
    "date",
    "reference",
)
#: The rules the validator is expected to report for each class (the first is the usual one).
EXPECTED: dict[str, tuple[str, ...]] = {
    "primitive-type": ("type",),
    "complex-as-primitive": ("type",),
    "missing-required": ("required",),
    "binding": ("binding",),
    "extension-url": ("required",),
    "choice": ("choice",),
    "empty": ("empty", "format", "binding"),
    "date": ("date",),
    "reference": ("reference",),
}
_NUMBERS = {"integer", "positiveInt", "unsignedInt", "decimal"}
_DATES = {"date", "dateTime", "instant"}


@dataclass(frozen=True)
class Mutant:
    defect: str        # one of CLASSES
    detail: str        # what was done, e.g. "Observation.status deleted" or "lst-3"
    base: str          # the valid resource it was made from
    path: str          # where the defect sits
    resource: dict[str, Any]
    expected: tuple[str, ...]  # rules a validator should report


@dataclass
class Site:
    """One element present in a resource: where it sits, what the definitions say of it."""

    holder: dict[str, Any]
    name: str           # JSON name (a choice's variant: valueQuantity)
    leaf: str           # the element's name in the definitions (value[x])
    entry: dict[str, Any]
    type_code: str
    path: str
    owner: str          # the type or backbone key the element belongs to


def sites(resource: dict[str, Any], rules: StructureRules) -> list[Site]:
    """Every element present in ``resource`` (and in the resources of a Bundle), typed."""
    out: list[Site] = []
    _walk(resource, resource["resourceType"], resource["resourceType"], rules, out, 0)
    for i, entry in enumerate(resource.get("entry", []) if resource["resourceType"] == "Bundle" else []):
        inner = entry.get("resource")
        if isinstance(inner, dict) and isinstance(inner.get("resourceType"), str):
            _walk(inner, inner["resourceType"], f"Bundle.entry[{i}].resource", rules, out, 0)
    return out


def _walk(node: dict[str, Any], key: str, path: str, rules: StructureRules, out: list[Site], depth: int) -> None:
    if depth > 12:
        return
    for leaf, entry in rules.types.get(key, {}).items():
        for name, type_code in _variants(leaf, entry["types"]):
            if name not in node:
                continue
            out.append(Site(node, name, leaf, entry, type_code, f"{path}.{name}", key))
            value = node[name]
            if _is_primitive(type_code) or type_code == "Resource":
                continue
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    where = f"{path}.{name}[{i}]" if isinstance(value, list) else f"{path}.{name}"
                    _walk(item, type_code, where, rules, out, depth + 1)


# --------------------------------------------------------------------------------------------
# One mutation per class: (resource copy, rng, rules) -> (detail, path) or None when the base
# has no site for it


Mutation = Callable[[dict[str, Any], random.Random, StructureRules], "tuple[str, str] | None"]


def _pick(candidates: list[Site], rng: random.Random) -> Site | None:
    return rng.choice(candidates) if candidates else None


def _primitive_type(resource: dict[str, Any], rng: random.Random, rules: StructureRules) -> tuple[str, str] | None:
    site = _pick([s for s in sites(resource, rules) if _is_primitive(s.type_code) and s.type_code != "xhtml"
                  and not isinstance(s.holder[s.name], list) and s.name not in ("id", "url", "resourceType")], rng)
    if site is None:
        return None
    value = site.holder[site.name]
    if site.type_code == "boolean":
        wrong: object = rng.choice(["true" if value else "false", 1])
    elif site.type_code in _NUMBERS:
        wrong = rng.choice([str(value), 2.5 if site.type_code != "decimal" else "1.5"]) if site.type_code != "decimal" else str(value)
    else:
        wrong = rng.choice([42, True, 3.5])
    site.holder[site.name] = wrong
    return f"{site.type_code} given as {type(wrong).__name__}", site.path


def _complex_as_primitive(resource: dict[str, Any], rng: random.Random, rules: StructureRules) -> tuple[str, str] | None:
    site = _pick([s for s in sites(resource, rules) if not _is_primitive(s.type_code)
                  and s.type_code not in ("Resource", "Extension") and not isinstance(s.holder[s.name], list)], rng)
    if site is None:
        return None
    value = site.holder[site.name]
    text = value.get("text") or value.get("display") if isinstance(value, dict) else None
    site.holder[site.name] = text if isinstance(text, str) and text else rng.choice(["Married", 3, "2024-01-01"])
    return f"{site.type_code} given as a primitive", site.path


def _missing_required(resource: dict[str, Any], rng: random.Random, rules: StructureRules) -> tuple[str, str] | None:
    site = _pick([s for s in sites(resource, rules) if int(s.entry["min"]) >= 1
                  and s.leaf not in ("url",) and s.owner != "Extension"], rng)
    if site is None:
        return None
    for name, _ in _variants(site.leaf, site.entry["types"]):
        site.holder.pop(name, None)
        site.holder.pop(f"_{name}", None)
    if not site.holder:
        site.holder["extension"] = [{"url": "http://example.org/fhir/StructureDefinition/note", "valueString": "x"}]
    return f"{site.owner}.{site.leaf} deleted", site.path


def _binding(resource: dict[str, Any], rng: random.Random, rules: StructureRules) -> tuple[str, str] | None:
    candidates = []
    for s in sites(resource, rules):
        binding = s.entry.get("binding")
        if not binding or binding not in rules.valuesets:
            continue
        if s.type_code == "code" or (s.type_code == "CodeableConcept" and isinstance(s.holder[s.name], dict)
                                     and s.holder[s.name].get("coding")):
            candidates.append(s)
    site = _pick(candidates, rng)
    if site is None:
        return None
    value = site.holder[site.name]
    bound = {system for system, _ in rules.valuesets[site.entry["binding"]]}
    if site.type_code == "code":
        if isinstance(value, list):
            value[0] = "done" if value[0] != "done" else "not-a-code"
        else:
            site.holder[site.name] = rng.choice(["done", f"{value}-x", "unknown-status"]) if value != "done" else "x"
    else:
        for coding in value["coding"]:
            if coding.get("system") in bound or not coding.get("system"):
                coding["code"] = f"{coding.get('code', 'x')}-x"
        if not any(c.get("system") in bound for c in value["coding"]):
            value["coding"] = [{"system": sorted(bound)[0], "code": "active-x"}]
    return f"{site.owner}.{site.leaf} outside {site.entry['binding'].rsplit('/', 1)[-1]}", site.path


def _extension_url(resource: dict[str, Any], rng: random.Random, rules: StructureRules) -> tuple[str, str] | None:
    extensions = [s for s in sites(resource, rules) if s.type_code == "Extension" and isinstance(s.holder[s.name], list)]
    site = _pick(extensions, rng)
    if site is None:
        resource.setdefault("extension", []).append({"valueString": "no url"})
        return "an extension added without url", f"{resource['resourceType']}.extension"
    item = rng.choice(site.holder[site.name])
    if not isinstance(item, dict) or "url" not in item:
        return None
    del item["url"]
    return "url deleted", site.path


_SAMPLES: dict[str, object] = {
    "string": "x", "boolean": True, "integer": 1, "decimal": 1.5, "dateTime": "2024-01-01", "date": "2024-01-01",
    "code": "x", "uri": "http://example.org", "Quantity": {"value": 1}, "CodeableConcept": {"text": "x"},
    "Period": {"start": "2024-01-01"}, "Reference": {"display": "x"}, "Range": {"low": {"value": 1}},
    "Age": {"value": 1}, "Duration": {"value": 1}, "time": "10:00:00", "instant": "2024-01-01T00:00:00Z",
}


def _choice(resource: dict[str, Any], rng: random.Random, rules: StructureRules) -> tuple[str, str] | None:
    candidates = [s for s in sites(resource, rules) if s.leaf.endswith("[x]") and len(s.entry["types"]) > 1
                  and any(t != s.type_code and t in _SAMPLES for t in s.entry["types"])]
    site = _pick(candidates, rng)
    if site is None:
        return None
    other = rng.choice([t for t in site.entry["types"] if t != site.type_code and t in _SAMPLES])
    name = site.leaf[:-3] + other[0].upper() + other[1:]
    site.holder[name] = copy.deepcopy(_SAMPLES[other])
    return f"{site.name} + {name}", site.path


def _empty(resource: dict[str, Any], rng: random.Random, rules: StructureRules) -> tuple[str, str] | None:
    site = _pick([s for s in sites(resource, rules) if s.name not in ("resourceType",) and s.type_code != "Resource"], rng)
    if site is None:
        return None
    value = site.holder[site.name]
    if isinstance(value, list):
        empty: object = rng.choice([[], [{}]] if value and isinstance(value[0], dict) else [[], [""]])
    elif isinstance(value, dict):
        empty = {}
    elif isinstance(value, str):
        empty = ""
    else:
        return None
    site.holder[site.name] = empty
    return f"{site.type_code} emptied to {empty!r}", site.path


def _date(resource: dict[str, Any], rng: random.Random, rules: StructureRules) -> tuple[str, str] | None:
    site = _pick([s for s in sites(resource, rules) if s.type_code in _DATES and isinstance(s.holder[s.name], str)], rng)
    if site is None:
        return None
    value: str = site.holder[site.name]
    year = value[:4]
    bad = rng.choice([f"{year}-02-30", f"{year}-04-31", "2023-02-29", f"{year}-11-31"])
    site.holder[site.name] = bad + value[10:] if len(value) > 10 else bad
    return f"{value} -> {site.holder[site.name]}", site.path


_COMMON_TYPES = ("Patient", "Practitioner", "Organization", "Location", "Device", "Medication", "Encounter",
                 "Observation", "Group", "RelatedPerson", "Specimen", "Substance")


def _reference(resource: dict[str, Any], rng: random.Random, rules: StructureRules) -> tuple[str, str] | None:
    candidates = []
    for s in sites(resource, rules):
        if s.type_code != "Reference" or not s.entry.get("targets"):
            continue
        items = s.holder[s.name] if isinstance(s.holder[s.name], list) else [s.holder[s.name]]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("reference"), str) and not item["reference"].startswith("#"):
                candidates.append((s, item))
    if not candidates:
        return None
    site, item = rng.choice(candidates)
    wrong = rng.choice([t for t in _COMMON_TYPES if t not in site.entry["targets"]])
    if item["reference"].startswith("urn:") or "/" not in item["reference"]:  # Synthea's urn:uuid:...
        item["reference"] = f"{wrong}/{item['reference'].rsplit(':', 1)[-1][:64]}"
    else:
        parts = item["reference"].split("/")
        at = len(parts) - 4 if len(parts) >= 4 and parts[-2] == "_history" else len(parts) - 2
        parts[at] = wrong
        item["reference"] = "/".join(parts)
    item.pop("type", None)
    return f"{site.owner}.{site.leaf} -> {wrong}", site.path


# --------------------------------------------------------------------------------------------
# Invariants: (key, applies to, mutation) with the invariant's key as expected rule


def _contained_org(org_id: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Organization", "id": org_id, "name": "Contained Org", **extra}


def _reference_it(resource: dict[str, Any], target: str) -> None:
    resource.setdefault("extension", []).append(
        {"url": "http://example.org/fhir/StructureDefinition/related", "valueReference": {"reference": target}})


def _inv_ext1(r: dict[str, Any], rng: random.Random, rules: StructureRules) -> str | None:
    exts = [s for s in sites(r, rules) if s.type_code == "Extension" and isinstance(s.holder[s.name], list)]
    with_value = [(s, e) for s in exts for e in s.holder[s.name] if isinstance(e, dict) and any(k.startswith("value") for k in e)]
    if with_value:
        site, ext = rng.choice(with_value)
        ext["extension"] = [{"url": "http://example.org/x", "valueString": "y"}]
        return site.path
    r.setdefault("extension", []).append({"url": "http://example.org/fhir/StructureDefinition/nothing"})
    return f"{r['resourceType']}.extension"


def _inv_dom2(r: dict[str, Any], rng: random.Random, rules: StructureRules) -> str | None:
    r["contained"] = [_contained_org("c1", contained=[_contained_org("c2")])]
    _reference_it(r, "#c1")
    return f"{r['resourceType']}.contained[0].contained"


def _inv_dom3(r: dict[str, Any], rng: random.Random, rules: StructureRules) -> str | None:
    r["contained"] = [_contained_org("lonely")]
    return f"{r['resourceType']}.contained[0]"


def _inv_dom4(r: dict[str, Any], rng: random.Random, rules: StructureRules) -> str | None:
    r["contained"] = [_contained_org("c1", meta=rng.choice([{"versionId": "2"}, {"lastUpdated": "2024-01-01T00:00:00Z"}]))]
    _reference_it(r, "#c1")
    return f"{r['resourceType']}.contained[0].meta"


def _inv_dom5(r: dict[str, Any], rng: random.Random, rules: StructureRules) -> str | None:
    r["contained"] = [_contained_org("c1", meta={"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]})]
    _reference_it(r, "#c1")
    return f"{r['resourceType']}.contained[0].meta.security"


def _inv_ref1(r: dict[str, Any], rng: random.Random, rules: StructureRules) -> str | None:
    refs = [(s, i) for s in sites(r, rules) if s.type_code == "Reference"
            for i in (s.holder[s.name] if isinstance(s.holder[s.name], list) else [s.holder[s.name]])
            if isinstance(i, dict) and "reference" in i]
    if refs:
        site, item = rng.choice(refs)
        item["reference"] = "#not-contained"
        item.pop("type", None)
        return site.path
    _reference_it(r, "#not-contained")
    return f"{r['resourceType']}.extension"


def _inv_per1(r: dict[str, Any], rng: random.Random, rules: StructureRules) -> str | None:
    periods = [s for s in sites(r, rules) if s.type_code == "Period" and isinstance(s.holder[s.name], dict)]
    if not periods:
        return None
    site = rng.choice(periods)
    period = site.holder[site.name]
    start = period.get("start") or period.get("end") or "2024-05-01"
    period["start"] = start
    period["end"] = f"{int(start[:4]) - 1:04d}{start[4:]}"
    return site.path


def _inv_bundle(kind: str) -> Callable[[dict[str, Any], random.Random, StructureRules], str | None]:
    def mutate(r: dict[str, Any], rng: random.Random, rules: StructureRules) -> str | None:
        if r["resourceType"] != "Bundle" or not r.get("entry"):
            return None
        entries = r["entry"]
        if kind == "bdl-1":
            r["type"], r["total"] = "collection", len(entries)
            for e in entries:
                e.pop("search", None)
            return "Bundle.total"
        if kind == "bdl-2":
            r["type"] = "collection"
            r.pop("total", None)
            entries[0]["search"] = {"mode": "match"}
            return "Bundle.entry[0].search"
        if kind == "bdl-3":
            r["type"] = "batch"
            r.pop("total", None)
            for e in entries:
                e.pop("search", None)
            return "Bundle.entry[0].request"
        if kind == "bdl-5":
            entries.append({"fullUrl": "urn:uuid:4c3a2b1a-0000-4000-8000-000000000001"})
            return f"Bundle.entry[{len(entries) - 1}]"
        if kind == "bdl-7":
            if len(entries) < 2:
                return None
            for e in entries[:2]:
                e["fullUrl"] = "https://example.org/fhir/Patient/same"
                if isinstance(e.get("resource"), dict):
                    e["resource"].setdefault("meta", {}).pop("versionId", None)
            return "Bundle.entry[1].fullUrl"
        if kind == "bdl-8":
            entries[0]["fullUrl"] = "https://example.org/fhir/Patient/p1/_history/2"
            return "Bundle.entry[0].fullUrl"
        return None
    return mutate


def _only(resource_type: str, mutate: Callable[[dict[str, Any], random.Random], str | None]) -> Callable[..., str | None]:
    def wrapped(r: dict[str, Any], rng: random.Random, rules: StructureRules) -> str | None:
        return mutate(r, rng) if r["resourceType"] == resource_type else None
    return wrapped


def _obs6(r: dict[str, Any], rng: random.Random) -> str | None:
    if not any(k.startswith("value") for k in r):
        return None
    r["dataAbsentReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "unknown"}]}
    return "Observation.dataAbsentReason"


def _obs7(r: dict[str, Any], rng: random.Random) -> str | None:
    if not any(k.startswith("value") for k in r) or not r.get("code", {}).get("coding"):
        return None
    r.setdefault("component", []).append({"code": copy.deepcopy(r["code"]), "valueString": "again"})
    return "Observation.component"


_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _con4(r: dict[str, Any], rng: random.Random) -> str | None:
    r["clinicalStatus"] = {"coding": [{"system": _CLINICAL, "code": "active"}]}
    r.pop("verificationStatus", None)
    r["abatementDateTime"] = "2024-06-01"
    for key in [k for k in r if k.startswith("abatement") and k != "abatementDateTime"]:
        del r[key]
    return "Condition.clinicalStatus"


def _con5(r: dict[str, Any], rng: random.Random) -> str | None:
    r["clinicalStatus"] = {"coding": [{"system": _CLINICAL, "code": "active"}]}
    r["verificationStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                           "code": "entered-in-error"}]}
    for key in [k for k in r if k.startswith("abatement")]:
        del r[key]
    return "Condition.clinicalStatus"


def _list_entries(r: dict[str, Any]) -> list[dict[str, Any]]:
    if not r.get("entry"):
        r["entry"] = [{"item": {"display": "an item"}}]
    return r["entry"]


def _lst1(r: dict[str, Any], rng: random.Random) -> str | None:
    _list_entries(r)
    r["emptyReason"] = {"text": "nothing to report"}
    return "List.emptyReason"


def _lst2(r: dict[str, Any], rng: random.Random) -> str | None:
    r["mode"] = rng.choice(["snapshot", "working"])
    _list_entries(r)[0]["deleted"] = True
    return "List.entry[0].deleted"


def _lst3(r: dict[str, Any], rng: random.Random) -> str | None:
    r["mode"] = rng.choice(["snapshot", "changes"])
    for e in _list_entries(r):
        e.pop("deleted", None)
    r["entry"][0]["date"] = "2024-03-01T10:00:00Z"
    return "List.entry[0].date"


def _pat1(r: dict[str, Any], rng: random.Random) -> str | None:
    r.setdefault("contact", []).append({"relationship": [{"text": "neighbour"}], "gender": "female"})
    return f"Patient.contact[{len(r['contact']) - 1}]"


def _app2(r: dict[str, Any], rng: random.Random) -> str | None:
    if "start" not in r or "end" not in r:
        return None
    del r["end"]
    return "Appointment.end"


def _org1(r: dict[str, Any], rng: random.Random) -> str | None:
    r.pop("identifier", None)
    r.pop("name", None)
    return "Organization"


def _ait1(r: dict[str, Any], rng: random.Random) -> str | None:
    r.pop("clinicalStatus", None)
    r.pop("verificationStatus", None)
    return "AllergyIntolerance.clinicalStatus"


def _cpt2(r: dict[str, Any], rng: random.Random, rules: StructureRules) -> str | None:
    telecoms = [s for s in sites(r, rules) if s.type_code == "ContactPoint" and isinstance(s.holder[s.name], list)]
    items = [(s, t) for s in telecoms for t in s.holder[s.name] if isinstance(t, dict) and "value" in t]
    if not items:
        return None
    site, telecom = rng.choice(items)
    telecom.pop("system", None)
    return site.path


INVARIANTS: dict[str, Callable[[dict[str, Any], random.Random, StructureRules], str | None]] = {
    "ext-1": _inv_ext1,
    "dom-2": _inv_dom2,
    "dom-3": _inv_dom3,
    "dom-4": _inv_dom4,
    "dom-5": _inv_dom5,
    "ref-1": _inv_ref1,
    "per-1": _inv_per1,
    "bdl-1": _inv_bundle("bdl-1"),
    "bdl-2": _inv_bundle("bdl-2"),
    "bdl-3": _inv_bundle("bdl-3"),
    "bdl-5": _inv_bundle("bdl-5"),
    "bdl-7": _inv_bundle("bdl-7"),
    "bdl-8": _inv_bundle("bdl-8"),
    "obs-6": _only("Observation", _obs6),
    "obs-7": _only("Observation", _obs7),
    "con-4": _only("Condition", _con4),
    "con-5": _only("Condition", _con5),
    "lst-1": _only("List", _lst1),
    "lst-2": _only("List", _lst2),
    "lst-3": _only("List", _lst3),
    "pat-1": _only("Patient", _pat1),
    "app-2": _only("Appointment", _app2),
    "org-1": _only("Organization", _org1),
    "ait-1": _only("AllergyIntolerance", _ait1),
    "cpt-2": _cpt2,
}
#: Invariants that apply to any DomainResource (the others need a base of their own type).
_ANY_RESOURCE = {"ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "ref-1", "per-1", "cpt-2"}

MUTATIONS: dict[str, Callable[[dict[str, Any], random.Random, StructureRules], tuple[str, str] | None]] = {
    "primitive-type": _primitive_type,
    "complex-as-primitive": _complex_as_primitive,
    "missing-required": _missing_required,
    "binding": _binding,
    "extension-url": _extension_url,
    "choice": _choice,
    "empty": _empty,
    "date": _date,
    "reference": _reference,
}


def mutants(bases: list[tuple[str, dict[str, Any]]], per_class: int = 200, seed: int = 17) -> Iterator[Mutant]:
    """Up to ``per_class`` mutants of every class (for ``invariant``, spread over its keys)."""
    rules = structure_rules("R4")
    assert rules is not None
    rng = random.Random(seed)
    order = list(range(len(bases)))
    for defect in CLASSES:
        if defect == "invariant":
            yield from _invariant_mutants(bases, per_class, rng, rules)
            continue
        made, tries = 0, 0
        while made < per_class and tries < per_class * 20:
            tries += 1
            name, base = bases[rng.choice(order)]
            resource = copy.deepcopy(base)
            done = MUTATIONS[defect](resource, rng, rules)
            if done is None:
                continue
            made += 1
            yield Mutant(defect, done[0], name, done[1], resource, EXPECTED[defect])


def _invariant_mutants(bases: list[tuple[str, dict[str, Any]]], per_class: int, rng: random.Random,
                       rules: StructureRules) -> Iterator[Mutant]:
    per_key = max(1, per_class // len(INVARIANTS))
    for key, mutate in INVARIANTS.items():
        if key in _ANY_RESOURCE:
            pool = [b for b in bases if b[1]["resourceType"] not in ("Bundle", "Parameters", "Binary")]
        elif key.startswith("bdl-"):
            pool = [b for b in bases if b[1]["resourceType"] == "Bundle"]
        else:
            wanted = {"obs": "Observation", "con": "Condition", "lst": "List", "pat": "Patient", "app": "Appointment",
                      "org": "Organization", "ait": "AllergyIntolerance"}[key.split("-")[0]]
            pool = [b for b in bases if b[1]["resourceType"] == wanted]
        made, tries = 0, 0
        while pool and made < per_key and tries < per_key * 200:
            tries += 1
            name, base = rng.choice(pool)
            resource = copy.deepcopy(base)
            path = mutate(resource, rng, rules)
            if path is None:
                continue
            made += 1
            yield Mutant("invariant", key, name, path, resource, (key,))
