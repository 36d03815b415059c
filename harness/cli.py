"""The command line: a thin layer that prepares a run and hands it to pytest."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from contextlib import ExitStack
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from harness import __version__
from harness.errors import ConfigError, HarnessError

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE = 0, 1, 2


def suites_dir() -> Path:
    import suites

    return Path(suites.__file__).parent


def sandbox_tenant_file() -> Path:
    return Path(str(resources.files("harness.sandbox").joinpath("tenant/sandbox.toml")))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="epic-harness", description="Conformance harness for Epic FHIR integrations.")
    parser.add_argument("--version", action="version", version=f"epic-harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the conformance suite against a tenant (default: the embedded sandbox)",
                         description="Run the conformance checks. Arguments after -- go to pytest "
                                     "(e.g. -- -m discovery, -- -k Practitioner).")
    run.add_argument("--tenant", metavar="FILE", action="append", default=[],
                     help="tenant file (TOML), repeatable: several tenants run in parallel, one process each, "
                          "each with its own report and gate; without it the embedded sandbox is started")
    run.add_argument("--base-url", metavar="URL", help="override the tenant's base_url (Interconnect root)")
    run.add_argument("--report-dir", metavar="DIR", help="output folder (default reports/<timestamp>)")
    run.add_argument("--allow-writes", action="store_true", help="run create/update/$book checks (never in production)")
    run.add_argument("--mode", choices=["live", "record", "replay"], default="live",
                     help="live (default); record: also write cassettes; replay: answer from cassettes, offline")
    run.add_argument("--cassette-dir", metavar="DIR", help="cassette folder (default cassettes/<tenant name>)")
    run.add_argument("--policy", metavar="FILE", help="gate policy (TOML [gate]: optional_apis, optional_groups, "
                                                      "required_groups, accepted_quirks)")
    run.add_argument("--baseline", metavar="FILE", help="an accepted run's summary.json: only regressions fail the gate")
    run.add_argument("--fault", action="append", default=[], metavar="NAME",
                     help="embedded sandbox only: start it with this fault (repeatable; see `epic-harness sandbox --list-faults`)")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    sandbox = sub.add_parser("sandbox", help="serve the simulated Epic tenant")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--fault", action="append", default=[], metavar="NAME", help="misbehave this way (repeatable)")
    sandbox.add_argument("--register-client", action="append", default=[], metavar="CLIENT_ID=JWKS",
                         help="register your own backend client with its public JWK Set (a file, or a JWK Set URL "
                              "fetched as Epic does); it gets the sandbox client's scopes (repeatable)")
    sandbox.add_argument("--list-faults", action="store_true", help="list the faults and settings, with where each "
                                                                    "acts, and exit")
    sandbox.add_argument("--tls", action="store_true", help="serve https with a throwaway certificate made at start "
                                                            "(a test CA and a leaf for 127.0.0.1 and localhost)")
    sandbox.add_argument("--tls-ca-file", metavar="PATH", help="with --tls: write the test CA's PEM here, for the "
                                                               "harness to trust (default: a temporary file, printed)")
    sandbox.add_argument("--tls-days", type=float, default=365.0, metavar="N",
                         help="with --tls: the certificate expires in N days (default 365; e.g. 10 to see the "
                              "expiry warning)")
    sandbox.add_argument("--tls-min-version", default="1.2", choices=["1.0", "1.1", "1.2", "1.3"],
                         help="with --tls: the oldest TLS version accepted (default 1.2)")

    report = sub.add_parser("report", help="build the Allure HTML report of a run, offline, with a pinned Allure "
                                           "installed once (the message says how)")
    report.add_argument("dir", nargs="?", help="the run's report folder (default: the newest under reports/)")
    report.add_argument("--multi-file", action="store_true", help="a folder of files to serve, instead of one "
                                                                    "index.html that opens from disk")

    diff = sub.add_parser("diff", help="what changed between two runs (e.g. cassettes/<tenant> and a live report)")
    diff.add_argument("before", help="summary.json, or a report or cassette folder holding one")
    diff.add_argument("after", help="summary.json, or a report or cassette folder holding one")

    from harness.fleet.cli import add_fleet_parser
    from harness.history.cli import add_history_option

    add_history_option(add_fleet_parser(sub))
    add_history_option(run)
    from harness.history.cli import add_history_parsers

    add_history_parsers(sub)

    keys = sub.add_parser("keys", help="the app's signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    new = keys_sub.add_parser("new", help="write a new key pair and the public JWK Set to publish")
    new.add_argument("--alg", choices=["RS384", "ES384", "RS256", "RS512"], default="RS384")
    new.add_argument("--out", default="keys", help="folder to write to (default ./keys)")
    new.add_argument("--name", default=None, help="file stem (default epic-<alg>-<date>)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return command_run(args)
        if args.command == "sandbox":
            return command_sandbox(args)
        if args.command == "keys":
            return command_keys(args)
        if args.command == "diff":
            return command_diff(args)
        if args.command == "report":
            return command_report(args)
        if args.command == "fleet":
            from harness.fleet.cli import command_fleet

            return command_fleet(args, after=_fleet_history(args))
        if args.command in ("history", "forecast"):
            return args.handler(args)
    except HarnessError as exc:
        print(f"epic-harness: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("epic-harness: interrupted", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


def command_run(args: argparse.Namespace) -> int:
    if len(args.tenant) > 1:
        return run_several(args)
    args.tenant = args.tenant[0] if args.tenant else None
    return run_one(args)


def _fleet_history(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Record a finished fleet run in the history and give fleet.html its over-time section."""
    from harness.history import HistoryError
    from harness.history.cli import history_target

    target = history_target(args)
    if target is None:
        return None

    def after(report: dict) -> tuple[list[str], str]:
        from harness.history import fleet_history_section, record_fleet

        try:
            recorded = record_fleet(report, history=target)
            return [f"history: fleet run {recorded.run_id} kept in {target}"], fleet_history_section(target)
        except HistoryError as exc:
            print(f"epic-harness fleet: the run was not recorded in the history: {exc}", file=sys.stderr)
            return [], ""

    return after


