"""``epic-harness fleet``: discovery across every tenant of an endpoint directory at once."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TextIO

from harness.errors import HarnessError
from harness.fleet.text import terminal_text

EXIT_OK, EXIT_NOTHING_ANSWERED, EXIT_USAGE = 0, 1, 2
DEFAULT_SET = "careforce-phoenix"
DEFAULT_CASSETTE_DIR = Path("cassettes") / "fleet"
MAX_CHANGE_LINES = 20
DEFAULT_BODY_MB = 4.0


def _number(kind: type, minimum: float, *, inclusive: bool) -> Any:
    """An argparse type: a whole number or a number, at least (or above) ``minimum``."""
    rule = f"at least {minimum:g}" if inclusive else f"greater than {minimum:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
        if value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {rule}")
        return value

    return parse


_positive_int = _number(int, 1, inclusive=True)
_non_negative_int = _number(int, 0, inclusive=True)
_positive_float = _number(float, 0, inclusive=False)
_non_negative_float = _number(float, 0, inclusive=True)


def add_fleet_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``fleet`` command to an ``add_subparsers()`` object; returns its parser."""
    fleet = subparsers.add_parser(
        "fleet",
        help="discovery across every tenant of an Epic endpoint directory at once",
        description="Fetch every distinct tenant's smart-configuration and CapabilityStatement (no credentials) "
                    "and report its Epic release, FHIR version, declared coverage of the requested APIs, "
                    "backend-services readiness, CapabilityStatement shape and TLS facts. Only public addresses "
                    "are fetched. Exit 0 when the run completed and at least one tenant answered; 1 when no "
                    "tenant answered (no network, everything refused); 2 for a usage error.",
    )
    fleet.add_argument("--endpoints", required=True, metavar="FILE",
                       help="Epic's endpoint directory (a FHIR Bundle of Endpoints) or a text file of FHIR base URLs")
    fleet.add_argument("--apis", default=DEFAULT_SET, metavar="SET",
                       help=f"the named API set to judge coverage against (default {DEFAULT_SET})")
    fleet.add_argument("--report-dir", metavar="DIR", help="output folder (default reports/fleet-<timestamp>)")
    fleet.add_argument("--baseline", metavar="FILE", help="an earlier fleet.json: list what changed since")
    fleet.add_argument("--concurrency", type=_positive_int, default=32, metavar="N",
                       help="requests in flight at most (default 32)")
    fleet.add_argument("--per-host-rps", type=_non_negative_float, default=10.0, metavar="R",
                       help="requests per second per host at most (default 10; 0: no limit)")
    fleet.add_argument("--timeout", type=_positive_float, default=10.0, metavar="S",
                       help="connect and read timeout in seconds (default 10); a host name lookup gets at least 5")
    fleet.add_argument("--retries", type=_non_negative_int, default=2, metavar="N",
                       help="retries after a timeout, 5xx or 429, with backoff (default 2)")
    fleet.add_argument("--limit", type=_positive_int, metavar="N", help="only the first N distinct addresses")
    fleet.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                       help="split the tenants across N pytest-xdist worker processes (default 1: this process). "
                            "While --per-host-rps is above 0 each host's tenants stay on one worker; "
                            "--concurrency applies to each worker")
    fleet.add_argument("--mode", choices=("live", "record", "replay"), default="live",
                       help="live (default); record: write every tenant's answers into cassettes; "
                            "replay: answer from the cassettes, with no network")
    fleet.add_argument("--cassette-dir", default=str(DEFAULT_CASSETTE_DIR), metavar="DIR",
                       help=f"the cassettes' folder, one cassette per tenant (default {DEFAULT_CASSETTE_DIR})")
    fleet.add_argument("--allow-loopback", action="store_true",
                       help="also fetch loopback addresses (127.0.0.0/8, ::1, localhost): for the sandbox fleet and "
                            "tests. Private, link-local, CGNAT and other non-public addresses stay refused")
    fleet.add_argument("--max-body-mb", type=_positive_float, default=DEFAULT_BODY_MB, metavar="MB",
                       help=f"largest discovery document read, on the wire and once decoded (default "
                            f"{DEFAULT_BODY_MB:g} MB); a larger one is classified too-large")
    fleet.set_defaults(handler=command_fleet)
    return fleet


