"""``--baseline`` naming a stored run instead of a file: ``history:<run id>``, ``history:latest`` (the
tenant's newest run) or ``history:latest-passed`` (its newest run whose gate passed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.history.errors import HistoryError

if TYPE_CHECKING:
    from harness.history.store import History

PREFIX = "history:"


def is_history_baseline(value: str) -> bool:
    return value.startswith(PREFIX)


def resolve_baseline(value: str, *, tenant: str | None = None, history: str | Path | History | None = None
                     ) -> dict[str, Any]:
    """The baseline summary dict for ``--baseline VALUE``: a stored run (``history:...``) read back in
    ``summary.json``'s shape (stored fields only), or a summary.json / report folder read as today."""
    if not is_history_baseline(value):
        from harness.drift import load_summary

        return load_summary(value)
    from sqlalchemy import select  # a baseline file needs no database library

    from harness.history import load, schema
    from harness.history.store import open_history

    which = value[len(PREFIX):].strip()
    store = open_history(history)
    try:
        with store.read() as conn:
            runs = schema.runs
            if which.isdigit():
                run_id = int(which)
            elif which in ("latest", "latest-passed"):
                if not tenant:
                    raise HistoryError(f"--baseline {value}: needs the tenant's name to find its newest run")
                query = select(runs.c.id).where(runs.c.kind == "tenant", runs.c.tenant == tenant)
                if which == "latest-passed":
                    query = query.where(runs.c.gate == "passed")
                found = conn.execute(query.order_by(runs.c.finished.desc(), runs.c.id.desc()).limit(1)).scalar()
                if found is None:
                    kind = "passed run" if which == "latest-passed" else "run"
                    raise HistoryError(f"--baseline {value}: no {kind} of tenant {tenant!r} in {store.label}")
                run_id = int(found)
            else:
                raise HistoryError(f"--baseline {value}: give history:<run id>, history:latest or "
                                   "history:latest-passed")
            summary = load.summary(conn, run_id)
    finally:
        if store is not history:
            store.close()
    if tenant and summary["tenant"] != tenant:
        raise HistoryError(f"--baseline {value}: run {run_id} is of tenant {summary['tenant']!r}, not {tenant!r}")
    return summary