def run_several(args: argparse.Namespace) -> int:
    """One child process per tenant, in parallel: each keeps its own rate limit, report and gate."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    from harness.config import load_tenant

    if args.fault:
        raise ConfigError(None, "--fault", "faults apply only to the embedded sandbox (run without --tenant)")
    tenants = [load_tenant(t, replay=args.mode == "replay") for t in args.tenant]  # every file checked first
    names = [t.name for t in tenants]
    if len(set(names)) != len(names):
        raise ConfigError(None, "--tenant", f"two tenant files share a name: {names}; each run needs its own")
    root = Path(args.report_dir or Path("reports") / f"{datetime.now():%Y%m%d-%H%M%S}")

    def child(index: int) -> tuple[str, int, Path]:
        tenant_dir = root / names[index]
        argv = [sys.executable, "-m", "harness", "run", "--tenant", args.tenant[index], "--report-dir", str(tenant_dir),
                "--mode", args.mode]
        for option in ("policy", "baseline", "base_url", "history"):
            if getattr(args, option, None):
                argv += [f"--{option.replace('_', '-')}", getattr(args, option)]
        if getattr(args, "no_history", False):
            argv.append("--no-history")
        if args.allow_writes:
            argv.append("--allow-writes")
        if args.cassette_dir:
            argv += ["--cassette-dir", str(Path(args.cassette_dir) / names[index])]
        passthrough = [a for a in args.pytest_args if a != "--"]
        done = subprocess.run(argv + (["--", *passthrough] if passthrough else []), capture_output=True, text=True)
        (root / f"{names[index]}.log").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{names[index]}.log").write_text(done.stdout + done.stderr, "utf-8")
        return names[index], done.returncode, tenant_dir

    with ThreadPoolExecutor(max_workers=len(tenants)) as pool:
        outcomes = list(pool.map(child, range(len(tenants))))
    verdict = {0: "gate PASSED", 1: "gate FAILED", 2: "configuration error", 3: "gate ERROR", 5: "gate INCOMPLETE"}
    for name, code, folder in outcomes:
        print(f"{name}: {verdict.get(code, f'error (exit {code})')}  {folder}")
    codes = {code for _, code, _ in outcomes}
    for worst in (1, 3, 2, 5, 0):  # a failure first, then an error, then what was not verified
        if worst in codes:
            return worst
    return max(codes)


def run_one(args: argparse.Namespace) -> int:
    import pytest

    from harness.config import load_tenant

    pytest_args = list(args.pytest_args)
    if pytest_args and pytest_args[0] == "--":
        pytest_args = pytest_args[1:]
    with ExitStack() as stack:
        tenant_file = Path(args.tenant) if args.tenant else sandbox_tenant_file()
        base_url = args.base_url
        if args.fault and args.tenant:
            raise ConfigError(None, "--fault", "faults apply only to the embedded sandbox (run without --tenant)")
        if args.fault and args.mode == "replay":
            raise ConfigError(None, "--fault", "a replay answers from the cassettes, so a sandbox fault would change "
                              "nothing; record with the fault instead (--mode record --fault ...)")
        if args.base_url and not args.tenant:
            raise ConfigError(None, "--base-url", "needs --tenant FILE: without one the embedded sandbox runs, at its "
                              "own address")
        if args.report_dir:
            from harness.report.writers import prepare_report_dir

            problem = prepare_report_dir(Path(args.report_dir))
            if problem:
                raise ConfigError(None, "--report-dir", f"{args.report_dir}: {problem}")
        if not args.tenant and args.mode != "replay":
            from harness.sandbox import EmbeddedSandbox, default_settings

            try:
                settings = default_settings(args.fault)
            except ValueError as exc:
                raise ConfigError(None, "--fault", str(exc)) from None
            port = 0  # a free port, recording too: a replay trusts the origin its recording was made against
            try:
                sandbox = stack.enter_context(EmbeddedSandbox(settings, port=port, process=True, wait_ready=False))
            except OSError as exc:
                raise ConfigError(None, "--fault", f"the embedded sandbox cannot start: {exc.strerror or exc}") from None
            base_url = sandbox.base_url
            print(f"epic-harness: embedded sandbox at {base_url}", file=sys.stderr)
            from tempfile import TemporaryDirectory

            from harness.sandbox.tenant_file import at_address

            # the sandbox's own file, with every URL under its base_url (web services too) at this address
            tenant_file = at_address(base_url, Path(stack.enter_context(TemporaryDirectory())), tenant_file)
        tenant = load_tenant(tenant_file, base_url=base_url, allow_writes=args.allow_writes,
                             replay=args.mode == "replay")  # exit 2 on errors
        report_dir = Path(args.report_dir or Path("reports") / f"{datetime.now():%Y%m%d-%H%M%S}-{tenant.name}")
        argv = [
            str(suites_dir()), "--tenant", str(tenant_file), "--report-dir", str(report_dir),
            "-p", "no:cacheprovider", "--rootdir", str(suites_dir().parent), "-c", os.devnull,
            "-W", "ignore::pytest.PytestAssertRewriteWarning", "--assert=plain",
        ]
        if base_url:
            argv += ["--base-url", base_url]
        if args.allow_writes:
            argv.append("--allow-writes")
        argv += ["--cassette-mode", args.mode]
        from harness.report.progress import wanted

        argv += ["-p", "no:terminal"]  # the harness reports; pytest's own counts would disagree with its outcomes
        argv += ["-p", "no:anyio"]  # the checks are synchronous: anyio's plugin (httpx brings it) only costs its imports
        if wanted():
            argv.append("--live-progress")
        if args.policy:
            argv += ["--policy", str(Path(args.policy).resolve())]
        if args.baseline:
            from harness.history.baseline import is_history_baseline

            argv += ["--baseline", args.baseline if is_history_baseline(args.baseline) else str(Path(args.baseline).resolve())]
        if getattr(args, "history", None):
            argv += ["--history", args.history]
        if getattr(args, "no_history", False):
            argv.append("--no-history")
        if args.cassette_dir:
            argv += ["--cassette-dir", args.cassette_dir]
        gc.freeze()  # what the command line loaded lives as long as the run (see _LongLived)
        code = int(pytest.main(argv + pytest_args, plugins=[_LongLived()]))
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    return code  # the gate's: 0 passed, 1 failed, 3 error, 5 incomplete


class _LongLived:
    """A pytest plugin of `epic-harness run` alone: once the checks are collected, what is loaded (modules,
    catalogs, schemas, the collected checks) lives until the process ends, so it is moved out of the garbage
    collector's sight (``gc.freeze``): its collections during the run and at its end scan only what the checks
    and the reports create (they scanned the whole heap again and again: ~200 ms of a small run).
    The client's own collections, which free the answers failing checks hold, see every answer as before."""

    @staticmethod
    def pytest_collection_finish(session: Any) -> None:
        gc.freeze()


