"""Validate FHIR JSON against the schemas shipped in ``harness/fhir/schemas``, offline.

What is checked, per FHIR version (``schemas/MANIFEST.json`` records source, version, licence
and sha256 of each file; loading refuses a file whose sha256 differs):

- **R4**: HL7's R4 JSON schema (4.0.0, draft-06) with the 4.0.1 technical correction applied in
  memory (``4.0.1`` in the FHIRVersion enums, the ``Meta`` choice of the open types). Unknown
  properties, wrong JSON types, bad primitive formats and codes outside required value sets
  are all caught.
- **STU3**: HL7's STU3 JSON schema (3.0.x, draft-04). It builds types with ``allOf`` and so has no
  ``additionalProperties: false``: unknown properties are **not** flagged. Two defects of that
  schema are fixed in memory: ten enums placed on arrays instead of their items, and regular
  expressions without ``^...$`` anchors.
- **DSTU2**: HL7 published no JSON schema for DSTU2. The harness ships its own minimal
  structural schema (known resourceType, common elements, Bundle, OperationOutcome, Parameters,
  Patient and Conformance in more depth); :attr:`FhirValidator.info` says ``kind="structural"``.

JSON schema cannot express FHIR's cardinalities of primitives (``required`` never lists them),
``minItems``, invariants or profiles: a clean result means "well-formed", not "conformant".

How: each resource is validated against its own type
(``{"$ref": "#/definitions/<Type>", "definitions": ...}``), compiled lazily with jsonschema-rs and
cached. Nested resources (``contained``, ``Bundle.entry.resource``, ``Bundle.entry.response.outcome``
and ``Parameters.parameter.resource``) are stubbed out of the enclosing resource's check and
validated separately against their own type, their paths prefixed with where they sit
(``Bundle.entry[2].resource.birthDate``). That is both faster than the schema's ``oneOf`` over
every type and gives precise messages.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from harness.errors import HarnessError
from harness.fhir.structure import (
    PERIOD_KEYWORD,
    WARNINGS,
    PeriodOrder,
    InvariantChecker,
    Overlay,
    StructureRules,
    overlay,
    strict_local_references,
)

__all__ = [
    "SCHEMA_DIR",
    "VERSIONS",
    "FhirValidator",
    "SchemaInfo",
    "SchemaIntegrityError",
    "ValidationIssue",
    "load_pinned",
    "load_schema",
    "normalize_version",
    "structure_rules",
    "validator_for",
]

SCHEMA_DIR = Path(__file__).parent / "schemas"
VERSIONS = ("R4", "STU3", "DSTU2")

_ALIASES = {
    "R4": "R4",
    "STU3": "STU3",
    "DSTU3": "STU3",
    "R3": "STU3",
    "DSTU2": "DSTU2",
    "R2": "DSTU2",
}
_ABSTRACT_TYPES = frozenset({"Resource", "DomainResource"})
_VALUE_LIMIT = 80
_MESSAGE_LIMIT = 200
_MAX_NESTING = 8
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SchemaIntegrityError(HarnessError):
    """A shipped FHIR schema is missing, unreadable, or not the file MANIFEST.json pins."""


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in a resource.

    ``path`` is FHIRPath-like, rooted at the resource type (``Patient.name[0].family``) or, for a
    resource nested in another, at where it sits (``Bundle.entry[2].resource.birthDate``); ``$``
    when the document has no usable type. ``rule`` names what is broken:

    - from the structure (R4 StructureDefinitions, enforced in the schema pass): ``type`` (wrong
      JSON type, a complex element given as a string), ``required``, ``cardinality``, ``choice``
      (two types for one choice element), ``binding`` (a code outside a required value set),
      ``empty`` (``""``, ``{}``, ``[]``: ele-1), ``date`` (not a calendar date), ``reference`` (a
      reference to a resource type the element does not allow);
    - from the JSON schema: ``format`` (a primitive not in its FHIR format), ``unknown-element``,
      ``schema`` (anything else the schema refuses);
    - an invariant's key (``ext-1``, ``lst-3``, ``per-1``, ``dom-3``, ...);
    - a profile's rule (``us-core-patient|6.1.0``), from :mod:`harness.fhir.profiles`.

    ``value`` is the offending value as short JSON (``""`` when there is none, e.g. a missing
    element), ``element`` the path with indices removed, rooted at the innermost resource type
    (``Immunization.status``, for grouping), ``severity`` ``error`` or ``warning``.
    """

    path: str
    rule: str
    message: str
    value: str = ""
    element: str = ""
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.rule}]"


