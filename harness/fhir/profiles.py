"""US Core profiles a tenant claims: which profile a resource is meant to meet, whether it meets it,
and which Must Support elements the tenant never fills.

The profile data is ``schemas/us-core/us-core-<version>.json.gz`` (3.1.1, 6.1.0, 7.0.0), generated
by ``scripts/build_fhir_rules.py`` from HL7's US Core packages (CC0) and pinned by sha256 in
``schemas/MANIFEST.json``: for each profile, the constraints it adds to the base resource.

Entry points::

    claims = claimed_profiles(capability_statement)          # {"Patient": ("...us-core-patient|6.1.0",), ...}
    checker = ProfileValidator(claims)                       # or ProfileValidator.from_capability_statement(cs)
    checker.validate(resource)   -> list[ValidationIssue]    # rule "us-core-patient|6.1.0", path, value
    tally = MustSupportTally(checker); tally.add(resource)  # every resource seen for an API
    tally.gaps()                 -> list[MustSupportGap]     # "Patient: us-core-race never present in 21 resources"

What a claimed profile is checked for: its cardinalities (min, max) wherever the element occurs,
fixed and pattern values, required bindings (errors) and extensible bindings (warnings) whose
value sets expand locally, slices with a minimum (``Observation.category:VSCat``,
``Observation.component:systolic``, ``Patient.extension:race`` by url), the types a choice is
restricted to, and the resource types its references may target. Not checked: the profiles'
FHIRPath invariants (us-core-6 ...), bindings to value sets that need a terminology server (LOINC,
SNOMED CT, RxNorm filters), and the profiles of contained or referenced resources.

Which profile: a resource is validated against every claimed profile of its type whose
discriminating elements it carries: required slices and fixed or pattern values of the profile's
top-level elements (a vital-signs Observation has category ``vital-signs``; a heart rate also has
code LOINC 8867-4; a lab Observation has category ``laboratory``). A profile without such elements
(``us-core-patient``) applies to every resource of its type. A resource no claimed profile applies
to is not profile-checked (the tally counts it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.fhir.validation import ValidationIssue, load_pinned, show_value as _show

__all__ = [
    "MustSupportGap",
    "MustSupportTally",
    "Profile",
    "ProfileError",
    "ProfileSet",
    "ProfileValidator",
    "claimed_profiles",
    "profile_set",
]

#: The elements that say what a resource is, and so which profile it is meant to meet; the
#: others (components, extensions) are what it must then contain.
_IDENTITY = ("category", "code", "type", "class")
_INDEX = re.compile(r"\[\d+\]")


class ProfileError(HarnessError):
    """A profile claim the harness cannot act on (an unknown US Core version, a malformed claim)."""


# --------------------------------------------------------------------------------------------
# Navigation


def _children(node: object, name: str) -> list[Any]:
    """The values of ``name`` in ``node`` (a choice ``value[x]`` matches valueQuantity, ...)."""
    if not isinstance(node, dict):
        return []
    if name.endswith("[x]"):
        base = name[:-3]
        out: list[Any] = []
        for key, value in node.items():
            if key.startswith(base) and key[len(base):][:1].isupper():
                out.extend(value if isinstance(value, list) else [value])
        return out
    value = node.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _named(node: object, name: str) -> list[tuple[str, Any]]:
    """(JSON name, value) pairs, for paths: ``value[x]`` gives ("valueQuantity", {...})."""
    if not isinstance(node, dict):
        return []
    if name.endswith("[x]"):
        base = name[:-3]
        keys = [k for k in node if k.startswith(base) and k[len(base):][:1].isupper()]
    else:
        keys = [name] if name in node else []
    out: list[tuple[str, Any]] = []
    for key in keys:
        value = node[key]
        if isinstance(value, list):
            out.extend((f"{key}[{i}]", v) for i, v in enumerate(value))
        else:
            out.append((key, value))
    return out


def _present(value: object) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def matches_pattern(value: object, pattern: object) -> bool:
    """FHIR pattern matching: every part of ``pattern`` is in ``value`` (arrays: each pattern item
    matches some item of the value)."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(matches_pattern(value.get(k), v) for k, v in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(matches_pattern(item, p) for item in items) for p in pattern)
    return value == pattern