def interactive(stream: TextIO | None = None) -> bool:
    """A person at a terminal: a TTY, and not CI."""
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


#: Called with a finished run's report before it is written: returns lines to print and an HTML section
#: for fleet.html. The CLI passes the history's recorder here (the fleet itself knows no history).
AfterRun = Callable[[dict[str, Any]], tuple[list[str], str]]


def command_fleet(args: argparse.Namespace, after: AfterRun | None = None) -> int:
    """Run the fleet command; 0 when the run completed, 2 for a usage error (one message, no traceback)."""
    try:
        return _command_fleet(args, after)
    except HarnessError as exc:
        print(f"epic-harness fleet: {terminal_text(exc)}", file=sys.stderr)
        return EXIT_USAGE


def _command_fleet(args: argparse.Namespace, after: AfterRun | None = None) -> int:
    from harness.catalog import load_named_set
    from harness.errors import UsageError
    from harness.fleet.baseline import compare, compared, load_fleet_json
    from harness.fleet.directory import distinct_targets, load_directory
    from harness.fleet.fetch import FetchOptions
    from harness.fleet.report import write_all
    from harness.fleet.run import run_fleet

    directory = load_directory(args.endpoints)
    requested = load_named_set(args.apis)
    baseline = load_fleet_json(args.baseline) if args.baseline else None
    mode, workers = args.mode, args.workers
    every = distinct_targets(directory)
    targets = every[: args.limit] if args.limit else every
    cassette_dir = _cassette_dir(mode, Path(args.cassette_dir), targets)
    report_dir = Path(args.report_dir) if args.report_dir else Path("reports") / f"fleet-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{report_dir}: cannot create the report folder ({exc.strerror or exc})") from None
    options = FetchOptions(
        concurrency=args.concurrency,
        per_host_rps=args.per_host_rps or None,
        connect_timeout=args.timeout,
        read_timeout=args.timeout,
        retries=args.retries,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        allow_loopback=args.allow_loopback,
    )
    people = interactive()
    progress, finish = _progress(len(targets), people)
    try:
        if workers > 1:
            from harness.fleet.distribute import run_fleet_distributed

            run: Any = run_fleet_distributed(directory, targets, requested, options, workers=workers,
                                             endpoints=args.endpoints, limit=args.limit, progress=progress,
                                             cassettes=(mode, cassette_dir) if cassette_dir is not None else None)
        else:
            from harness.fleet.cassettes import FleetCassettes

            cassettes = FleetCassettes(mode, cassette_dir) if cassette_dir is not None else None
            run = run_fleet(directory, targets, requested, options, progress=progress, cassettes=cassettes)
    finally:
        finish()
    report = run.as_dict()
    report["endpoints_file"] = str(args.endpoints)
    report["scope"] = {"limit": args.limit, "distinct_addresses": len(every), "run": len(targets),
                       "not_run": [t.key for t in every[len(targets):]]}
    if cassette_dir is not None:
        report["cassettes"] = {"mode": mode, "dir": str(cassette_dir)}
    changes = None
    if baseline is not None:
        changes = compare(baseline, report)
        report["baseline"] = {"file": str(args.baseline), "generated": baseline.get("generated"),
                              "compared": compared(baseline, report)}
        report["changes"] = [c.as_dict() for c in changes]
    extra_lines, extra_html = after(report) if after is not None else ([], "")
    try:
        write_all(report, report_dir, changes, extra_html)
    except OSError as exc:
        raise UsageError(f"{report_dir}: cannot write the report ({exc.strerror or exc})") from None
    lines = [terminal_text(line) for line in summary_lines(report, report_dir) + extra_lines]
    if people:
        _print_rich(report, lines)
    else:
        for line in lines:
            print(line)
    silent = nothing_answered(report)
    if silent is not None:
        print(f"epic-harness fleet: {terminal_text(silent)}", file=sys.stderr)
        return EXIT_NOTHING_ANSWERED
    return EXIT_OK


