"""``epic-harness history`` and ``epic-harness forecast``, and the ``--history`` option other commands share."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

EXIT_OK, EXIT_USAGE = 0, 2


def add_history_option(parser: argparse.ArgumentParser, *, recording: bool = True) -> None:
    """``--history PATH|URL`` for any command that records or reads runs, and ``--no-history`` for those
    that record (``recording``)."""
    from harness.history.location import DEFAULT_PATH, ENV_VAR

    parser.add_argument("--history", metavar="PATH|URL", default=None,
                        help=f"the run history: a SQLite file or a SQLAlchemy URL such as postgresql://user@host/db "
                             f"(default ${ENV_VAR}, else {DEFAULT_PATH})")
    if recording:
        parser.add_argument("--no-history", action="store_true", help="record nothing into the history")


def history_target(args: argparse.Namespace) -> str | None:
    """Where ``args`` ask runs to be recorded: None for ``--no-history``, else the path or URL."""
    from harness.history.location import default_target

    if getattr(args, "no_history", False):
        return None
    return getattr(args, "history", None) or default_target()


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_history_parsers(subparsers: Any) -> None:
    """Add ``history`` and ``forecast`` to an ``add_subparsers()`` object."""
    history = subparsers.add_parser(
        "history", help="the run history: runs, a tenant's timeline, changes, availability, history.html",
        description="Ask the run history. Without options: the newest runs. Exit 0, or 2 for a usage error.")
    add_history_option(history, recording=False)
    history.add_argument("--tenant", metavar="NAME", help="one tenant's timeline: its runs and fleet observations, "
                                                          "what changed from one to the next, its availability")
    history.add_argument("--since", metavar="DATE", help="every change across tenants since DATE "
                                                         "(YYYY-MM-DD, an ISO time, or 7d / 12h / 2w ago)")
    history.add_argument("--availability", action="store_true",
                         help="availability %% and median response times per tenant over --window")
    history.add_argument("--window", default="30d", metavar="30d",
                         help="the window of --availability and of a tenant's availability (default 30d)")
    history.add_argument("--kind", choices=("tenant", "fleet"), help="list only tenant or only fleet runs")
    history.add_argument("--limit", type=_positive, default=20, metavar="N", help="runs or rows to show (default 20)")
    history.add_argument("--add", action="append", default=[], metavar="FILE",
                         help="record a summary.json or fleet.json (or a report folder holding one) first; repeatable")
    history.add_argument("--html", metavar="FILE", help="write history.html (self-contained) to FILE")
    history.add_argument("--html-window", default="90d", metavar="90d", help="the window history.html shows")
    history.add_argument("--json", action="store_true", help="print JSON instead of tables")
    history.set_defaults(handler=command_history)

    forecast = subparsers.add_parser(
        "forecast", help="what an Epic upgrade will change for a tenant, from the fleet history",
        description="For a tenant on release X, list the requested APIs whose declared support differs between "
                    "the fleet's tenants on X and on the target release, with how many tenants each figure "
                    "rests on. Exit 0, or 2 for a usage error.")
    add_history_option(forecast, recording=False)
    forecast.add_argument("--tenant", required=True, metavar="NAME", help="a tenant run's name, or a fleet tenant's "
                                                                          "name or address")
    forecast.add_argument("--to", required=True, metavar="RELEASE",
                          help="the target Epic release, e.g. 'February 2026'")
    forecast.add_argument("--from", dest="from_release", metavar="RELEASE",
                          help="the release the tenant is on (default: as last seen)")
    forecast.add_argument("--since", metavar="DATE", help="only fleet runs since DATE as evidence")
    forecast.add_argument("--json", action="store_true", help="print JSON instead of a table")
    forecast.set_defaults(handler=command_forecast)


def _fail(command: str, exc: HarnessError) -> int:
    print(f"epic-harness {command}: {exc}", file=sys.stderr)
    return EXIT_USAGE


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _load_file(text: str) -> tuple[str, dict[str, Any]]:
    from harness.history.errors import HistoryError

    path = Path(text)
    if path.is_dir():
        found = [path / name for name in ("summary.json", "fleet.json") if (path / name).is_file()]
        if not found:
            raise HistoryError(f"{path}: no summary.json or fleet.json in this folder")
        path = found[0]
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"{path}: cannot read it ({exc})") from None
    except ValueError as exc:
        raise HistoryError(f"{path}: not JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("tenants"), list):
        return "fleet", data
    if isinstance(data, dict) and isinstance(data.get("apis"), list) and isinstance(data.get("checks"), list):
        return "tenant", data
    raise HistoryError(f"{path}: neither a summary.json nor a fleet.json of epic-harness")


def command_history(args: argparse.Namespace) -> int:
    try:
        return _command_history(args)
    except HarnessError as exc:
        return _fail("history", exc)


def _command_history(args: argparse.Namespace) -> int:
    from harness.history import queries, terminal
    from harness.history.page import write_history_html
    from harness.history.record import UNKNOWN, record_fleet, record_run
    from harness.history.store import History, default_target

    store = History(args.history or default_target())
    out = terminal.console()
    payload: dict[str, Any] = {"history": store.label}
    try:
        loaded = [_load_file(f) for f in args.add]  # every file is read before anything is written
        added = [(record_fleet(data, history=store, harness_version=UNKNOWN) if kind == "fleet"
                  else record_run(data, history=store)) for kind, data in loaded]
        for file, done in zip(args.add, added):
            if not args.json:
                out.print(f"{'recorded' if done.created else 'already recorded'}: {file} as {done.kind} run "
                          f"{done.run_id}")
        if added:
            payload["added"] = [d.as_dict() for d in added]
        asked = bool(args.tenant or args.since or args.availability)
        with store.read() as conn:
            if args.tenant:
                match = queries.find_tenant(conn, args.tenant)
                timeline = queries.tenant_timeline(conn, match, window=args.window)
                payload["tenant"] = timeline
                if not args.json:
                    terminal.print_timeline(out, timeline)
            if args.since:
                since = queries.parse_when(args.since)
                changes = queries.changes_since(conn, since)
                payload["since"], payload["changes"] = since, [c.as_dict() for c in changes]
                if not args.json:
                    terminal.print_changes(out, changes, since)
            if args.availability:
                last = queries.load.runs(conn, kind="fleet", limit=1)
                until = last[0]["finished"] if last else None
                rows = queries.availability(conn, since=queries.window_start(args.window, until=until), until=until)
                payload["availability"] = {"window": args.window, "until": until, "tenants": rows}
                if not args.json:
                    terminal.print_availability(out, rows, args.window, args.limit)
            if not asked and not args.html and not added:
                rows = queries.list_runs(conn, kind=args.kind, limit=args.limit)
                totals = queries.count_runs(conn)
                payload["runs"], payload["totals"] = rows, totals
                if not args.json:
                    terminal.print_runs(out, rows, totals, store.label)
        if args.html:
            page = write_history_html(store, args.html, window=args.html_window)
            payload["html"] = str(page)
            if not args.json:
                out.print(f"history page: {page}")
    finally:
        store.close()
    if args.json:
        _print_json(payload)
    return EXIT_OK


def command_forecast(args: argparse.Namespace) -> int:
    try:
        return _command_forecast(args)
    except HarnessError as exc:
        return _fail("forecast", exc)


def _command_forecast(args: argparse.Namespace) -> int:
    from harness.history import queries, terminal
    from harness.history.forecast import forecast
    from harness.history.store import History, default_target

    with History(args.history or default_target()) as store, store.read() as conn:
        match = queries.find_tenant(conn, args.tenant)
        since = queries.parse_when(args.since) if args.since else None
        result = forecast(conn, match, args.to, current=args.from_release, since=since)
    if args.json:
        _print_json(result.as_dict())
    else:
        terminal.print_forecast(terminal.console(), result)
    return EXIT_OK