# --------------------------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True)
class Step:
    name: str           # the element name (``category``, ``value[x]``)
    slice: str | None   # the slice name at this step (``VSCat``), if the element id names one


@dataclass
class ProfileElement:
    """One constrained element of a profile, as the shipped data gives it."""

    id: str
    path: str
    steps: tuple[Step, ...]
    data: Mapping[str, Any]

    @property
    def min(self) -> int | None:
        value = self.data.get("min")
        return int(value) if value is not None else None

    @property
    def max(self) -> str | None:
        value = self.data.get("max")
        return str(value) if value is not None else None

    @property
    def must_support(self) -> bool:
        """Must Support, or (US Core 6+) an additional USCDI requirement such as race."""
        return bool(self.data.get("must_support") or self.data.get("uscdi"))

    @property
    def label(self) -> str:
        """How a report names the element: the extension's profile for an extension slice."""
        profiles = self.data.get("type_profile") or []
        if self.steps and self.steps[-1].name in ("extension", "modifierExtension") and profiles:
            return str(profiles[0]).rsplit("/", 1)[-1]
        return self.id


def _steps(element_id: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    for part in element_id.split(".")[1:]:
        name, _, slice_name = part.partition(":")
        steps.append(Step(name, slice_name or None))
    return tuple(steps)


class Profile:
    """One profile of the shipped set: its elements, slices and discriminating elements."""

    def __init__(self, url: str, data: Mapping[str, Any], version: str, profile_set: ProfileSet) -> None:
        self.url = url
        self.version = str(data.get("version") or version)
        self.id = str(data["id"])
        self.type = str(data["type"])
        self.title = str(data.get("title") or data.get("name") or self.id)
        self.rule = f"{self.id}|{self.version}"
        self.canonical = f"{url}|{self.version}"
        self._set = profile_set
        self.elements = [ProfileElement(e["id"], e["path"], _steps(e["id"]), e) for e in data["elements"]]
        self._by_id = {e.id: e for e in self.elements}
        self.coding_markers: list[ProfileElement] = []
        self.markers = self._markers()

    def __repr__(self) -> str:
        return f"Profile({self.rule!r})"

    def element(self, element_id: str) -> ProfileElement | None:
        return self._by_id.get(element_id)

    # -- slices

    def slice_matches(self, sliced: str, slice_name: str, item: object) -> bool | None:
        """Does ``item`` (a value of the sliced element) belong to the slice? None: cannot tell."""
        base = self._by_id.get(sliced)
        slice_element = self._by_id.get(f"{sliced}:{slice_name}")
        if slice_element is None:
            return None
        discriminators = (base.data.get("slicing") or {}).get("discriminator", []) if base else []
        if not discriminators:
            discriminators = [{"type": "value", "path": "url"}] if sliced.endswith("extension") else []
        decided = False
        for d in discriminators:
            verdict = self._discriminate(slice_element, d, item)
            if verdict is None:
                continue
            decided = True
            if not verdict:
                return False
        return True if decided else None

    def _discriminate(self, slice_element: ProfileElement, d: Mapping[str, Any], item: object) -> bool | None:
        kind, path = d.get("type"), str(d.get("path", "$this"))
        if kind not in ("value", "pattern", "profile"):
            return None
        if path in ("url", "$this") and slice_element.data.get("type_profile") and slice_element.steps[-1].name in (
                "extension", "modifierExtension"):
            return isinstance(item, dict) and item.get("url") == slice_element.data["type_profile"][0]
        target = slice_element if path == "$this" else self._by_id.get(f"{slice_element.id}.{path}")
        if target is None:
            return None
        values = [item] if path == "$this" else _values_at(item, path.split("."))
        fixed = target.data.get("fixed") or target.data.get("pattern")
        if fixed is not None:
            wanted = fixed["value"]
            exact = "fixed" in target.data and not isinstance(wanted, (dict, list))
            return any((v == wanted) if exact else matches_pattern(v, wanted) for v in values)
        binding = target.data.get("binding")
        if binding and binding.get("strength") == "required":
            codes = self._set.expansion(binding["valueSet"])
            if codes is None:
                return None
            return any(_in_value_set(v, codes) for v in values)
        return None

    # -- which profile

    def _markers(self) -> list[ProfileElement]:
        """Elements that say what a resource of this profile is (all must hold): required slices
        of its category, code, type or class with something to match on, required fixed or pattern values, a
        required code (required or extensible binding) or category (required binding) bound to a
        value set that expands here (smoking status codes, vital-sign codes); and the required slices
        of ``code.coding`` (one of them must hold: pulse oximetry's two LOINC codes)."""
        out: list[ProfileElement] = []
        for e in self.elements:
            if len(e.steps) != 1 or (e.min or 0) < 1:
                continue
            step = e.steps[0]
            binding = e.data.get("binding") or {}
            if step.slice is not None and step.name in _IDENTITY:
                out.append(e)
            elif step.slice is None and ("fixed" in e.data or "pattern" in e.data):
                out.append(e)
            elif step.slice is None and self._set.expansion(binding.get("valueSet", "")) is not None and (
                    (step.name == "category" and binding.get("strength") == "required")
                    or (step.name == "code" and binding.get("strength") in ("required", "extensible"))):
                out.append(e)
        if not out:  # a slice the profile is named after, even if optional (clinical-result's category)
            out = [e for e in self.elements if len(e.steps) == 1 and e.steps[0].slice is not None
                   and e.steps[0].name in ("category", "code")]
        self.coding_markers = [e for e in self.elements if len(e.steps) == 2 and e.steps[0].name == "code"
                               and e.steps[0].slice is None and e.steps[1].name == "coding"
                               and e.steps[1].slice is not None and (e.min or 0) >= 1]
        return out

    def applies_to(self, resource: Mapping[str, Any]) -> bool:
        if resource.get("resourceType") != self.type:
            return False
        for marker in self.markers:
            step = marker.steps[0]
            values = _children(resource, step.name)
            if step.slice is not None:
                verdicts = [self.slice_matches(f"{self.type}.{step.name}", step.slice, v) for v in values]
                if any(v is None for v in verdicts) and not any(verdicts):
                    continue  # cannot tell: not a discriminator here
                if not any(verdicts):
                    return False
            elif "fixed" in marker.data or "pattern" in marker.data:
                fixed = marker.data.get("fixed") or marker.data.get("pattern")
                if not any(matches_pattern(v, fixed["value"]) for v in values):
                    return False
            else:
                codes = self._set.expansion(marker.data["binding"]["valueSet"])
                if codes is not None and not any(_in_value_set(v, codes) for v in values):
                    return False
        if self.coding_markers:
            codings = [c for concept in _children(resource, "code") for c in _children(concept, "coding")]
            if not any(self.slice_matches(f"{self.type}.code.coding", m.steps[1].slice or "", c)
                       for m in self.coding_markers for c in codings):
                return False
        return True

    def discriminated(self) -> bool:
        return bool(self.markers)


def _values_at(node: object, path: Sequence[str]) -> list[Any]:
    values = [node]
    for name in path:
        values = [v for parent in values for v in _children(parent, name)]
    return values


def _in_value_set(value: object, codes: frozenset[tuple[str, str]]) -> bool:
    if isinstance(value, str):
        return any(code == value for _, code in codes)
    if isinstance(value, dict):
        if "coding" in value:
            return any(isinstance(c, dict) and (c.get("system"), c.get("code")) in codes for c in value["coding"])
        if "code" in value:
            return (value.get("system"), value.get("code")) in codes or (
                "system" not in value and any(code == value["code"] for _, code in codes))
    return False


class ProfileSet:
    """The shipped profiles of one US Core version (``3.1.1``, ``6.1.0``, ``7.0.0``)."""

    def __init__(self, version: str, schema_dir: Path | None = None) -> None:
        self.version = version
        try:
            self.entry, data = load_pinned("profiles", f"us-core-{version}", schema_dir)
        except HarnessError as exc:
            if "no profiles entry" in str(exc):
                raise ProfileError(f"US Core {version} is not shipped with the harness (3.1.1, 6.1.0, 7.0.0 are)") from exc
            raise
        self._valuesets = {url: frozenset((s, c) for s, c in pairs) for url, pairs in data.get("valuesets", {}).items()}
        self.extensions: dict[str, str] = dict(data.get("extensions", {}))
        self.profiles: dict[str, Profile] = {url: Profile(url, p, version, self) for url, p in data["profiles"].items()}

    def expansion(self, url: str) -> frozenset[tuple[str, str]] | None:
        return self._valuesets.get(url.split("|", 1)[0])

    def get(self, url: str) -> Profile | None:
        return self.profiles.get(url.split("|", 1)[0])

    def for_type(self, resource_type: str) -> list[Profile]:
        return [p for p in self.profiles.values() if p.type == resource_type]

    def type_of(self, url: str) -> str | None:
        """The resource type a profile or core StructureDefinition URL is for."""
        profile = self.get(url)
        if profile is not None:
            return profile.type
        if url.startswith("http://hl7.org/fhir/StructureDefinition/"):
            return url.rsplit("/", 1)[-1].split("|", 1)[0]
        return None


@lru_cache(maxsize=8)
def profile_set(version: str, schema_dir: Path | None = None) -> ProfileSet:
    """The shipped US Core ``version``, loaded and hash-checked once per process."""
    return ProfileSet(version, schema_dir)


_US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"


def claimed_profiles(capability_statement: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Resource type -> the ``supportedProfile`` canonicals of a CapabilityStatement's server rest."""
    claims: dict[str, list[str]] = {}
    rests = capability_statement.get("rest") if isinstance(capability_statement, Mapping) else None
    for rest in rests if isinstance(rests, list) else []:
        if not isinstance(rest, dict) or rest.get("mode", "server") != "server":
            continue
        for resource in rest.get("resource", []) if isinstance(rest.get("resource"), list) else []:
            if not isinstance(resource, dict) or not isinstance(resource.get("type"), str):
                continue
            profiles = [p for p in resource.get("supportedProfile", []) or [] if isinstance(p, str)]
            if profiles:
                claims.setdefault(resource["type"], []).extend(profiles)
    return {t: tuple(dict.fromkeys(p)) for t, p in claims.items()}


# --------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class _Scope:
    node: Any
    path: str


class ProfileValidator:
    """Validates resources against the US Core profiles a tenant claims.

    ``claims`` maps resource types to profile canonicals (``url|version``; without a version,
    ``default_version`` is assumed). Canonicals that are not shipped US Core profiles are kept in
    :attr:`unknown` and not checked.
    """

    def __init__(self, claims: Mapping[str, Iterable[str]], *, default_version: str = "6.1.0",
                 schema_dir: Path | None = None) -> None:
        self.claims: dict[str, list[Profile]] = {}
        self.unknown: list[str] = []
        for resource_type, canonicals in claims.items():
            for canonical in canonicals:
                url, _, version = str(canonical).partition("|")
                if not url.startswith(_US_CORE):
                    self.unknown.append(canonical)
                    continue
                try:
                    profile = profile_set(version or default_version, schema_dir).get(url)
                except ProfileError:
                    profile = None
                if profile is None or profile.type != resource_type:
                    self.unknown.append(canonical)
                    continue
                self.claims.setdefault(resource_type, []).append(profile)

    @classmethod
    def from_capability_statement(cls, capability_statement: Mapping[str, Any], **kwargs: Any) -> ProfileValidator:
        return cls(claimed_profiles(capability_statement), **kwargs)

    def profiles_for(self, resource: Mapping[str, Any]) -> list[Profile]:
        """The claimed profiles ``resource`` is meant to meet (see the module doc)."""
        resource_type = resource.get("resourceType") if isinstance(resource, Mapping) else None
        candidates = self.claims.get(resource_type, []) if isinstance(resource_type, str) else []
        return [p for p in candidates if p.applies_to(resource)]

    def validate(self, resource: Mapping[str, Any], *, warnings: bool = False) -> list[ValidationIssue]:
        """Every way ``resource`` falls short of the claimed profiles it is meant to meet."""
        issues: list[ValidationIssue] = []
        if not isinstance(resource, Mapping):
            return issues
        for profile in self.profiles_for(resource):
            issues.extend(_check(profile, resource))
        if not warnings:
            issues = [i for i in issues if i.severity == "error"]
        return issues


def _issue(profile: Profile, path: str, message: str, value: object = None, severity: str = "error") -> ValidationIssue:
    return ValidationIssue(path, profile.rule, f"{profile.title}: {message}", "" if value is None else _show(value),
                           profile.type + _INDEX.sub("", path[len(profile.type):]), severity)


def _scopes(profile: Profile, resource: Mapping[str, Any], steps: Sequence[Step]) -> list[_Scope]:
    """The nodes ``steps`` lead to, slices applied (``category:VSCat`` keeps the matching items)."""
    scopes = [_Scope(resource, profile.type)]
    prefix = profile.type
    for step in steps:
        sliced = f"{prefix}.{step.name}"
        nxt: list[_Scope] = []
        for scope in scopes:
            for key, value in _named(scope.node, step.name):
                if step.slice is not None:
                    if step.name.endswith("[x]"):  # a type slice: valueQuantity
                        if not key.split("[", 1)[0] == step.slice:
                            continue
                    elif profile.slice_matches(sliced, step.slice, value) is not True:
                        continue
                nxt.append(_Scope(value, f"{scope.path}.{key}"))
        scopes = nxt
        prefix = f"{sliced}:{step.slice}" if step.slice else sliced
    return scopes


def _check(profile: Profile, resource: Mapping[str, Any]) -> Iterator[ValidationIssue]:
    for element in profile.elements:
        steps = element.steps
        if not steps:
            continue
        parents = _scopes(profile, resource, steps[:-1])
        if not parents:
            continue
        last = steps[-1]
        for parent in parents:
            found = _scopes_under(profile, parent, element)
            minimum, maximum = element.min, element.max
            label = element.id.split(".", 1)[1] if "." in element.id else element.id
            if minimum is not None and len(found) < minimum:
                what = f"slice {last.slice!r} of {last.name}" if last.slice and not last.name.endswith("[x]") else last.name
                yield _issue(profile, f"{parent.path}.{last.name}",
                             f"{what} is required (min {minimum}), found {len(found)}" if minimum > 1 or found
                             else f"{label} is required (min {minimum}) and missing")
            if maximum is not None and maximum != "*" and len(found) > int(maximum):
                yield _issue(profile, f"{parent.path}.{last.name}",
                             f"{label} allows at most {maximum}, found {len(found)}" if maximum != "0"
                             else f"{label} is not allowed in this profile", [s.node for s in found][:3])
            allowed = element.data.get("types")
            if allowed and last.name.endswith("[x]") and not last.slice:
                base = last.name[:-3]
                for scope in found:
                    key = scope.path.rsplit(".", 1)[-1].split("[", 1)[0]
                    kind = key[len(base):]
                    if kind and not any(kind.lower() == t.lower() for t in allowed):
                        yield _issue(profile, scope.path, f"{last.name} may only be {' or '.join(allowed)}, got {key}")
            for scope in found:
                yield from _value_checks(profile, element, scope)


def _scopes_under(profile: Profile, parent: _Scope, element: ProfileElement) -> list[_Scope]:
    last = element.steps[-1]
    sliced_prefix = element.id.rsplit(".", 1)[0] if "." in element.id else element.id
    out: list[_Scope] = []
    for key, value in _named(parent.node, last.name):
        if last.slice is not None:
            if last.name.endswith("[x]"):
                if key.split("[", 1)[0] != last.slice:
                    continue
            elif profile.slice_matches(f"{sliced_prefix}.{last.name}", last.slice, value) is not True:
                continue
        out.append(_Scope(value, f"{parent.path}.{key}"))
    return out


def _value_checks(profile: Profile, element: ProfileElement, scope: _Scope) -> Iterator[ValidationIssue]:
    data = element.data
    value = scope.node
    label = element.id.split(".", 1)[1] if "." in element.id else element.id
    if "fixed" in data:
        wanted = data["fixed"]["value"]
        ok = value == wanted if not isinstance(wanted, (dict, list)) else matches_pattern(value, wanted)
        if not ok:
            yield _issue(profile, scope.path, f"{label} must be {_show(wanted, 60)}", value)
    if "pattern" in data and not matches_pattern(value, data["pattern"]["value"]):
        yield _issue(profile, scope.path, f"{label} must match {_show(data['pattern']['value'], 60)}", value)
    binding = data.get("binding")
    if binding:
        codes = profile._set.expansion(binding["valueSet"])
        if codes is not None and _codable(value) and not _in_value_set(value, codes):
            strength = binding["strength"]
            yield _issue(profile, scope.path,
                         f"{label}: no code from the {strength} value set {binding['valueSet'].rsplit('/', 1)[-1]}",
                         value, "error" if strength == "required" else "warning")
    targets = data.get("target_profiles")
    if targets and isinstance(value, dict) and isinstance(value.get("reference"), str):
        kinds = {profile._set.type_of(t) for t in targets}
        kinds.discard(None)
        match = re.search(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[^/]+)?$", value["reference"])
        if kinds and match and match.group(1) not in kinds:
            yield _issue(profile, f"{scope.path}.reference",
                         f"{label} must reference {' or '.join(sorted(k for k in kinds if k))}", value["reference"])


def _codable(value: object) -> bool:
    """A value a binding can judge: a code, a Coding, or a CodeableConcept with codings."""
    if isinstance(value, str):
        return True
    return isinstance(value, dict) and (bool(value.get("coding")) or "code" in value)


# --------------------------------------------------------------------------------------------
# Must Support tally


@dataclass(frozen=True)
class MustSupportGap:
    """A Must Support element of a claimed profile that the resources seen never filled."""

    resource_type: str
    profile: str          # the profile's rule name, us-core-patient|6.1.0
    element: str          # the element id (Patient.birthDate) or extension profile (us-core-race)
    resources: int        # how many resources of the profile were seen
    filled: int = 0

    def __str__(self) -> str:
        noun = "resource" if self.resources == 1 else "resources"
        return f"{self.resource_type}: {self.element} never present in {self.resources} {noun} ({self.profile})"


@dataclass
class MustSupportTally:
    """Fed every resource seen for an API, says which Must Support elements were never filled.

    Only top-level elements and extension slices are tallied for absence across resources (a
    nested Must Support element, such as ``Patient.name.family``, is judged where its parent
    occurs). ``unprofiled`` counts resources no claimed profile applied to.
    """

    checker: ProfileValidator
    seen: dict[str, int] = field(default_factory=dict)
    filled: dict[tuple[str, str], int] = field(default_factory=dict)
    unprofiled: dict[str, int] = field(default_factory=dict)
    _profiles: dict[str, Profile] = field(default_factory=dict)

    def add(self, resource: Mapping[str, Any]) -> None:
        profiles = self.checker.profiles_for(resource)
        if not profiles:
            resource_type = resource.get("resourceType") if isinstance(resource, Mapping) else None
            if isinstance(resource_type, str):
                self.unprofiled[resource_type] = self.unprofiled.get(resource_type, 0) + 1
            return
        for profile in profiles:
            self._profiles[profile.rule] = profile
            self.seen[profile.rule] = self.seen.get(profile.rule, 0) + 1
            for element in _tallied(profile):
                if _scopes(profile, resource, element.steps):
                    key = (profile.rule, element.id)
                    self.filled[key] = self.filled.get(key, 0) + 1

    def add_all(self, resources: Iterable[Mapping[str, Any]]) -> None:
        for resource in resources:
            self.add(resource)

    def coverage(self) -> list[tuple[str, str, int, int]]:
        """(profile, element, filled in, of resources) for every tallied Must Support element."""
        out = []
        for rule, profile in sorted(self._profiles.items()):
            for element in _tallied(profile):
                out.append((rule, element.label, self.filled.get((rule, element.id), 0), self.seen[rule]))
        return out

    def gaps(self) -> list[MustSupportGap]:
        out: list[MustSupportGap] = []
        for rule, profile in sorted(self._profiles.items()):
            for element in _tallied(profile):
                if not self.filled.get((rule, element.id)):
                    out.append(MustSupportGap(profile.type, rule, element.label, self.seen[rule]))
        return out


def _tallied(profile: Profile) -> list[ProfileElement]:
    return [e for e in profile.elements if e.must_support and len(e.steps) == 1
            and (e.steps[0].slice is None or e.steps[0].name in ("extension", "modifierExtension"))]
