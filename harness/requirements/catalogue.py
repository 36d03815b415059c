"""The requirements catalogue: the sentences of the specifications the checks verify, loaded from data files.

One TOML file per source document in ``data/`` (a ``[source]`` table and ``[[requirement]]`` rows), and
``data/mapping.toml`` saying which requirements each check verifies. Everything is validated on load: a
wrong file is one :class:`RequirementsDataError` naming the file and the entry, never a traceback.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, get_args
from urllib.parse import urlsplit

from harness.errors import HarnessError

Verb = Literal["SHALL", "SHALL NOT", "SHOULD", "SHOULD NOT", "MAY"]
Actor = Literal["server", "client", "resource server", "authorization server"]
TextKind = Literal["sentence", "expectation"]
VERBS: tuple[str, ...] = get_args(Verb)
ACTORS: tuple[str, ...] = get_args(Actor)
TEXT_KINDS: tuple[str, ...] = get_args(TextKind)
MAPPING_FILE = "mapping.toml"
MAX_TEXT = 600  # single sentences only


class RequirementsDataError(HarnessError):
    """A requirements data file is wrong. Names the file and the entry."""

    def __init__(self, file: str, where: str | None, why: str) -> None:
        self.file, self.where, self.why = file, where, why
        super().__init__(f"{file}: {where}: {why}" if where else f"{file}: {why}")


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    document: str
    version: str
    url: str
    licence: str
    id_scheme: str
    file: str
    order: int = 0  # position in reports


@dataclass(frozen=True)
class Requirement:
    id: str
    source: str  # Source.key
    url: str
    text: str
    verb: Verb
    actor: Actor
    topic: str
    testable: bool = True
    reason: str | None = None  # why not testable
    verb_implied: bool = False  # the sentence states the rule without the verb itself
    text_kind: TextKind = "sentence"
    note: str | None = None


@dataclass(frozen=True)
class CheckMapping:
    check_id: str
    requirements: tuple[str, ...]
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    planned: bool = False


@dataclass(frozen=True)
class Catalogue:
    sources: Mapping[str, Source]
    requirements: Mapping[str, Requirement]  # by id, in file order
    checks: Mapping[str, CheckMapping]

    def requirements_for(self, check_id: str, param: str | None = None) -> tuple[str, ...]:
        """The ids of the requirements a check's result verifies: the check's own, then its parameter's."""
        mapping = self.checks.get(check_id)
        if mapping is None:
            return ()
        extra = mapping.params.get(param, ()) if param is not None else ()
        return tuple(dict.fromkeys(mapping.requirements + extra))

    def verifiers_of(self, requirement_id: str) -> tuple[tuple[str, str | None], ...]:
        """(check id, parameter or None for every result of the check) of every check that verifies it."""
        return self._verifiers.get(requirement_id, ())

    @cached_property
    def _verifiers(self) -> dict[str, tuple[tuple[str, str | None], ...]]:
        """Every requirement's verifiers, in the mapping's order: each check, then its parameters."""
        found: dict[str, list[tuple[str, str | None]]] = {}
        for mapping in self.checks.values():
            for rid in dict.fromkeys(mapping.requirements):
                found.setdefault(rid, []).append((mapping.check_id, None))
            for param, ids in mapping.params.items():
                for rid in dict.fromkeys(ids):
                    found.setdefault(rid, []).append((mapping.check_id, param))
        return {rid: tuple(pairs) for rid, pairs in found.items()}

    def of_source(self, key: str) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements.values() if r.source == key)