def command_sandbox(args: argparse.Namespace) -> int:
    from harness.sandbox import CATALOG, ClientError, default_settings, listen, register, serve

    if args.list_faults:
        for name, (hook, description, setting) in CATALOG.listing().items():
            print(f"{name:48} {hook.value:14} {'(setting) ' if setting else ''}{description}")
        return EXIT_OK
    if not args.tls and (args.tls_ca_file or args.tls_days != 365.0 or args.tls_min_version != "1.2"):
        raise ConfigError(None, "--tls-ca-file", "the --tls-... options need --tls")
    try:
        clients = [register(spec) for spec in args.register_client]
    except ClientError as exc:
        raise ConfigError(None, "--register-client", str(exc)) from None
    try:
        settings = default_settings(args.fault, clients)
    except ValueError as exc:
        raise ConfigError(None, "--fault", str(exc)) from None
    import signal

    # uvicorn shuts down on SIGTERM, then raises it again: end cleanly, so that the throwaway
    # certificate's folder is removed
    stack_signal = signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_OK))
    with ExitStack() as stack:
        stack.callback(signal.signal, signal.SIGTERM, stack_signal)
        tls = _sandbox_tls(args, stack) if args.tls else None
        try:
            sock = listen(args.host, args.port)
        except OSError as exc:
            raise ConfigError(None, "--port", f"cannot listen on {args.host}:{args.port}: "
                                              f"{exc.strerror or exc} (is another sandbox running?)") from None
        scheme, port = "https" if tls else "http", sock.getsockname()[1]
        print(f"epic-harness: sandbox Epic tenant at {scheme}://{args.host}:{port} (Ctrl-C stops it)",
              file=sys.stderr)
        for client in clients:
            keys = client.jku or f"{len(client.jwks['keys'])} key(s)"
            print(f"epic-harness: registered client {client.client_id} ({keys})", file=sys.stderr)
        serve(sock, settings, tls=tls)
    return EXIT_OK


