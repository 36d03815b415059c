"""How a check is declared, and how it reports what it proved.

One decorator, :func:`check`, gives every check its stable id, title, why it matters, source, the
requirements it verifies, its group (which is its pytest marker: ``-m exercise`` selects every
exercising check), what it needs before it can run (a token, the API declared, test data...),
and whether it writes or probes (one guard each, applied by the plugin, never by the check).

Inside a check: pass by returning; fail with :class:`CheckFailed` (or ``assert``); warn or note
through the ``verdict`` fixture (:class:`CheckContext`); raise :class:`Inconclusive` when the
tenant's answer cannot decide the rule; ``pytest.skip`` when the check does not apply here.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, TypeVar

import pytest

from harness.catalog import Api
from harness.actors import Category

Severity = Literal["blocker", "critical", "normal", "minor", "trivial"]
F = TypeVar("F", bound=Callable[..., Any])

#: The check groups, in the order a run runs them, with the name reports show.
GROUPS: dict[str, str] = {
    "preflight": "Preflight",
    "discovery": "Discovery",
    "auth": "Authorization",
    "coverage": "API coverage",
    "exercise": "API exercise",
    "probing": "Probing",
}

GROUP_ORDER = {name: i for i, name in enumerate(GROUPS)}

# What a check may need before it runs. ``data:<key>`` needs test_data.<key> in the tenant file.
REACHABLE = "reachable"            # the tenant answered the preflight
SMART_CONFIGURATION = "smart-configuration"  # a usable smart-configuration document
CAPABILITY = "capability"          # a usable CapabilityStatement for the check's FHIR version (or the API's)
TOKEN_ENDPOINT = "token-endpoint"  # a token endpoint is known (discovery or the tenant file)
TOKEN = "token"                    # the run obtained an access token
DECLARED = "declared"              # the check's API is declared by the CapabilityStatement (not refused by it)
# The check judges what its API's own exercise check (exercise.read / exercise.search) fetched: it runs
# after that check, and is blocked by it when it failed (one failing request is one failure, not ten).
EXERCISED = "exercised"
NEEDS = frozenset({REACHABLE, SMART_CONFIGURATION, CAPABILITY, TOKEN_ENDPOINT, TOKEN, DECLARED, EXERCISED})


def data(key: str) -> str:
    """A need for ``test_data.<key>`` in the tenant file."""
    return f"data:{key}"


@dataclass(frozen=True)
class CheckInfo:
    id: str
    title: str
    why: str
    source: str
    source_url: str | None
    severity: Severity
    group: str
    area: str
    applies_to: Callable[..., bool] | None = None  # (api) or (api, tenant)
    exercises: bool = False
    needs: tuple[str, ...] = ()
    writes: bool | Callable[[Api], bool] = False
    probes: bool = False
    negative: bool = False
    required: bool = True
    late: bool = False
    production: bool = True
    credentials: bool = False
    requirements: tuple[str, ...] = ()
    origin: str = field(default="", compare=False)

    @property
    def marker(self) -> str:
        return self.group

    def applies(self, api: Api, tenant: Any) -> bool:
        """Whether this per-API check runs for ``api``: ``applies_to(api)``, or ``applies_to(api, tenant)`` for a
        check that depends on the tenant file (no ``applies_to``: every API)."""
        if self.applies_to is None:
            return True
        return bool(self.applies_to(api, tenant) if _takes_tenant(self.applies_to) else self.applies_to(api))

    @property
    def order(self) -> tuple[int, int, int]:
        """Where a run puts the check: late ones last, then by group; a check judging what an exercise check
        fetched runs after every exercise check of its group."""
        return (int(self.late), GROUP_ORDER.get(self.group, len(GROUP_ORDER)), int(EXERCISED in self.needs))

    def writes_for(self, api: Api | None) -> bool:
        if callable(self.writes):
            return bool(api is not None and self.writes(api))
        return bool(self.writes)


@functools.cache
def _takes_tenant(applies_to: Any) -> bool:
    """Whether ``applies_to`` takes the tenant too; asked once per function, not once per requested API."""
    try:
        return len(inspect.signature(applies_to).parameters) >= 2
    except (TypeError, ValueError):
        return False


REGISTRY: dict[str, CheckInfo] = {}


class DuplicateCheckId(ValueError):
    """Two different checks declared the same id."""


def check(id: str, *, title: str, why: str, source: str, group: str, source_url: str | None = None,
          severity: Severity = "critical", area: str | None = None, applies_to: Callable[..., bool] | None = None,
          exercises: bool = False, needs: tuple[str, ...] = (REACHABLE,),
          writes: bool | Callable[[Api], bool] = False, probes: bool = False, negative: bool = False,
          required: bool = True, late: bool = False, production: bool = True, credentials: bool = False,
          requirements: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Register a check.

    ``applies_to`` makes it a per-API check, parametrized over the requested APIs it accepts (the
    function then takes an ``api`` argument); ``exercises`` marks the checks whose outcome fills the
    coverage matrix's "exercised" column. ``needs`` lists preconditions (see ``NEEDS`` and
    :func:`data`): when one does not hold the check is blocked (naming the check that failed it) or
    skipped, and never sends a request. ``writes`` (or a function of the API), ``probes`` and
    ``negative`` put the check behind the plugin's guards: never in production, and only when the
    tenant file allows it. ``required=False`` marks an advisory check whose absence does not make
    the gate incomplete (a failure still fails it). ``late`` runs the check after every other one.
    ``production=False`` keeps a check that only reads, but reads oddly (without a token, say), away
    from production tenants. ``credentials`` marks a check of the app's own key or JWK Set, which a
    replay without those secrets cannot judge.
    """
    if group not in GROUPS:
        raise ValueError(f"check {id!r}: unknown group {group!r}; groups: {', '.join(GROUPS)}")
    for need in needs:
        if need not in NEEDS and not need.startswith("data:"):
            raise ValueError(f"check {id!r}: unknown need {need!r}; needs: {', '.join(sorted(NEEDS))}, data:<key>")

    def decorate(fn: F) -> F:
        origin = f"{fn.__module__}.{fn.__qualname__}"
        same_function = f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__qualname__}"
        info = CheckInfo(id=id, title=title, why=why, source=source, source_url=source_url, severity=severity,
                         group=group, area=area or GROUPS[group], applies_to=applies_to, exercises=exercises,
                         needs=tuple(needs), writes=writes, probes=probes, negative=negative, required=required,
                         late=late, production=production, credentials=credentials,
                         requirements=tuple(requirements), origin=origin)
        existing = REGISTRY.get(id)
        if existing is not None and not existing.origin.endswith(same_function):
            raise DuplicateCheckId(f"check id {id!r} is declared twice: by {existing.origin} and by {origin}")
        REGISTRY[id] = info
        fn.__check__ = info  # type: ignore[attr-defined]
        return fn

    return decorate