def _text(table: Mapping[str, Any], key: str, file: str, where: str, *, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RequirementsDataError(file, where, f"'{key}' must be a non-empty string")
    if any(ord(c) < 32 for c in value):
        raise RequirementsDataError(file, where, f"'{key}' contains a control character")
    return value.strip()


def _url(value: str, file: str, where: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or " " in value:
        raise RequirementsDataError(file, where, f"url {value!r} is not an absolute http(s) URL")
    return value


def _flag(table: Mapping[str, Any], key: str, default: bool, file: str, where: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise RequirementsDataError(file, where, f"'{key}' must be true or false")
    return value


_SOURCE_KEYS = {"key", "title", "document", "version", "url", "licence", "id_scheme"}
_SOURCE_FIELDS = _SOURCE_KEYS | {"order"}
_REQUIREMENT_KEYS = {"id", "url", "text", "verb", "actor", "topic", "testable", "reason", "verb_implied",
                     "text_kind", "note"}


def parse_source(data: Mapping[str, Any], file: str) -> tuple[Source, tuple[Requirement, ...]]:
    """One source file's content (already parsed TOML), validated."""
    table = data.get("source")
    if not isinstance(table, dict):
        raise RequirementsDataError(file, None, "no [source] table")
    unknown = set(table) - _SOURCE_FIELDS
    if unknown:
        raise RequirementsDataError(file, "[source]", f"unknown field(s) {', '.join(sorted(unknown))}")
    order = table.get("order", 0)
    if not isinstance(order, int) or isinstance(order, bool):
        raise RequirementsDataError(file, "[source]", "'order' must be a whole number")
    values = {k: _text(table, k, file, "[source]") for k in sorted(_SOURCE_KEYS)}
    source = Source(file=file, order=order, **values)  # type: ignore[arg-type]
    _url(source.url, file, "[source]")
    rows = data.get("requirement")
    if not isinstance(rows, list) or not rows:
        raise RequirementsDataError(file, None, "no [[requirement]] entries")
    requirements = []
    for n, row in enumerate(rows, 1):
        where = f"requirement {n}"
        if not isinstance(row, dict):
            raise RequirementsDataError(file, where, "is not a table")
        rid = _text(row, "id", file, where)
        assert rid is not None
        where = f"requirement {rid}"
        unknown = set(row) - _REQUIREMENT_KEYS
        if unknown:
            raise RequirementsDataError(file, where, f"unknown field(s) {', '.join(sorted(unknown))}")
        verb, actor, kind = row.get("verb"), row.get("actor"), row.get("text_kind", "sentence")
        if verb not in VERBS:
            raise RequirementsDataError(file, where, f"verb {verb!r} is not one of {', '.join(VERBS)}")
        if actor not in ACTORS:
            raise RequirementsDataError(file, where, f"actor {actor!r} is not one of {', '.join(ACTORS)}")
        if kind not in TEXT_KINDS:
            raise RequirementsDataError(file, where, f"text_kind {kind!r} is not one of {', '.join(TEXT_KINDS)}")
        text = _text(row, "text", file, where)
        assert text is not None
        if len(text) > MAX_TEXT:
            raise RequirementsDataError(file, where, f"text is {len(text)} characters; quote a single sentence")
        testable = _flag(row, "testable", True, file, where)
        reason = _text(row, "reason", file, where, required=False)
        if not testable and not reason:
            raise RequirementsDataError(file, where, "testable = false needs a reason")
        if testable and reason:
            raise RequirementsDataError(file, where, "a reason is given but testable is not false")
        requirements.append(Requirement(
            id=rid, source=source.key, url=_url(str(_text(row, "url", file, where)), file, where), text=text,
            verb=verb, actor=actor, topic=str(_text(row, "topic", file, where)), testable=testable,
            reason=reason, verb_implied=_flag(row, "verb_implied", False, file, where), text_kind=kind,
            note=_text(row, "note", file, where, required=False)))
    return source, tuple(requirements)


def parse_mapping(data: Mapping[str, Any], file: str, known: Iterable[str]) -> dict[str, CheckMapping]:
    """The check → requirements mapping, each id checked against the catalogue."""
    known_ids = set(known)
    checks = data.get("checks")
    if not isinstance(checks, dict) or not checks:
        raise RequirementsDataError(file, None, "no [checks.\"<check id>\"] tables")

    def ids(value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise RequirementsDataError(file, where, "'requirements' must be a non-empty list of requirement ids")
        missing = [v for v in value if v not in known_ids]
        if missing:
            raise RequirementsDataError(file, where, f"unknown requirement id(s) {', '.join(missing)}")
        if len(set(value)) != len(value):
            raise RequirementsDataError(file, where, "a requirement id is listed twice")
        return tuple(value)

    out: dict[str, CheckMapping] = {}
    for check_id, table in checks.items():
        where = f"checks.{check_id}"
        if not isinstance(table, dict):
            raise RequirementsDataError(file, where, "is not a table")
        unknown = set(table) - {"requirements", "params", "planned"}
        if unknown:
            raise RequirementsDataError(file, where, f"unknown field(s) {', '.join(sorted(unknown))}")
        params: dict[str, tuple[str, ...]] = {}
        for param, ptable in (table.get("params") or {}).items():
            pwhere = f"{where}.params.{param}"
            if not isinstance(ptable, dict) or set(ptable) != {"requirements"}:
                raise RequirementsDataError(file, pwhere, "must hold only 'requirements'")
            params[param] = ids(ptable["requirements"], pwhere)
        out[check_id] = CheckMapping(check_id=check_id, requirements=ids(table.get("requirements"), where),
                                     params=params, planned=_flag(table, "planned", False, file, where))
    return out


def build_catalogue(source_files: Mapping[str, Mapping[str, Any]], mapping: Mapping[str, Any],
                    mapping_file: str = MAPPING_FILE) -> Catalogue:
    """A catalogue from parsed TOML documents (file name → content): unique keys and ids, known references."""
    parsed = sorted((parse_source(data, file) for file, data in source_files.items()),
                    key=lambda pair: (pair[0].order, pair[0].file))
    sources: dict[str, Source] = {}
    requirements: dict[str, Requirement] = {}
    for source, rows in parsed:
        if source.key in sources:
            raise RequirementsDataError(source.file, "[source]",
                                        f"key {source.key!r} is also used by {sources[source.key].file}")
        sources[source.key] = source
        for requirement in rows:
            if requirement.id in requirements:
                other = sources[requirements[requirement.id].source].file
                raise RequirementsDataError(source.file, f"requirement {requirement.id}", f"id is also used in {other}")
            requirements[requirement.id] = requirement
    checks = parse_mapping(mapping, mapping_file, requirements)
    for mapping_of in checks.values():
        for rid in mapping_of.requirements + tuple(i for ids in mapping_of.params.values() for i in ids):
            if not requirements[rid].testable:
                raise RequirementsDataError(mapping_file, f"checks.{mapping_of.check_id}",
                                            f"{rid} is marked not testable, so no check can verify it")
    return Catalogue(sources=sources, requirements=requirements, checks=checks)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RequirementsDataError(path.name, None, f"cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RequirementsDataError(path.name, None, f"is not valid TOML: {exc}") from None


def load_catalogue(folder: str | Path | None = None) -> Catalogue:
    """The catalogue from a folder of data files (by default the one shipped in the package)."""
    if folder is None:
        return _shipped()
    root = Path(folder)
    if not root.is_dir():
        raise RequirementsDataError(str(root), None, "is not a folder")
    files = {p.name: _read(p) for p in sorted(root.glob("*.toml")) if p.name != MAPPING_FILE}
    if not files:
        raise RequirementsDataError(str(root), None, "holds no source files (*.toml)")
    mapping_path = root / MAPPING_FILE
    if not mapping_path.is_file():
        raise RequirementsDataError(str(root), None, f"has no {MAPPING_FILE}")
    return build_catalogue(files, _read(mapping_path))


@lru_cache(maxsize=1)
def _shipped() -> Catalogue:
    with resources.as_file(resources.files("harness.requirements") / "data") as folder:
        return load_catalogue(folder)


def requirements_for(check_id: str, param: str | None = None) -> tuple[str, ...]:
    """The requirement ids a result of this check (and parameter: a token probe, a $find case) verifies."""
    return _shipped().requirements_for(check_id, param)
