"""Drift: what changed between two runs of one tenant (a recording and a live run, or two live runs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError


@dataclass(frozen=True)
class Change:
    subject: str  # an API name, a check id, or "tenant"
    what: str  # declared, granted, exercised, shape, outcome, software_version, requested
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.subject}: {self.what} {self.before!r} -> {self.after!r}"


def load_summary(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    file = path / "summary.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(file), None, "no such summary (give a summary.json, a report folder or a cassette folder)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(str(file), None, f"not a readable summary.json: {exc}") from None
    if not isinstance(data, dict) or "apis" not in data or "checks" not in data:
        raise ConfigError(str(file), None, "not a summary.json written by epic-harness (no apis/checks)")
    return data


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    if before.get("software_version") != after.get("software_version"):
        changes.append(Change("tenant", "software_version", before.get("software_version"), after.get("software_version")))
    apis_before = {a["name"]: a for a in before["apis"]}
    apis_after = {a["name"]: a for a in after["apis"]}
    for name in sorted(apis_before.keys() | apis_after.keys()):
        a, b = apis_before.get(name), apis_after.get(name)
        if a is None or b is None:
            changes.append(Change(name, "requested", a is not None, b is not None))
            continue
        for field in ("declared", "granted", "exercised"):
            if a.get(field) != b.get(field):
                changes.append(Change(name, field, a.get(field), b.get(field)))
        if a.get("shape") and b.get("shape") and a["shape"] != b["shape"]:
            changes.append(Change(name, "shape", a["shape"], b["shape"]))
    checks_before = {c["id"]: c["outcome"] for c in before["checks"]}
    checks_after = {c["id"]: c["outcome"] for c in after["checks"]}
    for cid in sorted(checks_before.keys() & checks_after.keys()):
        if checks_before[cid] != checks_after[cid]:
            changes.append(Change(cid, "outcome", checks_before[cid], checks_after[cid]))
    return changes
