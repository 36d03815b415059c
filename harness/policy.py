"""The gate policy from a tenant file or a policy file: which APIs or groups are optional, which quirks are
accepted. The gate itself (``harness.run.gate``) is a pure function of the results and this policy."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

@dataclass(frozen=True)
class GatePolicy:
    optional_apis: frozenset[str] = frozenset()
    optional_groups: frozenset[str] = frozenset()
    required_groups: frozenset[str] | None = None  # when given, every other group is optional
    accepted_quirks: tuple[str, ...] = ()
    warnings_fail: frozenset[str] = frozenset()  # check ids whose warnings fail the gate (scopes.granted-as-requested)
    source: str = "default: every requested API and every check is required"

    def is_optional(self, api: str | None, group: str | None) -> bool:
        """Is a check of this API (and API group) optional? Checks of no API (discovery, auth) never are."""
        if api is None:
            return False
        if api in self.optional_apis or (group and group in self.optional_groups):
            return True
        return self.required_groups is not None and group not in self.required_groups

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
    allowed = {"optional_apis", "optional_groups", "required_groups", "accepted_quirks", "warnings_fail"}
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
        warnings_fail=_names(table, "warnings_fail", file),
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
