"""The app's data contract: which elements the app reads from each API, and which of them a tenant fills.

A contract is a TOML file, ``harness/catalog/data/contracts/<set>.toml`` for a named API set
(``careforce-phoenix``) or any path a tenant file names::

    name = "careforce-phoenix"
    title = "What Careforce Phoenix reads"

    [[reads]]
    apis = ["Patient.Read (Demographics) (R4)", "Patient.Search (Demographics) (R4)"]
    why = "patient banner and matching"            # optional, shown in reports
    paths = [
      "Patient.identifier.where(system='urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.0')",
      "Patient.name.family",
      { path = "Patient.birthDate", why = "age on the schedule" },
    ]

Each ``[[reads]]`` table lists Epic API names (as in the API catalog) and the element paths the
app reads from the resources those APIs return. A path starts with the API's resource type and
is a small FHIRPath subset, compiled once:

- ``Type.a.b``: navigation; a choice is written ``value[x]`` (any type) or by its JSON name
  (``valueQuantity``); arrays are flattened;
- ``.where(sub.path = 'literal')``, several conditions joined by ``and``; ``!=`` too;
- ``.extension('url')``: the extensions with that url (FHIRPath's ``extension()``);
- ``.ofType(Type)`` after a choice: ``value.ofType(Quantity)``;
- ``.exists()`` may end a path (it is what "filled" means anyway).

A path is *filled* in a resource when it yields at least one non-empty value. Fed every resource
seen per API, :class:`ContractTally` says per API which paths were filled, in how many of the
resources of that type, and which never appeared.

Entry points::

    contract = load_contract("careforce-phoenix")       # or a Path; known_apis= checks the names
    tally = ContractTally(contract)
    tally.add(api_name, resource)                        # every resource an API returned
    tally.report()  -> list[PathCoverage]                # per API and path: filled in n of m
    tally.never_filled() -> list[PathCoverage]           # "Coverage.payor never filled in 13 resources"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

__all__ = [
    "CONTRACTS_DIR",
    "Contract",
    "ContractError",
    "ContractPath",
    "ContractTally",
    "PathCoverage",
    "compile_path",
    "load_contract",
]

CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "catalog" / "data" / "contracts"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class ContractError(HarnessError):
    """A data contract file that cannot be used: the message names the file and the entry."""


# --------------------------------------------------------------------------------------------
# Paths


@dataclass(frozen=True)
class _Child:
    name: str


@dataclass(frozen=True)
class _Where:
    conditions: tuple[tuple[tuple[str, ...], str, str], ...]  # (sub-path, operator, literal)


@dataclass(frozen=True)
class _Extension:
    url: str


@dataclass(frozen=True)
class _OfType:
    type_name: str


_Step = _Child | _Where | _Extension | _OfType
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<func>where|extension|ofType|exists)\s*\(
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\[x\])?)
      | (?P<dot>\.)
    )""",
    re.VERBOSE,
)
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=|!=)\s*'((?:[^'\\]|\\.)*)'\s*$")


def _split_args(text: str, start: int) -> tuple[str, int]:
    """The text inside the parentheses opened before ``start`` (quotes respected), and the end."""
    depth, i, quoted = 1, start, False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == "'":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start:i], i + 1
        i += 1
    raise ValueError("a parenthesis is not closed")


def compile_path(text: str) -> tuple[str, tuple[_Step, ...]]:
    """(resource type, steps) of a contract path; ValueError saying what is wrong."""
    text = text.strip()
    match = re.match(r"^([A-Z][A-Za-z]+)", text)
    if not match:
        raise ValueError("a path starts with a resource type (Patient.name.family)")
    root = match.group(1)
    steps: list[_Step] = []
    i = match.end()
    while i < len(text):
        if text[i] != ".":
            raise ValueError(f"expected '.' at {text[i:i + 20]!r}")
        i += 1
        token = _TOKEN.match(text, i)
        if token is None:
            raise ValueError(f"cannot read {text[i:i + 20]!r}")
        func = token.group("func")
        if func is None:
            name = token.group("name")
            if name is None:
                raise ValueError(f"cannot read {text[i:i + 20]!r}")
            steps.append(_Child(name))
            i = token.end()
            continue
        inner, i = _split_args(text, token.end())
        if func == "exists":
            if inner.strip() or i != len(text):
                raise ValueError("exists() takes no argument and ends a path")
        elif func == "extension":
            url = re.match(r"^\s*'([^']+)'\s*$", inner)
            if not url:
                raise ValueError("extension() takes one quoted url")
            steps.append(_Extension(url.group(1)))
        elif func == "ofType":
            type_name = inner.strip()
            if not re.match(r"^[A-Za-z][A-Za-z0-9]*$", type_name):
                raise ValueError("ofType() takes a type name")
            steps.append(_OfType(type_name))
        else:
            conditions = []
            for part in re.split(r"\s+and\s+", inner):
                condition = _CONDITION.match(part)
                if not condition:
                    raise ValueError(f"where() conditions are sub.path = 'literal' (joined by and), got {part.strip()!r}")
                conditions.append((tuple(condition.group(1).split(".")), condition.group(2),
                                   condition.group(3).replace("\\'", "'")))
            steps.append(_Where(tuple(conditions)))
    if not steps:
        raise ValueError("a path names at least one element after the resource type")
    return root, tuple(steps)


