"""Epic's API catalog: every API a tenant file can request, and the named requested-API sets.

What differs per API is data (``data/apis.json``, ``data/sets/*.toml``); this module only reads it.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Iterable, Literal

from harness.errors import ConfigError

Kind = Literal["rest", "operation", "web-service", "cds-hooks", "bulk"]
FHIR_VERSIONS = ("R4", "STU3", "DSTU2")

# The interaction in an Epic API name, as the CapabilityStatement writes it.
CAPABILITY_INTERACTION = {"read": "read", "search": "search-type", "create": "create", "update": "update"}
# The SMART v2 permission an interaction needs.
SCOPE_PERMISSION = {"read": "r", "search": "s", "create": "c", "update": "u"}
WRITE_INTERACTIONS = frozenset({"create", "update", "$book"})


@dataclass(frozen=True)
class Api:
    """One Epic API, e.g. ``Practitioner.Read (Organizational Directory) (R4)``."""

    name: str
    api_id: int | None
    kind: Kind
    version: str | None
    resource: str | None
    interaction: str | None  # read, search, create, update, or an operation such as $find
    context: str | None

    @property
    def is_fhir(self) -> bool:
        return self.kind in ("rest", "operation") and self.version is not None

    @property
    def is_write(self) -> bool:
        return self.interaction in WRITE_INTERACTIONS

    @property
    def spec_url(self) -> str | None:
        return f"https://fhir.epic.com/Specifications?api={self.api_id}" if self.api_id else None

    @property
    def slug(self) -> str:
        """A short id for test names: 'Practitioner.read.Organizational-Directory.R4'."""
        parts = [self.resource or "", self.interaction or self.name]
        if self.context:
            parts.append(re.sub(r"[^A-Za-z0-9]+", "-", self.context).strip("-"))
        if self.version:
            parts.append(self.version)
        return ".".join(p for p in parts if p)


@dataclass(frozen=True)
class ApiGroup:
    name: str
    marker: str
    apis: tuple[Api, ...]


@dataclass(frozen=True)
class RequestedApis:
    """The APIs one tenant run asks for, in groups."""

    name: str
    groups: tuple[ApiGroup, ...]
    group_of: dict[str, ApiGroup] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.group_of.update({api.name: g for g in self.groups for api in g.apis})

    @property
    def apis(self) -> tuple[Api, ...]:
        return tuple(api for g in self.groups for api in g.apis)


class Catalog:
    def __init__(self, apis: Iterable[Api]) -> None:
        self._by_name = {api.name: api for api in apis}

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(self._by_name.values())

    def get(self, name: str) -> Api | None:
        return self._by_name.get(name)

    def lookup(self, name: str, *, file: str | None = None, field: str = "apis") -> Api:
        api = self._by_name.get(name)
        if api is None:
            near = _nearest(name, self._by_name)
            hint = f" Did you mean {near!r}?" if near else ""
            raise ConfigError(file, field, f"unknown Epic API {name!r}.{hint}")
        return api


def _nearest(name: str, names: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, list(names), n=1, cutoff=0.8)
    return found[0] if found else None


@cache
def load_catalog() -> Catalog:
    raw = json.loads(resources.files(__package__).joinpath("data/apis.json").read_text("utf-8"))
    return Catalog(
        Api(
            name=row["name"],
            api_id=row.get("api_id"),
            kind=row["kind"],
            version=row.get("version"),
            resource=row.get("resource"),
            interaction=row.get("interaction"),
            context=row.get("context"),
        )
        for row in raw["apis"]
    )


def named_sets() -> list[str]:
    folder = resources.files(__package__).joinpath("data/sets")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def marker_for(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _groups_from_table(groups: list, catalog: Catalog, file: str | None, field: str) -> tuple[ApiGroup, ...]:
    out = []
    for i, g in enumerate(groups):
        where = f"{field}[{i}]"
        if not isinstance(g, dict) or not isinstance(g.get("name"), str):
            raise ConfigError(file, where, "each group needs a 'name' (a string) and 'apis' (a list of Epic API names)")
        names = g.get("apis")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(file, f"{where}.apis", "must be a list of Epic API names (strings)")
        apis = tuple(catalog.lookup(n, file=file, field=f"{where}.apis") for n in names)
        out.append(ApiGroup(name=g["name"], marker=g.get("marker") or marker_for(g["name"]), apis=apis))
    return tuple(out)


@cache
def load_named_set(name: str) -> RequestedApis:
    folder = resources.files(__package__).joinpath("data/sets")
    path = folder.joinpath(f"{name}.toml")
    if not path.is_file():
        raise ConfigError(None, "apis.set", f"no named API set {name!r}; known sets: {', '.join(named_sets())}")
    data = tomllib.loads(path.read_text("utf-8"))
    return RequestedApis(name=name, groups=_groups_from_table(data["group"], load_catalog(), str(path), "group"))


def requested_from_list(names: list[str], *, file: str | None, field: str) -> RequestedApis:
    """A tenant's own flat list of API names, grouped by resource (web services in 'Web services')."""
    catalog = load_catalog()
    by_group: dict[str, list[Api]] = {}
    for i, n in enumerate(names):
        if not isinstance(n, str):
            raise ConfigError(file, f"{field}[{i}]", "must be an Epic API name (a string)")
        api = catalog.lookup(n, file=file, field=f"{field}[{i}]")
        by_group.setdefault(api.resource or "Web services", []).append(api)
    groups = tuple(ApiGroup(name=k, marker=marker_for(k), apis=tuple(v)) for k, v in by_group.items())
    return RequestedApis(name="custom", groups=groups)


def requested_from_groups(groups: list, *, file: str | None, field: str) -> RequestedApis:
    return RequestedApis(name="custom", groups=_groups_from_table(groups, load_catalog(), file, field))