def nothing_answered(report: dict[str, Any]) -> str | None:
    """Why the run is an error when no tenant answered a document; None when one did."""
    s = report["stats"]
    if s["answered"]:
        return None
    if not s["fetched"]:
        return (f"no tenant to fetch: the {s['tenants']} addresses run are all malformed "
                f"(see {report.get('endpoints_file') or 'the endpoint file'})")
    failures = _counts({k: v for k, v in s["metadata"].items() if k != "ok"})
    why = f"no tenant answered: {s['fetched']} fetched, none answered a document (metadata: {failures})"
    if s["refused"].get("refused-loopback"):
        why += "; loopback addresses are fetched only with --allow-loopback (the sandbox fleet, tests)"
    elif report.get("cassettes", {}).get("mode") == "replay":
        why += "; the cassettes hold no answer: record the fleet again with --mode record"
    else:
        why += "; is the network reachable from here?"
    return why


def _cassette_dir(mode: str, folder: Path, targets: Any) -> Path | None:
    """The cassettes' folder under record or replay (None live); a usage error when it cannot serve:
    replay needs a folder holding a cassette for at least one of the tenants run."""
    from harness.errors import UsageError

    if mode == "live":
        return None
    if mode == "replay":
        from harness.fleet.cassettes import FleetCassettes

        if not folder.is_dir():
            raise UsageError(f"{folder}: no fleet cassettes here; record them first with --mode record")
        if not any(folder.rglob("*.yaml")):
            raise UsageError(f"{folder}: the folder holds no fleet cassette; record them first with --mode record")
        fetchable = [t for t in targets if not t.address.malformed]
        if fetchable and not FleetCassettes("replay", folder).recorded(fetchable):
            raise UsageError(f"{folder}: none of the {len(fetchable)} tenants run has a cassette here (recorded "
                             "from another endpoint file?); record them with --mode record")
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the cassette folder ({exc.strerror or exc})") from None
    return folder