def info_of(fn: Any) -> CheckInfo | None:
    return getattr(fn, "__check__", None)


class CheckFailed(AssertionError):
    """The tenant does not do what it must. ``category`` says who has to act."""

    def __init__(self, message: str, *, category: Category = "tenant-configuration") -> None:
        super().__init__(message)
        self.category = category


class Inconclusive(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """The tenant's answer cannot decide the rule (the message says why): neither passed nor failed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class Blocked(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A precondition failed: ``by`` is the check that failed it. Raised by the plugin, not by checks."""

    def __init__(self, by: str, message: str) -> None:
        super().__init__(message)
        self.by = by


@dataclass
class CheckContext:
    """Given to a check as the ``verdict`` fixture: warnings, notes and evidence for the report."""

    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # structured findings for the run's reports
    shape: str | None = None

    def warn(self, message: str) -> None:
        """A recommendation not met or a quirk seen: shown in the report, never fails the gate."""
        if message not in self.warnings:
            self.warnings.append(message)

    def note(self, message: str) -> None:
        self.notes.append(message)

    def attach(self, name: str, value: Any) -> None:
        self.evidence[name] = value

    def record_shape(self, resources: list[Any]) -> None:
        """A fingerprint of the element paths the answer used, so that drift between runs shows up."""
        self.shape = shape_of(resources)


def _paths(node: Any, prefix: str, out: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _paths(value, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(node, list):
        for value in node:
            _paths(value, prefix, out)
    else:
        out.add(prefix)


def shape_of(resources: list[Any]) -> str | None:
    """sha256 (12 hex) of the sorted element paths of some resources, e.g. 'Patient.name.family'."""
    paths: set[str] = set()
    for resource in resources:
        if isinstance(resource, dict):
            _paths({k: v for k, v in resource.items() if k not in ("id", "meta", "text")},
                   str(resource.get("resourceType", "")), paths)
    if not paths:
        return None
    return hashlib.sha256("\n".join(sorted(paths)).encode()).hexdigest()[:12]
