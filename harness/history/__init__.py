"""The run history: every tenant run and fleet run kept in a database (SQLite by default, any
SQLAlchemy URL), the questions asked of it, its pictures, and the upgrade forecast.

What the run and fleet commands call:

- :func:`record_run` (a ``summary.json`` dict) and :func:`record_fleet` (a ``fleet.json`` dict);
- :func:`add_history_option` / :func:`history_target` for ``--history PATH|URL`` and ``--no-history``;
- :func:`resolve_baseline` for ``--baseline`` naming a file or ``history:<id>|latest|latest-passed``;
- :func:`fleet_history_section` for the fleet-over-time fragment of ``fleet.html``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_names

# The names below are imported when first asked for, so that building the command line's parser
# (``harness.history.cli``) does not load SQLAlchemy, the schema and the charts.
_EXPORTS = {
    "baseline": ("is_history_baseline", "resolve_baseline"),
    "cli": ("add_history_option", "add_history_parsers", "history_target"),
    "errors": ("HistoryError",),
    "page": ("fleet_history_section", "write_history_html"),
    "record": ("Recorded", "record_fleet", "record_run"),
    "store": ("History", "make_engine", "open_history"),
}

if TYPE_CHECKING:
    from harness.history.baseline import is_history_baseline, resolve_baseline
    from harness.history.cli import add_history_option, add_history_parsers, history_target
    from harness.history.errors import HistoryError
    from harness.history.page import fleet_history_section, write_history_html
    from harness.history.record import Recorded, record_fleet, record_run
    from harness.history.store import History, make_engine, open_history

__all__ = [
    "History", "HistoryError", "Recorded", "add_history_option", "add_history_parsers", "fleet_history_section",
    "history_target", "is_history_baseline", "make_engine", "open_history", "record_fleet", "record_run",
    "resolve_baseline", "write_history_html",
]


__getattr__, __dir__ = lazy_names(__name__, globals(), _EXPORTS)
