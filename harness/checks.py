"""How a check is declared: one decorator gives every check its id, title, why, source and severity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, TypeVar

from harness.catalog import Api

Severity = Literal["blocker", "critical", "normal", "minor", "trivial"]
Category = Literal["tenant-configuration", "tenant-fault", "test-data", "harness-error"]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CheckInfo:
    id: str
    title: str
    why: str
    source: str
    source_url: str | None
    severity: Severity
    area: str
    marker: str
    applies_to: Callable[[Api], bool] | None = None
    exercises: bool = False


REGISTRY: dict[str, CheckInfo] = {}


def check(id: str, *, title: str, why: str, source: str, area: str, marker: str,
          source_url: str | None = None, severity: Severity = "critical",
          applies_to: Callable[[Api], bool] | None = None, exercises: bool = False) -> Callable[[F], F]:
    """Register a check. ``applies_to`` makes it a per-API check, parametrized over the requested APIs
    it accepts (the test function then takes an ``api`` argument). ``exercises`` marks the checks whose
    outcome fills the coverage matrix's "exercised" column."""

    def decorate(fn: F) -> F:
        info = CheckInfo(id=id, title=title, why=why, source=source, source_url=source_url, severity=severity,
                         area=area, marker=marker, applies_to=applies_to, exercises=exercises)
        existing = REGISTRY.get(id)
        if existing is not None and existing.title != title:
            raise ValueError(f"check id {id!r} is registered twice")
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


@dataclass
class CheckContext:
    """Given to a check as the ``verdict`` fixture: warnings, notes and evidence for the report."""

    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # structured findings for the run's reports

    def warn(self, message: str) -> None:
        """A recommendation not met or a quirk seen: shown in the report, never fails the gate."""
        self.warnings.append(message)

    def note(self, message: str) -> None:
        self.notes.append(message)

    def attach(self, name: str, value: Any) -> None:
        self.evidence[name] = value

    def record_shape(self, resources: list[Any]) -> None:
        """A fingerprint of the element paths the answer used, so that drift between runs shows up."""
        self.shape = shape_of(resources)

    shape: str | None = None


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
    import hashlib

    paths: set[str] = set()
    for resource in resources:
        if isinstance(resource, dict):
            _paths({k: v for k, v in resource.items() if k not in ("id", "meta", "text")},
                   str(resource.get("resourceType", "")), paths)
    if not paths:
        return None
    return hashlib.sha256("\n".join(sorted(paths)).encode()).hexdigest()[:12]
