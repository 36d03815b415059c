"""The gate: which failures stop a release. A policy makes APIs or groups optional and accepts known
quirks; a baseline makes only regressions count."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.results import ApiRow, CheckResult, Gate

FAILING = ("failed", "broken")
GOOD = ("passed", "warning")


@dataclass(frozen=True)
class GatePolicy:
    optional_apis: frozenset[str] = frozenset()
    optional_groups: frozenset[str] = frozenset()
    required_groups: frozenset[str] | None = None  # when given, every other group is optional
    accepted_quirks: tuple[str, ...] = ()
    source: str = "default: every requested API and every check is required"

    def is_optional(self, check: CheckResult) -> bool:
        if check.api is None:
            return False  # discovery and auth checks hold for the whole app
        if check.api in self.optional_apis or (check.group and check.group in self.optional_groups):
            return True
        return self.required_groups is not None and check.group not in self.required_groups

    def accepts(self, warning: str) -> bool:
        return any(q.lower() in warning.lower() for q in self.accepted_quirks)


def _names(table: dict[str, Any], key: str, file: str | None) -> frozenset[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(file, f"gate.{key}", "must be a list of strings")
    return frozenset(value)


def parse_policy(table: Any, *, file: str | None, known_apis: set[str], known_groups: set[str]) -> GatePolicy:
    if table is None:
        return GatePolicy()
    if not isinstance(table, dict):
        raise ConfigError(file, "gate", "must be a table")
    allowed = {"optional_apis", "optional_groups", "required_groups", "accepted_quirks"}
    unknown = set(table) - allowed
    if unknown:
        raise ConfigError(file, f"gate.{sorted(unknown)[0]}", f"unknown field; known fields: {', '.join(sorted(allowed))}")
    optional_apis = _names(table, "optional_apis", file)
    for name in optional_apis - known_apis:
        raise ConfigError(file, "gate.optional_apis", f"{name!r} is not one of the requested APIs")
    groups = _names(table, "optional_groups", file) | _names(table, "required_groups", file)
    for name in groups - known_groups:
        raise ConfigError(file, "gate", f"no API group named {name!r}; groups: {', '.join(sorted(known_groups))}")
    return GatePolicy(
        optional_apis=optional_apis,
        optional_groups=_names(table, "optional_groups", file),
        required_groups=_names(table, "required_groups", file) if "required_groups" in table else None,
        accepted_quirks=tuple(_names(table, "accepted_quirks", file)),
        source=f"policy from {file}",
    )


def load_policy_file(path: str | Path, *, known_apis: set[str], known_groups: set[str]) -> GatePolicy:
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(file), None, "no such policy file") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(str(file), None, f"not a readable TOML policy: {exc}") from None
    return parse_policy(data.get("gate", data), file=str(file), known_apis=known_apis, known_groups=known_groups)


@dataclass
class GateInput:
    checks: list[CheckResult]
    apis: list[ApiRow]
    policy: GatePolicy = field(default_factory=GatePolicy)
    baseline: dict[str, Any] | None = None


def compute(gate_input: GateInput) -> Gate:
    policy = gate_input.policy
    reasons: list[str] = []
    waived: list[str] = []
    baseline_outcomes = ({c["id"]: c["outcome"] for c in gate_input.baseline["checks"]}
                         if gate_input.baseline else None)
    for check in gate_input.checks:
        if check.outcome not in FAILING:
            continue
        line = f"{check.id}: {check.outcome}: {check.message}"
        if policy.is_optional(check):
            waived.append(f"optional: {line}")
        elif baseline_outcomes is not None and baseline_outcomes.get(check.id) not in GOOD:
            waived.append(f"not a regression (baseline: {baseline_outcomes.get(check.id, 'not run')}): {line}")
        else:
            reasons.append(("regression: " if baseline_outcomes is not None else "") + line)
    if gate_input.baseline:
        before = {a["name"]: a for a in gate_input.baseline.get("apis", [])}
        for row in gate_input.apis:
            old = before.get(row.name)
            if old is None or any(c.api == row.name and policy.is_optional(c) for c in gate_input.checks):
                continue
            for column in ("declared", "granted"):
                if old.get(column) is True and getattr(row, column) is False:
                    reasons.append(f"regression: {row.name}: {column} was true in the baseline, now false")
    return Gate(passed=not reasons, reasons=reasons, waived=waived, policy=policy.source,
                baseline=bool(gate_input.baseline))