def _child(node: object, name: str) -> list[Any]:
    if not isinstance(node, dict):
        return []
    if name.endswith("[x]"):
        base = name[:-3]
        values: list[Any] = []
        for key, value in node.items():
            if key.startswith(base) and key[len(base):][:1].isupper():
                values.extend(value if isinstance(value, list) else [value])
        return values
    value = node.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _navigate(values: Iterable[Any], names: Sequence[str]) -> list[Any]:
    current = list(values)
    for name in names:
        current = [v for node in current for v in _child(node, name)]
    return current


def _filled(value: object) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def evaluate(steps: Sequence[_Step], resource: Mapping[str, Any]) -> list[Any]:
    """The values ``steps`` yield from ``resource`` (already known to be of the path's type)."""
    values: list[Any] = [resource]
    holders: list[Any] = []   # the nodes a FHIRPath-style choice name (``value``) was read from
    choice: str | None = None
    for step in steps:
        if isinstance(step, _Child):
            plain = [v for node in values for v in _child(node, step.name)]
            if plain or step.name.endswith("[x]"):
                values, choice = plain, None
            else:  # FHIRPath names a choice without [x]: value is valueQuantity, valueString...
                holders, choice = values, step.name
                values = [v for node in values for v in _child(node, f"{step.name}[x]")]
        elif isinstance(step, _OfType):
            if choice is not None:
                key = choice + step.type_name[0].upper() + step.type_name[1:]
                values = [v for node in holders for v in _child(node, key)]
            else:
                values = [v for v in values if isinstance(v, dict) and v.get("resourceType") == step.type_name]
            choice = None
        elif isinstance(step, _Extension):
            values = [e for node in values for e in _child(node, "extension")
                      if isinstance(e, dict) and e.get("url") == step.url]
            choice = None
        else:
            values = [v for v in values if all(_condition(v, c) for c in step.conditions)]
        if not values:
            return []
    return [v for v in values if _filled(v)]


def _condition(value: object, condition: tuple[tuple[str, ...], str, str]) -> bool:
    path, operator, literal = condition
    found = [str(v).lower() if isinstance(v, bool) else str(v) for v in _navigate([value], path)
             if isinstance(v, (str, int, float, bool))]
    return (literal in found) if operator == "=" else (bool(found) and literal not in found)


# --------------------------------------------------------------------------------------------
# Contracts


@dataclass(frozen=True)
class ContractPath:
    """One element path the app reads, compiled."""

    text: str
    resource_type: str
    steps: tuple[_Step, ...] = field(repr=False, compare=False)
    why: str = ""

    def filled_in(self, resource: Mapping[str, Any]) -> bool:
        return resource.get("resourceType") == self.resource_type and bool(evaluate(self.steps, resource))

    def values(self, resource: Mapping[str, Any]) -> list[Any]:
        return evaluate(self.steps, resource) if resource.get("resourceType") == self.resource_type else []


@dataclass(frozen=True)
class Contract:
    name: str
    title: str
    source: Path
    reads: Mapping[str, tuple[ContractPath, ...]]  # Epic API name -> paths

    def paths_for(self, api: str) -> tuple[ContractPath, ...]:
        return self.reads.get(api, ())

    @property
    def apis(self) -> list[str]:
        return sorted(self.reads)


def _api_resource(api: str) -> str | None:
    match = re.match(r"^([A-Z][A-Za-z]+)\.", api)
    return match.group(1) if match else None


