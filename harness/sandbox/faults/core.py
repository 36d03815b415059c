"""The fault mechanism: kinds of fault, the hook points they act at, parsing, and active faults.

A fault is written ``name`` or ``name:ARG[=ARG...]`` and chosen when a sandbox starts. Each kind
of fault is one :class:`FaultKind`: its name, the :class:`Hook` where it acts, its arguments
(:class:`Arg`, each with a parser that knows the sandbox's vocabulary), a description, and an
*effect*: a function that changes the hook's policy object (see ``policies.py``), e.g. sets
``PagingPolicy.loop``. A hook point asks :meth:`ActiveFaults.policy` for its policy once and
reads plain fields from it; no other code consults faults.

Keyed kinds take the resource type, FHIR version or document they act on as their first
argument; the hook point names the key it is answering for, and only faults with that key (or
with no key, when the key is optional) shape its policy.

A name or argument that does not exist is refused with :class:`FaultError` (a ``ValueError``)
naming the nearest known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

P = TypeVar("P")


class FaultError(ValueError):
    """A fault that does not exist, or an argument it cannot take."""


class Hook(str, Enum):
    """Where a fault acts. Each hook point reads one policy object."""

    DISCOVERY = "discovery"  # smart-configuration and /metadata: DocumentPolicy per (document, version)
    TOKEN = "token"  # the token endpoint's rules and its answers: TokenPolicy
    FHIR_GUARD = "fhir-guard"  # the bearer-token check in front of the FHIR API: GuardPolicy
    FHIR = "fhir-response"  # how requests about one resource type are answered: FhirPolicy per type
    PAGING = "paging"  # searchset totals and next links of one type: PagingPolicy per type
    OPERATION = "operation"  # Appointment $find's scheduling rules: SchedulingPolicy
    TRANSPORT = "transport"  # the bytes on the wire for one type: TransportPolicy per type
    FLEET = "fleet-tenant"  # a simulated fleet tenant: the faults its variation stands for

    @property
    def point(self) -> str:
        return HOOK_POINTS[self]


#: Where in the code each hook is consulted (the only places that read faults).
HOOK_POINTS: dict[Hook, str] = {
    Hook.DISCOVERY: "discovery.DiscoveryDocuments",
    Hook.TOKEN: "token.endpoint.TokenService",
    Hook.FHIR_GUARD: "app.SandboxApp",
    Hook.FHIR: "fhir.service.FhirService",
    Hook.PAGING: "fhir.paging.Pager",
    Hook.OPERATION: "fhir.service.FhirService",
    Hook.TRANSPORT: "transport.HostileTransport",
    Hook.FLEET: "faults.fleet.tenant_faults",
}


@dataclass(frozen=True)
class Arg:
    """One argument of a fault: its placeholder (``TYPE``) and a parser that raises FaultError."""

    placeholder: str
    parse: Callable[[str], Any]


#: The key of a keyed fault written without it: the fault applies to every key.
EVERY = "*"


@dataclass(frozen=True)
class FaultKind:
    """One kind of fault. ``args`` are separated by ``=`` (the last one takes the rest).

    ``keyed``: the first argument is the key the hook point asks for (resource type, version,
    document). ``optional_key``: it may be left out, and then the fault applies to every key.
    ``setting``: correct behaviour that is not Epic's (listed as a setting, not a fault).
    ``expands``: the fault stands for other faults (given its parsed arguments).
    """

    name: str
    hook: Hook
    description: str
    args: tuple[Arg, ...] = ()
    effect: Callable[..., None] | None = None
    keyed: bool = False
    optional_key: bool = False
    setting: bool = False
    expands: Callable[..., Iterable[str]] | None = None
    #: for listings: one line per choice of the first argument (choice -> description)
    choices: Mapping[str, str] = field(default_factory=dict)
    #: the fault acts only where the hook point's key includes this (e.g. "smart-configuration")
    fixed_key: str | None = None

    def __post_init__(self) -> None:
        if (self.effect is None) == (self.expands is None):
            raise TypeError(f"fault {self.name!r} needs exactly one of effect and expands")
        if self.keyed and not self.args:
            raise TypeError(f"keyed fault {self.name!r} needs its key as first argument")

    @property
    def signature(self) -> str:
        """``name``, ``name:TYPE=CODE``, ``name[:TYPE]`` for an optional key."""
        if not self.args:
            return self.name
        placeholders = "=".join(arg.placeholder for arg in self.args)
        return f"{self.name}[:{placeholders}]" if self.optional_key else f"{self.name}:{placeholders}"

    def parse(self, text: str | None) -> tuple[str | None, tuple[Any, ...]]:
        """(key, other arguments) of ``name:text`` (``text`` None when there is no colon)."""
        if not self.args:
            if text is not None:
                raise FaultError(f"fault {self.name!r} takes no argument")
            return None, ()
        if text is None or text == "":
            if self.optional_key and len(self.args) == 1:
                return EVERY, ()
            raise FaultError(f"fault {self.name!r} needs an argument: {self.signature}")
        parts = text.split("=", len(self.args) - 1)
        if len(parts) != len(self.args):
            raise FaultError(f"fault {self.name!r} takes {self.signature}, got {text!r}")
        values = tuple(arg.parse(part) for arg, part in zip(self.args, parts))
        if self.keyed:
            return values[0], values[1:]
        return None, values


@dataclass(frozen=True)
class ParsedFault:
    text: str
    kind: FaultKind
    key: str | None
    args: tuple[Any, ...]


def nearest(word: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known word closest to ``word`` (case first, then spelling), or None."""
    candidates = list(known)
    for candidate in candidates:
        if candidate.lower() == word.lower():
            return candidate
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``; did you mean X?`` or nothing."""
    close = nearest(word, known)
    return f"; did you mean {close}?" if close else ""


class Catalog:
    """Every fault kind, by name."""

    def __init__(self, kinds: Sequence[FaultKind]) -> None:
        self.kinds = tuple(kinds)
        self.by_name: dict[str, FaultKind] = {}
        for kind in self.kinds:
            if kind.name in self.by_name:
                raise TypeError(f"fault {kind.name!r} is declared twice")
            self.by_name[kind.name] = kind

    def parse(self, fault: str) -> list[ParsedFault]:
        """``fault`` parsed (more than one when it stands for several); FaultError if it cannot be."""
        if not isinstance(fault, str):
            raise FaultError(f"a sandbox fault is a string, not {type(fault).__name__}")
        name, colon, text = fault.partition(":")
        kind = self.by_name.get(name)
        if kind is None:
            close = nearest(name, self.by_name)
            hint = f"; did you mean {self.by_name[close].signature}?" if close else ""
            raise FaultError(f"unknown sandbox fault {fault!r}{hint} "
                             "(`epic-harness sandbox --list-faults` lists them)")
        try:
            key, args = kind.parse(text if colon else None)
        except FaultError as exc:
            raise FaultError(f"bad sandbox fault {fault!r}: {exc}") from None
        if kind.expands is not None:
            parsed: list[ParsedFault] = []
            for inner in kind.expands(*((key,) if kind.keyed else ()), *args):
                parsed += self.parse(inner)
            return parsed
        return [ParsedFault(fault, kind, key, args)]

    def validate(self, faults: Iterable[str]) -> frozenset[str]:
        """Every fault checked; returned as a frozenset. A single string is one fault."""
        chosen = frozenset((faults,) if isinstance(faults, str) else faults)
        for fault in sorted(chosen, key=str):
            self.parse(fault)
        return chosen

    def listing(self) -> dict[str, tuple[Hook, str, bool]]:
        """Every fault as written -> (hook, description, is a setting); a kind whose first
        argument is a closed set is listed once per choice."""
        listed: dict[str, tuple[Hook, str, bool]] = {}
        for kind in self.kinds:
            if kind.choices:
                for choice_name, what in kind.choices.items():
                    listed[f"{kind.name}:{choice_name}"] = (kind.hook, what, kind.setting)
            else:
                listed[kind.signature] = (kind.hook, kind.description, kind.setting)
        return listed


class ActiveFaults:
    """The faults one sandbox was started with, parsed once, and the policies they make."""

    def __init__(self, faults: Iterable[str], catalog: Catalog) -> None:
        self.catalog = catalog
        self.names = catalog.validate(faults)
        parsed: list[ParsedFault] = []
        for fault in sorted(self.names):
            parsed += catalog.parse(fault)
        self.parsed = tuple(parsed)
        self._hooks = frozenset(p.kind.hook for p in self.parsed)
        self._cache: dict[tuple[Hook, Any], Any] = {}

    def touches(self, hook: Hook) -> bool:
        """Is any active fault acting at ``hook``? (e.g. to leave the transport layer out)."""
        return hook in self._hooks

    def keys(self, hook: Hook) -> set[str]:
        """The keys (types, versions) that active faults at ``hook`` name."""
        return {p.key for p in self.parsed if p.kind.hook is hook and p.key is not None}

    def policy(self, hook: Hook, make: Callable[[], P], key: str | tuple[str, ...] = ()) -> P:
        """The policy of ``hook`` for ``key`` (one name, or several: e.g. the document and the
        version): ``make()`` changed by every fault at ``hook`` that applies there, in the
        faults' sorted order. Computed once; callers must not change it."""
        keys = (key,) if isinstance(key, str) else tuple(key)
        cache_key = (hook, keys)
        if cache_key not in self._cache:
            policy = make()
            for fault in self.parsed:
                if fault.kind.hook is hook and _applies(fault, keys):
                    assert fault.kind.effect is not None
                    fault.kind.effect(policy, *fault.args)
            self._cache[cache_key] = policy
        return self._cache[cache_key]

    def __bool__(self) -> bool:
        return bool(self.names)

    def __repr__(self) -> str:
        return f"ActiveFaults({sorted(self.names)!r})"