def _progress(total: int, people: bool) -> tuple[Callable[[Any], None] | None, Callable[[], None]]:
    if not people or total == 0:
        return None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("fleet"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
    task = bar.add_task("tenants", total=total)
    bar.start()
    return (lambda _result: bar.advance(task)), bar.stop


def _counts(mapping: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in mapping.items()) or "none"


def summary_lines(report: dict[str, Any], report_dir: Path) -> list[str]:
    s = report["stats"]
    by = s["by_status"]
    failures_md = {k: v for k, v in s["metadata"].items() if k != "ok"}
    failures_sc = {k: v for k, v in s["smart_configuration"].items() if k != "ok"}
    lines = [
        f"fleet: {s['tenants']} distinct addresses from {s['entries']} directory entries; APIs {report['apis']['set']}",
        f"answered: {s['answered']} (both documents {by['ok']}, one {by['partial']}, none {by['failed']}); "
        f"malformed addresses {s['malformed']}",
        f"by release: {_counts(s['by_release'])}",
        f"metadata failures: {_counts(failures_md)}",
        f"smart-configuration failures: {_counts(failures_sc)}",
        f"backend-services ready: {s['ready']} (not ready {s['not_ready']})",
        f"full coverage: {s['full_coverage']} of {s['tenants']}",
        f"time: {s['wall_s']} s wall, {s['sum_tenant_s']} s summed over tenants, {s['requests']} requests",
    ]
    scope = report.get("scope") or {}
    if scope.get("not_run"):
        lines.insert(1, f"limit: the first {scope['run']} of {scope['distinct_addresses']} distinct addresses")
    refused = s.get("refused") or {}
    if refused:
        lines.append(f"refused (not public addresses, nothing sent): {_counts(refused)}")
    tls = s.get("tls") or {}
    if tls.get("https_tenants"):
        lines.append(tls_line(tls))
        expiring = sorted((t for t in report["tenants"] if ((t.get("tls") or {}).get("certificate") or {})
                           .get("expires_soon")), key=lambda t: t["tls"]["certificate"]["days_left"])
        lines.extend(f"  certificate expiring: {t['name']} ({t['tls']['host']}) in "
                     f"{t['tls']['certificate']['days_left']} days, {t['tls']['certificate']['not_after']}"
                     for t in expiring[:MAX_CHANGE_LINES])
        if len(expiring) > MAX_CHANGE_LINES:
            lines.append(f"  ... {len(expiring) - MAX_CHANGE_LINES} more in fleet.json")
    limit = s.get("rate_limit") or {}
    if limit.get("bound"):
        lines.append(f"rate limit: {limit['busiest_host_requests']} requests to one host ({limit['busiest_host']}) "
                     f"at --per-host-rps {limit['per_host_rps']:g} take at least {limit['floor_s']:g} s of the "
                     f"{s['wall_s']} s run; raise --per-host-rps (0: no limit) where the host allows it")
    if "distribution" in report:
        d = report["distribution"]
        sizes = ", ".join(str(shard["tenants"]) for shard in d["shards"]) or "none"
        lines.append(f"workers: {d['workers']}, sharded {d['sharding']} (tenants per shard: {sizes})")
    if "cassettes" in report:
        c = report["cassettes"]
        if c["mode"] == "record":
            lines.append(f"cassettes: recorded into {c['dir']}, one per tenant")
        else:
            missing = sum(1 for t in report["tenants"]
                          if "not-recorded" in (t["metadata"]["outcome"], t["smart_configuration"]["outcome"]))
            lines.append(f"cassettes: replayed from {c['dir']}; tenants not recorded: {missing}")
    if "changes" in report:
        counts: dict[str, int] = {}
        for change in report["changes"]:
            counts[change["kind"]] = counts.get(change["kind"], 0) + 1
        compared_n = (report.get("baseline") or {}).get("compared")
        of = f" ({compared_n} tenants compared)" if compared_n is not None else ""
        lines.append(f"changes since the baseline{of}: {_counts(counts)}")
        shown = report["changes"][:MAX_CHANGE_LINES]
        lines.extend(f"  {c['kind']}: {c['tenant']}: {c['detail']}" for c in shown)
        if len(report["changes"]) > len(shown):
            lines.append(f"  ... {len(report['changes']) - len(shown)} more in fleet-changes.json")
    lines.append(f"report: {report_dir} (fleet.json, fleet.csv, fleet.html, allure-results/)")
    return lines


def tls_line(tls: dict[str, Any]) -> str:
    """The summary's TLS line: versions negotiated, legacy versions accepted, expiring certificates."""
    if not tls["handshakes"]:
        return (f"TLS: none of the {tls['https_tenants']} https tenants completed a handshake; certificates that "
                f"do not verify: {tls['certificate_failures']}")
    legacy = []
    for field_name, label in (("tls1_0", "TLS 1.0"), ("tls1_1", "TLS 1.1")):
        answers = tls.get(field_name) or {}
        if answers.get("not testable here") and not answers.get("accepted"):
            legacy.append(f"{label} not testable here (this OpenSSL will not offer it)")
        else:
            legacy.append(f"{label} accepted by {answers.get('accepted', 0)}")
    return (f"TLS: {tls['handshakes']} of {tls['https_tenants']} https tenants reached ({_counts(tls['versions'])}); "
            f"{', '.join(legacy)}; certificates expiring within {tls['expiry_warning_days']} days: "
            f"{tls['expiring_certificates']}; certificates that do not verify: {tls['certificate_failures']}")


def _print_rich(report: dict[str, Any], lines: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    s = report["stats"]
    per_release: dict[str, list[int]] = {release: [0, 0] for release in s["by_release"]}
    for tenant in report["tenants"]:
        if tenant["metadata"]["outcome"] != "ok":
            continue
        counts = per_release.setdefault(tenant["release"] or "unknown", [0, 0])
        counts[0] += (tenant["readiness"] or {}).get("ready") is True
        counts[1] += bool((tenant["coverage"] or {}).get("full"))
    table = Table(title=f"Epic fleet: {report['apis']['set']}", show_header=True)
    for column in ("release", "tenants", "ready", "full coverage"):
        table.add_column(column, justify="left" if column == "release" else "right")
    for release, count in s["by_release"].items():
        ready, full = per_release.get(release, [0, 0])
        table.add_row(Text(terminal_text(release)), str(count), str(ready), str(full))
    console.print(table)
    for line in lines:
        if not line.startswith("by release: "):
            console.print(line, highlight=False, markup=False)