def _sandbox_tls(args: argparse.Namespace, stack: ExitStack) -> Any:
    """The throwaway certificate of ``epic-harness sandbox --tls``, its CA's PEM written where asked."""
    import shutil
    from tempfile import TemporaryDirectory

    from harness.sandbox.certs import LOOPBACK_NAMES, CertificateError, ThrowawayCA
    from harness.sandbox.server import TlsServing

    folder = Path(stack.enter_context(TemporaryDirectory(prefix="epic-sandbox-tls-")))
    try:
        authority = ThrowawayCA(folder)
        leaf = authority.issue((args.host, *LOOPBACK_NAMES), days=args.tls_days)
    except CertificateError as exc:
        raise ConfigError(None, "--tls-days", str(exc)) from None
    ca_file = authority.ca_file
    if args.tls_ca_file:
        ca_file = Path(args.tls_ca_file)
        try:
            ca_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(authority.ca_file, ca_file)
        except OSError as exc:
            raise ConfigError(None, "--tls-ca-file", f"cannot write {ca_file}: {exc.strerror or exc}") from None
    print(f"epic-harness: test CA certificate (trust it to reach the sandbox over https): {ca_file}", file=sys.stderr)
    print(f"epic-harness: the sandbox's certificate expires {leaf.not_after:%Y-%m-%d %H:%M} UTC; it accepts TLS "
          f"{args.tls_min_version} and later", file=sys.stderr)
    return TlsServing.of(leaf, args.tls_min_version)


def command_report(args: argparse.Namespace) -> int:
    from harness.report.allure_html import build, find_allure, latest_report_dirs

    folders = [Path(args.dir)] if args.dir else latest_report_dirs()
    allure = find_allure()
    for folder in folders:
        index = build(folder, single_file=not args.multi_file, allure=allure)
        print(f"Allure report: {index} (no analytics; {'open it from disk' if not args.multi_file else 'serve the folder'})")
        summary = folder / "summary.html"
        if summary.is_file():
            print(f"go-live summary: {summary}")
    return EXIT_OK


def command_diff(args: argparse.Namespace) -> int:
    from harness.drift import compare, load_summary

    changes = compare(load_summary(args.before), load_summary(args.after))
    if not changes:
        print("no drift: every API and check answers as before")
        return EXIT_OK
    print(f"{len(changes)} change(s):")
    for change in changes:
        print(f"  {change}")
    return EXIT_GATE_FAILED


def command_keys(args: argparse.Namespace) -> int:
    from harness.keys import generate_key_pair, write_key_pair

    pair = generate_key_pair(args.alg)
    stem = args.name or f"epic-{args.alg.lower()}-{datetime.now():%Y%m%d}"
    key_path, jwks_path = write_key_pair(pair, Path(args.out), stem)
    print(f"private key: {key_path} (keep it secret; point auth.private_key at it)")
    print(f"public JWK Set: {jwks_path} (publish it at your JWK Set URL, or register it with Epic)")
    print(f"kid: {pair.kid} (set auth.kid and auth.algorithm = \"{args.alg}\")")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