def _applies(fault: ParsedFault, keys: tuple[str, ...]) -> bool:
    if fault.kind.fixed_key is not None and fault.kind.fixed_key not in keys:
        return False
    return not fault.kind.keyed or fault.key == EVERY or fault.key in keys


def sets(attribute: str, value: Any = True) -> Callable[..., None]:
    """An effect that sets ``policy.attribute`` to ``value``."""
    def effect(policy: Any) -> None:
        setattr(policy, attribute, value)

    return effect


def sets_arg(attribute: str) -> Callable[..., None]:
    """An effect that sets ``policy.attribute`` to the fault's argument."""
    def effect(policy: Any, value: Any) -> None:
        setattr(policy, attribute, value)

    return effect


def adds_arg(attribute: str) -> Callable[..., None]:
    """An effect that adds the fault's argument to the list or set ``policy.attribute``."""
    def effect(policy: Any, value: Any) -> None:
        target = getattr(policy, attribute)
        target.add(value) if isinstance(target, set) else target.append(value)

    return effect


def choice(placeholder: str, choices: Mapping[str, str] | Iterable[str], what: str) -> Arg:
    """An argument from a closed set (``what`` names it in messages)."""
    known = tuple(choices)

    def parse(text: str) -> str:
        if text not in known:
            raise FaultError(f"{text!r} is not a {what}{did_you_mean(text, known)} "
                             f"(known: {', '.join(known)})")
        return text

    return Arg(placeholder, parse)