def load_contract(name_or_path: str | Path, *, known_apis: Iterable[str] | None = None) -> Contract:
    """The contract of a named set (``careforce-phoenix``) or a TOML file.

    Raises :class:`ContractError` naming the file and the entry when the file is missing or not
    TOML, an API name is unknown (when ``known_apis`` is given) or is not a FHIR API, or a path
    does not parse or starts with another resource type than its API's.
    """
    if isinstance(name_or_path, str) and _NAME.match(name_or_path):
        path = CONTRACTS_DIR / f"{name_or_path}.toml"
    else:
        path = Path(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        available = ", ".join(sorted(p.stem for p in CONTRACTS_DIR.glob("*.toml"))) or "none"
        raise ContractError(f"{path}: no such data contract (shipped: {available})") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ContractError(f"{path}: cannot read the data contract ({exc})") from exc
    known = set(known_apis) if known_apis is not None else None
    reads: dict[str, list[ContractPath]] = {}
    tables = data.get("reads")
    if not isinstance(tables, list) or not tables:
        raise ContractError(f"{path}: no [[reads]] tables: each lists apis = [...] and paths = [...]")
    for number, table in enumerate(tables, 1):
        where = f"{path}: [[reads]] #{number}"
        if not isinstance(table, dict):
            raise ContractError(f"{where} is not a table")
        apis, paths = table.get("apis"), table.get("paths")
        if not isinstance(apis, list) or not apis or not all(isinstance(a, str) for a in apis):
            raise ContractError(f"{where}: 'apis' must be a non-empty list of Epic API names")
        if not isinstance(paths, list) or not paths:
            raise ContractError(f"{where}: 'paths' must be a non-empty list of element paths")
        default_why = str(table.get("why", ""))
        compiled: list[ContractPath] = []
        for item in paths:
            text, why = (item, default_why) if isinstance(item, str) else (
                (item.get("path"), str(item.get("why", default_why))) if isinstance(item, dict) else (None, ""))
            if not isinstance(text, str):
                raise ContractError(f"{where}: each path is a string or {{ path = \"...\", why = \"...\" }}")
            try:
                root, steps = compile_path(text)
            except ValueError as exc:
                raise ContractError(f"{where}: path {text!r}: {exc}") from exc
            compiled.append(ContractPath(text, root, steps, why))
        for api in apis:
            if known is not None and api not in known:
                raise ContractError(f"{where}: unknown Epic API {api!r}")
            resource = _api_resource(api)
            if resource is None:
                raise ContractError(f"{where}: {api!r} is not a FHIR API (its name starts with no resource type)")
            wrong = [p.text for p in compiled if p.resource_type != resource]
            if wrong:
                raise ContractError(f"{where}: {api!r} returns {resource}, but {wrong[0]!r} reads another type")
            reads.setdefault(api, []).extend(p for p in compiled if p not in reads.get(api, []))
    name = str(data.get("name") or path.stem)
    return Contract(name, str(data.get("title", name)), path, {k: tuple(v) for k, v in reads.items()})


# --------------------------------------------------------------------------------------------
# The tally


@dataclass(frozen=True)
class PathCoverage:
    """How often one path of one API was filled in the resources seen."""

    api: str
    path: str
    filled: int
    resources: int
    why: str = ""

    @property
    def never(self) -> bool:
        return self.resources > 0 and self.filled == 0

    def __str__(self) -> str:
        if self.resources == 0:
            return f"{self.api}: {self.path}: no resource of its type seen"
        noun = "resource" if self.resources == 1 else "resources"
        if self.filled == 0:
            return f"{self.api}: {self.path} never filled in {self.resources} {noun}"
        return f"{self.api}: {self.path} filled in {self.filled} of {self.resources} {noun}"


class ContractTally:
    """Counts, per API, the resources seen of the API's type and the paths they fill."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._seen: dict[str, int] = {}
        self._filled: dict[tuple[str, str], int] = {}

    def add(self, api: str, resource: Mapping[str, Any]) -> None:
        """One resource ``api`` returned (resources of other types, e.g. outcomes, are ignored)."""
        paths = self.contract.paths_for(api)
        if not paths or not isinstance(resource, Mapping):
            return
        if resource.get("resourceType") != paths[0].resource_type:
            return
        self._seen[api] = self._seen.get(api, 0) + 1
        for path in paths:
            if path.filled_in(resource):
                key = (api, path.text)
                self._filled[key] = self._filled.get(key, 0) + 1

    def add_all(self, api: str, resources: Iterable[Mapping[str, Any]]) -> None:
        for resource in resources:
            self.add(api, resource)

    def report(self, apis: Iterable[str] | None = None) -> list[PathCoverage]:
        """Every path of the given APIs (default: the APIs seen), in contract order."""
        chosen = list(apis) if apis is not None else [a for a in self.contract.apis if a in self._seen]
        return [PathCoverage(api, p.text, self._filled.get((api, p.text), 0), self._seen.get(api, 0), p.why)
                for api in chosen for p in self.contract.paths_for(api)]

    def never_filled(self, apis: Iterable[str] | None = None) -> list[PathCoverage]:
        return [c for c in self.report(apis) if c.never]