@dataclass(frozen=True)
class SchemaInfo:
    """What MANIFEST.json says about the schema of one FHIR version."""

    version: str
    fhir_version: str
    kind: str  # "hl7": HL7's own schema; "structural": the harness's minimal check
    file: str
    sha256: str
    draft: int
    source: Mapping[str, Any] = field(hash=False, compare=False)
    license: str = ""
    overlays: tuple[str, ...] = ()

    @property
    def official(self) -> bool:
        return self.kind == "hl7"


def normalize_version(version: str) -> str:
    """'R4' | 'STU3' | 'DSTU2' (case-insensitive; 'DSTU3'/'R3' and 'R2' are accepted too)."""
    key = str(version).strip().upper()
    if key not in _ALIASES:
        raise ValueError(f"unknown FHIR version {version!r}: expected one of {', '.join(VERSIONS)}")
    return _ALIASES[key]


# --------------------------------------------------------------------------------------------
# Loading: manifest, hash check, overlays


def _read_manifest(schema_dir: Path) -> dict[str, Any]:
    path = schema_dir / "MANIFEST.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaIntegrityError(f"{path}: cannot read the FHIR schema manifest ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("schemas"), dict):
        raise SchemaIntegrityError(f"{path}: no 'schemas' object in the FHIR schema manifest")
    return manifest


