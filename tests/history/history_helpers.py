"""What the history tests share: tenant runs derived from one real summary, and a database dump."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text

from harness.requirements import requirements_for

DATA = Path(__file__).parent / "data"
LOST_API = "Practitioner.Read (Organizational Directory) (R4)"


def sandbox_summary() -> dict[str, Any]:
    """A summary.json (schema 1) written by a run against the sandbox, cut down to six APIs."""
    return json.loads((DATA / "summary-sandbox.json").read_text("utf-8"))


def tenant_runs(name: str = "acme-nonprod") -> list[dict[str, Any]]:
    """Three runs of one tenant: passed on May 2026; upgraded to August 2026 and LOST_API no longer declared
    (its check fails, gate failed); then a schema-2 summary, gate incomplete, one check blocked, each check
    with the requirements the catalogue maps it to."""
    first = sandbox_summary()
    first.update(tenant=name, started="2026-05-01T08:00:00+00:00", finished="2026-05-01T08:01:00+00:00")
    second = copy.deepcopy(first)
    second.update(started="2026-08-20T08:00:00+00:00", finished="2026-08-20T08:01:00+00:00",
                  software_version="August 2026", gate="failed")
    for api in second["apis"]:
        if api["name"] == LOST_API:
            api["declared"] = False
    for check in second["checks"]:
        if check["id"] == f"coverage.declared[{LOST_API}]":
            check["outcome"] = "failed"
            check["message"] = "not declared by the CapabilityStatement"
    third = copy.deepcopy(second)
    third.update(schema_version=2, started="2026-08-27T08:00:00+00:00", finished="2026-08-27T08:01:00+00:00",
                 gate="incomplete")
    third["counts"].update(blocked=1, inconclusive=0)
    for api in third["apis"]:
        api["verified"] = api["name"] != "Slot.Read (STU3)"
    for check in third["checks"]:
        check["blocked_by"] = None
        check["requirements"] = list(requirements_for(check["check_id"]))
    blocked = next(c for c in third["checks"] if c["api"] == "Slot.Read (STU3)" and c["outcome"] == "passed")
    blocked.update(outcome="blocked", blocked_by="auth.token.issued")
    return [first, second, third]


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: equal before and after means the database did not change."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}"))), key=repr)
                    for t in sorted(inspect(conn).get_table_names())}
    finally:
        engine.dispose()


def all_text(url: str) -> str:
    """Every value stored, as one string."""
    return json.dumps(dump(url), default=str, ensure_ascii=False)