def _schema_info(version: str, entry: Mapping[str, Any], manifest_path: Path) -> SchemaInfo:
    try:
        return SchemaInfo(
            version=version,
            fhir_version=str(entry["fhir_version"]),
            kind=str(entry["kind"]),
            file=str(entry["file"]),
            sha256=str(entry["sha256"]).lower(),
            draft=int(entry["draft"]),
            source=dict(entry.get("source") or {}),
            license=str(entry.get("license", "")),
            overlays=tuple(str(o["name"]) for o in entry.get("overlays", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaIntegrityError(f"{manifest_path}: entry {version} is incomplete ({exc!r})") from exc


def load_schema(version: str, schema_dir: Path | None = None) -> tuple[SchemaInfo, dict[str, Any]]:
    """Read the shipped schema of ``version``, verify its sha256, apply its overlays.

    Raises :class:`SchemaIntegrityError` when the manifest or the file is missing or unreadable,
    or when the file's sha256 (of the uncompressed bytes) is not the one the manifest pins.
    """
    version = normalize_version(version)
    base = Path(schema_dir) if schema_dir is not None else SCHEMA_DIR
    manifest = _read_manifest(base)
    entry = manifest["schemas"].get(version)
    if not isinstance(entry, dict):
        raise SchemaIntegrityError(f"{base / 'MANIFEST.json'}: no schema listed for FHIR {version}")
    info = _schema_info(version, entry, base / "MANIFEST.json")
    path = base / info.file
    try:
        raw = path.read_bytes()
        if entry.get("compression", "none") == "gzip":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SchemaIntegrityError(f"{path}: cannot read the FHIR {version} schema ({exc})") from exc
    actual = hashlib.sha256(raw).hexdigest()
    if actual != info.sha256:
        raise SchemaIntegrityError(
            f"{path}: sha256 {actual[:16]}... differs from {info.sha256[:16]}... pinned in "
            f"MANIFEST.json; the shipped FHIR {version} schema was altered or damaged, reinstall "
            "the harness"
        )
    try:
        schema = json.loads(raw)
    except ValueError as exc:  # only reachable if the manifest pins a broken file
        raise SchemaIntegrityError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(schema, dict) or not isinstance(schema.get("definitions"), dict):
        raise SchemaIntegrityError(f"{path}: no 'definitions' object in the FHIR {version} schema")
    for name in info.overlays:
        overlay = _OVERLAYS.get(name)
        if overlay is None:
            raise SchemaIntegrityError(f"{base / 'MANIFEST.json'}: unknown overlay {name!r} for {version}")
        try:
            overlay(schema["definitions"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise SchemaIntegrityError(f"{path}: overlay {name!r} does not apply ({exc!r})") from exc
    return info, schema


def load_pinned(section: str, key: str, schema_dir: Path | None = None) -> tuple[dict[str, Any], Any]:
    """(manifest entry, parsed JSON) of the shipped file ``MANIFEST.json[section][key]``, hash-verified.

    ``section`` is ``rules`` (the R4 structure rules) or ``profiles`` (US Core). Raises
    :class:`SchemaIntegrityError` naming the file when it is missing, unreadable, not the file the
    manifest pins (sha256 of the uncompressed bytes), or not JSON.
    """
    base = Path(schema_dir) if schema_dir is not None else SCHEMA_DIR
    manifest = _read_manifest(base)
    entry = (manifest.get(section) or {}).get(key)
    if not isinstance(entry, dict) or "file" not in entry or "sha256" not in entry:
        raise SchemaIntegrityError(f"{base / 'MANIFEST.json'}: no {section} entry {key!r}")
    path = base / str(entry["file"])
    try:
        raw = path.read_bytes()
        if entry.get("compression", "none") == "gzip":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SchemaIntegrityError(f"{path}: cannot read the shipped {key} {section} ({exc})") from exc
    actual = hashlib.sha256(raw).hexdigest()
    pinned = str(entry["sha256"]).lower()
    if actual != pinned:
        raise SchemaIntegrityError(
            f"{path}: sha256 {actual[:16]}... differs from {pinned[:16]}... pinned in MANIFEST.json; "
            f"the shipped {key} {section} file was altered or damaged, reinstall the harness"
        )
    try:
        return entry, json.loads(raw)
    except ValueError as exc:
        raise SchemaIntegrityError(f"{path}: not JSON ({exc})") from exc


@lru_cache(maxsize=4)
def structure_rules(version: str = "R4", schema_dir: Path | None = None) -> StructureRules | None:
    """The shipped StructureDefinition rules of ``version`` (R4 only), or None for STU3/DSTU2."""
    version = normalize_version(version)
    base = Path(schema_dir) if schema_dir is not None else SCHEMA_DIR
    if version not in (_read_manifest(base).get("rules") or {}):
        return None
    _, data = load_pinned("rules", version, base)
    try:
        return StructureRules(data)
    except (KeyError, TypeError) as exc:
        raise SchemaIntegrityError(f"{base}: the {version} structure rules are incomplete ({exc!r})") from exc


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


_R4_FHIR_VERSION_ENUMS = (
    ("CapabilityStatement", "fhirVersion"),
    ("StructureDefinition", "fhirVersion"),
    ("ImplementationGuide", "fhirVersion"),
    ("ImplementationGuide_Resource", "fhirVersion"),
)
_R4_META_CHOICES = (
    ("Extension", "valueMeta"),
    ("ElementDefinition", "defaultValueMeta"),
    ("ElementDefinition", "fixedMeta"),
    ("ElementDefinition", "patternMeta"),
    ("ElementDefinition_Example", "valueMeta"),
    ("Parameters_Parameter", "valueMeta"),
    ("StructureMap_Source", "defaultValueMeta"),
    ("Task_Input", "valueMeta"),
    ("Task_Output", "valueMeta"),
)


def _overlay_r4_401(definitions: dict[str, Any]) -> None:
    """The differences between HL7's 4.0.0 and 4.0.1 R4 schemas."""
    for type_name, prop in _R4_FHIR_VERSION_ENUMS:
        target = definitions[type_name]["properties"][prop]
        target = target.get("items", target)
        if "4.0.1" not in target["enum"]:
            target["enum"] = [*target["enum"], "4.0.1"]
    for type_name, prop in _R4_META_CHOICES:
        definitions[type_name]["properties"].setdefault(prop, {"$ref": "#/definitions/Meta"})


def _overlay_stu3_array_enum(definitions: dict[str, Any]) -> None:
    """Move an enum that sits on an array (so nothing can match) onto the array's items."""
    for node in _walk(definitions):
        if node.get("type") == "array" and "enum" in node:
            items = node.setdefault("items", {})
            items["enum"] = node.pop("enum")


def _overlay_stu3_anchor_patterns(definitions: dict[str, Any]) -> None:
    """FHIR's regular expressions describe the whole value: anchor them."""
    for node in _walk(definitions):
        pattern = node.get("pattern")
        if isinstance(pattern, str) and not (pattern.startswith("^") and pattern.endswith("$")):
            node["pattern"] = f"^(?:{pattern})$"


_OVERLAYS: dict[str, Callable[[dict[str, Any]], None]] = {
    "r4-4.0.1-technical-correction": _overlay_r4_401,
    "stu3-array-enum": _overlay_stu3_array_enum,
    "stu3-anchor-patterns": _overlay_stu3_anchor_patterns,
}


def _resource_types(definitions: Mapping[str, Any]) -> frozenset[str]:
    resource_list = definitions.get("ResourceList", {})
    if "oneOf" in resource_list:
        names = {str(branch.get("$ref", "")).rsplit("/", 1)[-1] for branch in resource_list["oneOf"]}
    else:
        names = set(resource_list.get("properties", {}).get("resourceType", {}).get("enum", []))
    return frozenset(n for n in names if n in definitions and n not in _ABSTRACT_TYPES)


# --------------------------------------------------------------------------------------------
# Messages


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: object, limit: int = _VALUE_LIMIT) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shorten(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _options(values: Sequence[object], shown: int = 8) -> str:
    head = ", ".join(_show(v, 40) for v in values[:shown])
    return head if len(values) <= shown else f"{head}, … ({len(values) - shown} more)"


def _join(root: str, parts: Sequence[str | int]) -> str:
    out = [root]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(out)


def _primitive_name(schema_path: Sequence[str | int]) -> str | None:
    """'date' for a schema path ending in ``definitions/date/pattern``; None for inline patterns."""
    if len(schema_path) >= 3 and schema_path[-3] == "definitions":
        name = schema_path[-2]
        if isinstance(name, str) and name[:1].islower():
            return name
    return None


def _got(value: object) -> str:
    """'integer 42', 'string "M"', 'null': what a value is, for messages."""
    if value is None:
        return "null"
    return f"{_json_type(value)} {_show(value)}"


def _pattern_names(definitions: Mapping[str, Any]) -> dict[str, str]:
    """Pattern -> FHIR primitive name, from the ``value[x]`` choices of Extension.

    HL7's STU3 schema writes primitive patterns inline (``birthDate: {"pattern": ...}``) rather
    than under ``definitions/date``; Extension.valueDate and its siblings name them.
    """
    extension = definitions.get("Extension", {})
    blocks = [extension, *extension.get("allOf", [])]
    names: dict[str, str] = {}
    for block in blocks:
        for prop, spec in block.get("properties", {}).items():
            pattern = spec.get("pattern") if isinstance(spec, dict) else None
            if prop.startswith("value") and len(prop) > 5 and isinstance(pattern, str):
                names.setdefault(pattern, prop[5].lower() + prop[6:])
    return names


# --------------------------------------------------------------------------------------------
# The validator


def _nested_resources(resource: Mapping[str, Any], resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(relative path, resource) for every resource held inside ``resource``."""
    contained = resource.get("contained")
    if isinstance(contained, list):
        for i, item in enumerate(contained):
            if isinstance(item, dict):
                yield f".contained[{i}]", item
    if resource_type == "Bundle":
        entries = resource.get("entry")
        if isinstance(entries, list):
            for i, entry in enumerate(entries):
                if not isinstance(entry, dict):
                    continue
                inner = entry.get("resource")
                if isinstance(inner, dict):
                    yield f".entry[{i}].resource", inner
                response = entry.get("response")
                outcome = response.get("outcome") if isinstance(response, dict) else None
                if isinstance(outcome, dict):
                    yield f".entry[{i}].response.outcome", outcome
    elif resource_type == "Parameters":
        yield from _parameter_resources(resource.get("parameter"), ".parameter")


def _parameter_resources(parameters: object, path: str, depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(parameters, list) or depth > _MAX_NESTING:
        return
    for i, parameter in enumerate(parameters):
        if not isinstance(parameter, dict):
            continue
        inner = parameter.get("resource")
        if isinstance(inner, dict):
            yield f"{path}[{i}].resource", inner
        yield from _parameter_resources(parameter.get("part"), f"{path}[{i}].part", depth + 1)


_INDEX = re.compile(r"\[\d+\]")
_KEYWORD_RULES = {
    "type": "type",
    "enum": "binding",
    "pattern": "format",
    "required": "required",
    "additionalProperties": "unknown-element",
    "minLength": "empty",
    "minItems": "empty",
    "minProperties": "empty",
}
# Resources that hold resources other than in contained.
_HOLDERS = frozenset({"Bundle", "Parameters"})
# At one path, these rules say all there is to say: other findings there are dropped.
_DOMINANT = ("type", "empty")


class FhirValidator:
    """Validates FHIR resources of one version: the shipped JSON schema and, for R4, the rules
    derived from HL7's StructureDefinitions (:mod:`harness.fhir.structure`).

    Construction loads and verifies the schema and the rules (raises :class:`SchemaIntegrityError`);
    each resource type is compiled on first use. Thread-safe. Prefer :func:`validator_for`, which
    keeps one instance per version.
    """

    def __init__(self, version: str, *, schema_dir: Path | None = None, structure: bool = True) -> None:
        """``structure=False`` leaves out the StructureDefinition rules: the JSON schema alone
        (what the harness checked before them; for comparisons)."""
        self.version = normalize_version(version)
        self.info, schema = load_schema(self.version, schema_dir)
        definitions = dict(schema["definitions"])
        self.resource_types: frozenset[str] = _resource_types(definitions)
        self._pattern_names = _pattern_names(definitions)
        self.rules: StructureRules | None = structure_rules(self.version, schema_dir) if structure else None
        self._overlay: Overlay | None = None
        self._invariants: InvariantChecker | None = None
        # Resources inside resources are validated on their own, against their own type.
        definitions["ResourceList"] = {"type": "object"}
        self._strict: dict[str, Any] | None = None
        if self.rules is not None:
            self._overlay = overlay(definitions, self.rules)
            definitions = self._overlay.definitions
            self._invariants = InvariantChecker(self.rules)
            # a resource with no contained resources may hold no local reference: ref-1 in the schema
            self._strict = strict_local_references(self._overlay, self.rules)
        self._definitions = definitions
        self._validator_class: type[jsonschema_rs.Validator] = (
            jsonschema_rs.Draft4Validator if self.info.draft == 4 else jsonschema_rs.Draft6Validator
        )
        self._compiled: dict[str, jsonschema_rs.Validator] = {}
        self._compiled_strict: dict[str, jsonschema_rs.Validator] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FhirValidator({self.version!r}, kind={self.info.kind!r}, compiled={len(self._compiled)})"

    @property
    def checks(self) -> str:
        """What this validator checks, in words (for reports)."""
        if self.rules is not None:
            return (f"HL7's FHIR {self.version} JSON schema and the StructureDefinition rules (cardinality, "
                    "types, choices, required bindings, invariants, reference targets)")
        if self.info.official:
            return f"HL7's FHIR {self.version} JSON schema (structure, primitive formats, code enums)"
        return f"a minimal structural check of FHIR {self.version} (no official JSON schema exists)"

    def validate(self, resource: object, *, warnings: bool = False) -> list[ValidationIssue]:
        """Every problem found in ``resource`` (a parsed JSON document); ``[]`` means valid.

        Errors only, unless ``warnings`` (invariants of severity warning in the specification,
        such as con-3) is set.
        """
        issues: list[ValidationIssue] = []
        self._validate(resource, None, issues, 0, None)
        if not issues:
            return issues
        if not warnings:
            issues = [i for i in issues if i.severity == "error"]
        return _merge(issues) if len(issues) > 1 else issues

    def is_valid(self, resource: object) -> bool:
        return not self.validate(resource)

    def compiled_types(self) -> frozenset[str]:
        """The resource types compiled so far (they are compiled on first use)."""
        with self._lock:
            return frozenset(self._compiled) | frozenset(self._compiled_strict)

    def _schema_validator(self, resource_type: str, strict: bool = False) -> jsonschema_rs.Validator:
        """The compiled schema of ``resource_type``; ``strict`` for a resource that contains none."""
        cache = self._compiled_strict if strict and self._strict is not None else self._compiled
        compiled = cache.get(resource_type)
        if compiled is not None:
            return compiled
        with self._lock:
            compiled = cache.get(resource_type)
            if compiled is None:
                definitions = self._strict if cache is self._compiled_strict else self._definitions
                root = {"$ref": f"#/definitions/{resource_type}", "definitions": definitions}
                # FHIR's patterns need no lookaround: the linear-time engine, twice as fast
                keywords = {PERIOD_KEYWORD: PeriodOrder} if self.rules is not None else None
                compiled = self._validator_class(root, offline=True, pattern_options=jsonschema_rs.RegexOptions(),
                                                 keywords=keywords)
                cache[resource_type] = compiled
            return compiled

    def _validate(self, resource: object, where: str | None, issues: list[ValidationIssue], depth: int,
                  container_ids: frozenset[str] | None) -> None:
        here = where or "$"
        if not isinstance(resource, dict):
            issues.append(ValidationIssue(here, "type", f"a FHIR resource is a JSON object, got {_got(resource)}",
                                          _show(resource)))
            return
        if "resourceType" not in resource:
            issues.append(ValidationIssue(here, "required", "resourceType is missing"))
            return
        resource_type = resource["resourceType"]
        if not isinstance(resource_type, str):
            issues.append(
                ValidationIssue(
                    f"{where}.resourceType" if where else "$.resourceType",
                    "type",
                    f"resourceType must be a string, got {_got(resource_type)}",
                    _show(resource_type),
                )
            )
            return
        if resource_type not in self.resource_types:
            issues.append(
                ValidationIssue(
                    f"{where}.resourceType" if where else "$.resourceType",
                    "enum",
                    f"unknown resourceType {_show(resource_type)} for FHIR {self.version}",
                    _show(resource_type),
                )
            )
            return
        root = where or resource_type
        strict = container_ids is None and not resource.get("contained")
        validator = self._schema_validator(resource_type, strict)
        if not validator.is_valid(resource):
            for error in validator.iter_errors(resource):
                issues.extend(self._issues(error, root, resource_type))
        if self._invariants is not None:
            for relative, rule, message, value in self._invariants.check(resource, resource_type, container_ids):
                issues.append(ValidationIssue(
                    f"{root}{relative}", rule, message, "" if value is None else _show(value),
                    _element(resource_type, relative), "warning" if rule in WARNINGS else "error"))
        if depth >= _MAX_NESTING or ("contained" not in resource and resource_type not in _HOLDERS):
            return
        contained_ids: frozenset[str] | None = None
        for relative, nested in _nested_resources(resource, resource_type):
            inner_ids = None
            if relative.startswith(".contained["):
                if contained_ids is None:
                    contained_ids = frozenset(str(c.get("id")) for c in resource.get("contained", [])
                                              if isinstance(c, dict) and "id" in c)
                inner_ids = container_ids if container_ids is not None else contained_ids
            self._validate(nested, f"{root}{relative}", issues, depth + 1, inner_ids)

    def _issues(self, error: jsonschema_rs.ValidationError, root: str, resource_type: str) -> list[ValidationIssue]:
        kind: Any = error.kind
        keyword = str(kind.name)
        parts = list(error.instance_path)
        path = _join(root, parts)
        relative = path[len(root):]
        info = self._overlay.rule_for(tuple(error.schema_path)) if self._overlay is not None else None
        if info is not None:
            return [self._overlay_issue(error, info, path, relative, resource_type)]
        rule = _KEYWORD_RULES.get(keyword, "schema")
        if keyword == "additionalProperties":
            return [
                ValidationIssue(_join(path, [str(name)]), rule, f"unknown property {_show(name, 60)}", "",
                                _element(resource_type, _join(relative, [str(name)])))
                for name in kind.unexpected
            ]
        if keyword == "required":
            name = str(kind.property)
            return [ValidationIssue(_join(path, [name]), rule, f"required property {_show(name, 60)} is missing", "",
                                    _element(resource_type, _join(relative, [name])))]
        return [ValidationIssue(path, rule, self._phrase(error, keyword), _show(error.instance),
                                _element(resource_type, relative))]

    def _overlay_issue(self, error: jsonschema_rs.ValidationError, info: Any, path: str, relative: str,
                       resource_type: str) -> ValidationIssue:
        instance = error.instance
        rule = info.rule
        value = _show(instance)
        if rule == "required":
            leaf = info.element.rsplit(".", 1)[-1]
            return ValidationIssue(f"{path}.{leaf}", rule, f"required element {leaf} is missing (min 1)", "",
                                   _element(resource_type, f"{relative}.{leaf}"))
        if rule == "choice":
            leaf = info.element.rsplit(".", 1)[-1]
            base = leaf[:-3]
            present = [k for k in instance if isinstance(k, str) and k.startswith(base) and k[len(base):][:1].isupper()]
            if len(present) < 2:  # Extension's key count: url missing, or another key too many
                return ValidationIssue(path, "schema", "an extension with a value has only url, id and the value",
                                       _show(instance), _element(resource_type, relative))
            return ValidationIssue(f"{path}.{leaf}", rule, f"{leaf} is given as {len(present)} types: {', '.join(present)}",
                                   _show({k: instance[k] for k in present}), _element(resource_type, f"{relative}.{leaf}"))
        if rule == "type":
            message = f"expected {info.text}, got {_got(instance)}"
        elif rule == "empty":
            what = "an empty array" if isinstance(instance, list) else info.text
            message = f"{what} is not allowed (ele-1: every element has a value or children)"
        elif rule == "cardinality":
            message = f"{info.element.rsplit('.', 1)[-1]} must have {info.text}, got {len(instance) if isinstance(instance, list) else 1}"
        elif rule == "binding":
            if isinstance(instance, dict) and "coding" not in instance:
                message = f"no coding: {info.text} is required"
            elif isinstance(instance, list):  # CodeableConcept.coding: name the codes, report the concept
                codes = [f"{c.get('system', '')}#{c.get('code', '')}" for c in instance if isinstance(c, dict)]
                value = _show(codes)
                path, relative = path[: -len(".coding")], relative[: -len(".coding")]
                message = f"{', '.join(codes) or 'no code'}: not {info.text}"
            else:
                message = f"{value} is not {info.text}"
        elif rule == "date":
            message = f"{value} is {info.text}"
        elif rule == "format":
            message = f"{value} is not {info.text}"
        else:  # an invariant
            message = info.text
        return ValidationIssue(path, rule, _shorten(message), value, _element(resource_type, relative))

    def _phrase(self, error: jsonschema_rs.ValidationError, rule: str) -> str:
        kind: Any = error.kind
        instance = error.instance
        if rule == "type":
            return f"expected {' or '.join(str(t) for t in kind.types)}, got {_got(instance)}"
        if rule == "enum":
            return f"{_show(instance)} is not one of {_options(list(kind.options))}"
        if rule == "const":
            return f"expected {_show(kind.expected_value)}, got {_show(instance)}"
        if rule == "pattern":
            primitive = _primitive_name(error.schema_path) or self._pattern_names.get(str(kind.pattern))
            if primitive:
                return f"{_show(instance)} is not a valid FHIR {primitive}"
            return f"{_show(instance)} does not match the pattern {_show(kind.pattern, 60)}"
        return _shorten(error.message)


def _element(resource_type: str, relative: str) -> str:
    """``Immunization.status`` from ``.status`` (or ``.entry[2].resource.status``...): no indices."""
    return resource_type + _INDEX.sub("", relative)


def _merge(issues: list[ValidationIssue]) -> list[ValidationIssue]:
    """One issue per (path, rule); where ``type`` or ``empty`` is said of a path, nothing else is."""
    dominant: dict[str, str] = {}
    for issue in issues:
        if issue.rule in _DOMINANT and issue.path not in dominant:
            dominant[issue.path] = issue.rule
    seen: set[tuple[str, str]] = set()
    merged: list[ValidationIssue] = []
    for issue in issues:
        key = (issue.path, issue.rule)
        if key in seen:
            continue
        top = dominant.get(issue.path)
        if top is not None and issue.rule != top and issue.rule not in _DOMINANT:
            continue
        if top == "type" and issue.rule == "empty":
            continue
        seen.add(key)
        merged.append(issue)
    return merged


@lru_cache(maxsize=None)
def _shared_validator(version: str) -> FhirValidator:
    return FhirValidator(version)


def validator_for(version: str) -> FhirValidator:
    """The process-wide validator of ``version`` ('R4' | 'STU3' | 'DSTU2'), built once."""
    return _shared_validator(normalize_version(version))
