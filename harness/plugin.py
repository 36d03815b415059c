"""The pytest plugin: options, fixtures and hooks wiring pytest to the run core (``harness.run``).

It stays inert unless ``--tenant`` is given, so it does not disturb other pytest runs. With it, a
conformance run is sequential (pytest-xdist is switched off: one tenant, one rate limit, one token)
and pytest's own traceback output is replaced by the harness's report (``--harness-debug`` keeps it).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from harness import __version__
from harness.actors import token_refusal_actor
from harness.auth import TokenProvider
from harness.catalog import load_named_set, named_sets
from harness.checks import GROUPS, TOKEN, CheckContext, info_of
from harness.client import TenantClient
from harness.config import Tenant, load_tenant
from harness.discovery import Discovery
from harness.errors import ConfigError, HarnessError
from harness.run import collect
from harness.report.writers import prepare_report_dir
from harness.run.gate import GateInput, decide
from harness.run.outcome import Outcome
from harness.run.preconditions import Skip, guard
from harness.run.results import DESELECTED, RunResults
from harness.run.state import RunState
from harness.scopes import Grants

STATE = pytest.StashKey[RunState]()
CONTEXT = pytest.StashKey[CheckContext]()
LOG_START = pytest.StashKey[int]()
RESULTS = pytest.StashKey[RunResults]()


class TransportHook:
    """The hook the plugin adds to pytest's: where the run's client sends its requests."""

    @pytest.hookspec(firstresult=True)
    def pytest_harness_transport(self, config: pytest.Config) -> httpx.BaseTransport | None:
        """An httpx transport the run's client sends every request through instead of the network (a tenant
        served in this process); ``None`` (no plugin answering) for the network. The first answer wins."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(TransportHook)


_any_state: RunState | None = None  # for the hooks pytest gives no config (internal errors, collection reports)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("epic-harness", "Epic FHIR conformance harness")
    group.addoption("--tenant", metavar="FILE", help="tenant file (TOML) describing the Epic tenant to check")
    group.addoption("--base-url", metavar="URL", help="override the tenant file's base_url (the Interconnect root)")
    group.addoption("--report-dir", metavar="DIR", help="where summary.json, summary.md, junit.xml and "
                                                         "allure-results go (default reports/<timestamp>)")
    group.addoption("--allow-writes", action="store_true",
                    help="run create/update/$book checks (never against a production tenant)")
    group.addoption("--cassette-mode", choices=["live", "record", "replay"], default="live",
                    help="live (default): talk to the tenant; record: talk to it and write cassettes; "
                         "replay: answer from cassettes, with no network")
    group.addoption("--live-progress", action="store_true",
                    help="show a live progress line (group, API, counts) on stderr; for terminals, not CI")
    group.addoption("--policy", metavar="FILE", help="gate policy file (TOML [gate]); overrides the tenant file's")
    group.addoption("--baseline", metavar="FILE", help="an accepted run's summary.json: only regressions fail the gate")
    group.addoption("--cassette-dir", metavar="DIR", help="cassette folder (default cassettes/<tenant name>)")
    group.addoption("--harness-debug", action="store_true", help="keep pytest's own tracebacks (for developing checks)")
    group.addoption("--history", metavar="PATH|URL", help="the run history (a SQLite file or a SQLAlchemy URL; default "
                                                           "$EPIC_HARNESS_HISTORY or reports/history.sqlite)")
    group.addoption("--no-history", action="store_true", help="do not keep this run in the history")


def state_of(config: pytest.Config) -> RunState | None:
    return config.stash.get(STATE, None)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, title in GROUPS.items():
        config.addinivalue_line("markers", f"{name}: {title} checks")
    for set_name in named_sets():
        for group in load_named_set(set_name).groups:
            config.addinivalue_line("markers", f"{group.marker}: API group {group.name}")
    tenant_file = config.getoption("--tenant", None)
    if not tenant_file:
        return
    if getattr(config.option, "dist", "no") != "no" or getattr(config.option, "numprocesses", None):
        config.option.dist, config.option.numprocesses, config.option.tx = "no", 0, []
    if not config.getoption("--harness-debug"):  # tenant text in tracebacks is neither scrubbed nor escaped
        config.option.tbstyle = "no"
        config.option.reportchars = "N"
    try:
        tenant = load_tenant(tenant_file, base_url=config.getoption("--base-url"),
                             allow_writes=config.getoption("--allow-writes"),
                             replay=config.getoption("--cassette-mode") == "replay")
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    for group in tenant.requested.groups:
        config.addinivalue_line("markers", f"{group.marker}: API group {group.name}")
    report_dir = Path(config.getoption("--report-dir") or
                      Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    problem = prepare_report_dir(report_dir)
    if problem:
        raise pytest.UsageError(f"--report-dir {report_dir}: {problem}")
    # The harness writes the Allure results itself, from its verdicts (harness/report/allure_files.py);
    # allure-pytest's own listener would cost several seconds a run and report pytest's statuses instead.
    allure_dir = getattr(config.option, "allure_report_dir", None) or str(report_dir / "allure-results")
    config.pluginmanager.set_blocked("allure_pytest")
    config.option.allure_report_dir = None
    try:
        from harness.policy import load_policy_file

        policy = None
        if config.getoption("--policy"):
            policy = load_policy_file(config.getoption("--policy"),
                                      known_apis={a.name for a in tenant.requested.apis},
                                      known_groups={g.name for g in tenant.requested.groups})
        baseline = None
        if config.getoption("--baseline"):
            from harness.history.baseline import resolve_baseline

            baseline = resolve_baseline(config.getoption("--baseline"), tenant=tenant.name,
                                        history=config.getoption("--history"))
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    mode = config.getoption("--cassette-mode")
    cassette_dir = Path(config.getoption("--cassette-dir") or Path("cassettes") / tenant.name)
    state = RunState(tenant, report_dir, policy=policy, baseline=baseline, mode=mode, cassette_dir=cassette_dir,
                     transport=config.hook.pytest_harness_transport(config=config))
    state.allure_dir = Path(allure_dir)  # type: ignore[attr-defined]
    if mode != "live":
        from harness.cassette_files import prepare_recording
        from harness.cassettes import make_vcr

        if mode == "replay" and not (cassette_dir / "_session.yaml").is_file():
            raise pytest.UsageError(f"--mode replay: no cassettes in {cassette_dir}; "
                                    f"record them first with --mode record")
        if mode == "record":
            prepare_recording(cassette_dir)
        for secret in tenant.cassettes.secrets:
            state.secrets.add(secret)
        state.vcr = make_vcr(mode, state.secrets, state.client.pseudonymizer)
    config.stash[STATE] = state
    global _any_state
    _any_state = state


def pytest_unconfigure(config: pytest.Config) -> None:
    global _any_state
    state = state_of(config)
    if state is not None:
        state.client.close()
        _any_state = None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    info = info_of(metafunc.function)
    state = state_of(metafunc.config)
    if info is not None and "fhir_version" in metafunc.fixturenames:
        versions = list(state.discovery.versions) if state else []
        metafunc.parametrize("fhir_version", versions, ids=versions)
    if info is None or info.applies_to is None or "api" not in metafunc.fixturenames:
        return
    apis = [a for a in state.tenant.requested.apis if info.applies(a, state.tenant)] if state else []
    metafunc.parametrize("api", apis, ids=[a.slug for a in apis])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = state_of(config)
    keep = []
    for item in items:
        info = info_of(getattr(item, "function", None))
        if info is None:
            keep.append(item)
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "api" in callspec.params and collect.api_param(item) is None:
            continue  # a per-API check no requested API applies to: nothing to run
        item.add_marker(info.marker)
        api = collect.api_param(item)
        if api is not None and state is not None:
            item.add_marker(state.tenant.requested.group_of[api.name].marker)
        keep.append(item)
    if state is not None:
        def order(item: pytest.Item) -> tuple[int, int, int]:
            info = info_of(getattr(item, "function", None))
            return info.order if info is not None else (len(GROUPS), 0, 0)

        keep.sort(key=order)  # stable: within a group, the order of definition
    items[:] = keep


def pytest_deselected(items: list[pytest.Item]) -> None:
    if not items:
        return
    state = state_of(items[0].config)
    if state is None:
        return
    for item in items:
        info = info_of(getattr(item, "function", None))
        if info is not None:
            state.results[item.nodeid] = collect.make_result(
                item, info, state, Outcome.SKIPPED, DESELECTED)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = state_of(session.config)
    if state is None:
        return
    state.collected = len(session.items)
    if session.config.getoption("--live-progress"):
        from harness.report.progress import LiveProgress

        state.progress = LiveProgress()
        state.progress.start(len(session.items))
    elif session.config.pluginmanager.get_plugin("terminalreporter") is None:
        from harness.report.progress import GroupProgress

        state.progress = GroupProgress(lambda line: print(line, flush=True))
        state.progress.start(len(session.items))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    state = _any_state
    if report.failed and state is not None and state.crashed is None:
            state.crashed = f"collecting {report.nodeid or 'the checks'} failed: {str(report.longrepr)[-300:]}"


def pytest_internalerror(excrepr: Any, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    state = _any_state
    if state is not None and state.crashed is None:
        state.crashed = f"internal error: {excinfo.type.__name__}: {excinfo.value}"


# -- fixtures ---------------------------------------------------------------------------------

def _state(request: pytest.FixtureRequest) -> RunState:
    state = state_of(request.config)
    if state is None:
        raise pytest.UsageError("the conformance checks need --tenant FILE (or run them with `epic-harness run`)")
    return state


@pytest.fixture(scope="session")
def run_state(request: pytest.FixtureRequest) -> RunState:
    return _state(request)


@pytest.fixture(scope="session")
def tenant(request: pytest.FixtureRequest) -> Tenant:
    return _state(request).tenant


@pytest.fixture(scope="session")
def client(request: pytest.FixtureRequest) -> TenantClient:
    return _state(request).client


@pytest.fixture(scope="session")
def discovery(request: pytest.FixtureRequest) -> Discovery:
    return _state(request).discovery


@pytest.fixture(scope="session")
def token_provider(request: pytest.FixtureRequest) -> TokenProvider:
    return _state(request).token_provider


@pytest.fixture
def grants(request: pytest.FixtureRequest) -> Grants:
    """The scopes granted to the app's token (requested once per run)."""
    return _state(request).grants()


@pytest.fixture(scope="session")
def cassette_mode(request: pytest.FixtureRequest) -> str:
    """live, record or replay: checks that draw random input draw it reproducibly unless live."""
    return _state(request).mode


@pytest.fixture
def verdict(request: pytest.FixtureRequest) -> CheckContext:
    return request.node.stash.setdefault(CONTEXT, CheckContext())


@pytest.fixture(scope="session", autouse=True)
def _preflight(request: pytest.FixtureRequest) -> Iterator[None]:
    """Reachability, discovery and the token, once, before any check (recorded in ``_session.yaml``)."""
    state = state_of(request.config)
    if state is None:
        yield
        return
    tenant = state.tenant
    infos = [info for info in (info_of(getattr(item, "function", None)) for item in request.session.items) if info]
    negative = not tenant.is_production and tenant.checks.negative_auth and any(i.negative for i in infos)
    wants_token = any(TOKEN in i.needs for i in infos)

    def establish() -> None:
        state.run_preflight(wants_token=wants_token)
        if negative:
            state.token_control()

    if state.vcr is None:
        establish()
    else:
        with state.vcr.use_cassette(str(state.cassette_dir / "_session.yaml")):
            establish()
    state.preflight_log_end = len(state.client.log)
    yield


@pytest.fixture(autouse=True)
def _check_cassette(request: pytest.FixtureRequest, _preflight: None) -> Iterator[None]:
    state = state_of(request.config)
    if state is None or state.vcr is None or info_of(getattr(request.node, "function", None)) is None:
        yield
        return
    from harness.cassettes import cassette_name

    with state.vcr.use_cassette(str(state.cassette_dir / cassette_name(request.node.nodeid))):
        yield


@pytest.fixture(autouse=True)
def _check_guard(request: pytest.FixtureRequest, _preflight: None) -> Iterator[None]:
    """Labels the check for Allure, then applies its guards and needs before it sends anything."""
    info = info_of(getattr(request.node, "function", None))
    state = state_of(request.config)
    if info is None or state is None:
        yield
        return
    api = collect.api_param(request.node)
    request.node.stash[LOG_START] = len(state.client.log)
    budget = state.tenant.client.run_timeout
    if time.monotonic() - state.monotonic_start > budget:
        raise Skip(f"the run's time budget ({budget:g} s, client.run_timeout) is spent")
    callspec = getattr(request.node, "callspec", None)
    guard(info, state, api, dict(callspec.params) if callspec else {})
    with _time_limit(request.node, state.tenant.client.check_timeout):
        yield


class CheckTimeout(Exception):
    """A check ran longer than the tenant file's client.check_timeout."""


@contextlib.contextmanager
def _time_limit(item: pytest.Item, seconds: float) -> Iterator[None]:
    """Stop a check that takes longer than ``seconds`` (SIGALRM; not where pytest-timeout already owns it)."""
    usable = (seconds > 0 and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and not (item.config.pluginmanager.hasplugin("timeout") and _pytest_timeout_set(item.config)))
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise CheckTimeout(f"the check took longer than {seconds:g} s (client.check_timeout) and was stopped")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _pytest_timeout_set(config: pytest.Config) -> bool:
    try:
        return bool(config.getoption("timeout", None) or float(config.getini("timeout") or 0))
    except (ValueError, KeyError):
        return False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Evidence is attached while the test is still the current Allure result (not a fixture's)."""
    try:
        return (yield)
    finally:
        state = state_of(item.config)
        if state is not None and LOG_START in item.stash:
            info = info_of(getattr(item, "function", None))
            shared = _preflight_evidence(state, info, item) if info is not None else []
            exchanges = shared + state.client.log[item.stash[LOG_START]:]
            context = item.stash.get(CONTEXT, None)
            evidence: dict[str, Any] = {}
            if exchanges:
                evidence["HTTP exchanges (scrubbed)"] = [e.as_dict() for e in exchanges]
            if context is not None:
                evidence.update(context.evidence)
            if evidence:
                state.evidence[item.nodeid] = evidence


def _preflight_evidence(state: RunState, info: Any, item: pytest.Item) -> list[Any]:
    """The exchanges of the preflight a check judged: discovery documents, or the token request."""
    log = state.client.log[:state.preflight_log_end]
    if info.group in ("preflight", "discovery", "coverage"):
        api = collect.api_param(item)
        callspec = getattr(item, "callspec", None)
        version = (api.version if api is not None else None) or (callspec.params.get("fhir_version") if callspec else None)
        wanted = [e for e in log if e.method == "GET"]
        if version:
            wanted = [e for e in wanted if f"/{version}/metadata" in e.url or
                      (info.group != "coverage" and "smart-configuration" in e.url)]
        return wanted
    if info.id in ("auth.token.issued", "auth.token.response", "auth.token.scopes-parse"):
        return [e for e in log if e.method == "POST"]
    return []


def _skip_message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # skipped: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[Any]:
    report: pytest.TestReport = yield
    state = state_of(item.config)
    info = info_of(getattr(item, "function", None))
    if state is None or info is None:
        return report
    final = report.when == "call" or (report.when == "setup" and not report.passed)
    if not final:
        return report
    context = item.stash.get(CONTEXT, None) or CheckContext()
    category = blocked_by = None
    if report.passed:
        outcome, message = (Outcome.WARNING, "; ".join(context.warnings)) if context.warnings else (Outcome.PASSED, "")
    else:
        outcome, message, category, blocked_by = collect.classify(call.excinfo.value if call.excinfo else None)
        if report.skipped and not message:
            message = _skip_message(report)
    result = collect.make_result(item, info, state, outcome, message, category=category, blocked_by=blocked_by,
                                 duration=report.duration, context=context, started=getattr(report, "start", None))
    if call.excinfo is not None and getattr(call.excinfo.value, "advisory", False):
        result.required = False
    state.results[item.nodeid] = result
    if state.progress is not None:
        state.progress.advance(f"{result.group or result.area} › {result.api or result.title}", outcome.value,
                               result.area)
    return report


def _accept_quirks(results: list, state: RunState) -> None:
    policy = state.policy
    if policy is None:
        return
    for check in results:
        if check.outcome is Outcome.WARNING and all(policy.accepts(w) for w in check.warnings):
            check.outcome = Outcome.PASSED
            check.notes += [f"accepted quirk: {w}" for w in check.warnings]
            check.warnings = []
            check.message = ""


def _root_failures(state: RunState, checks: list) -> list:
    """A failed precondition whose own check did not run (deselected, say) is still the run's failure."""
    from harness.checks import REGISTRY
    from harness.run.results import CheckResult

    present = {c.id for c in checks if not c.deselected}
    missing: dict[str, str] = {}
    for c in checks:
        if c.outcome is Outcome.BLOCKED and c.blocked_by and c.blocked_by not in present:
            missing.setdefault(c.blocked_by, c.message)
    out = []
    for check_id, reason in missing.items():
        base = check_id.split("[", 1)[0]
        info = REGISTRY.get(base)
        if info is None:
            continue
        category = "tenant-fault" if base == "preflight.reachable" else (
            token_refusal_actor(state.preflight.token_error_code) if base == "auth.token.issued"
            else "tenant-configuration")
        out.append(CheckResult(id=check_id, check_id=base, title=info.title, why=info.why, source=info.source,
                               source_url=info.source_url, severity=info.severity, area=info.area,
                               outcome=Outcome.FAILED, message=f"{reason} (established by the preflight)",
                               category=category, check_group=info.group, required=info.required,
                               requirements=info.requirements))
    present_ids = {c.id for c in out}
    kept = [c for c in checks if not (c.id in present_ids and c.deselected)]
    checks[:] = kept
    return out


def build_results(state: RunState, crashed: str | None = None) -> RunResults:
    from harness.checks import REGISTRY
    from harness.policy import GatePolicy

    checks = list(state.results.values())
    checks += _root_failures(state, checks)
    _accept_quirks(checks, state)
    exercising = {cid for cid, info in REGISTRY.items() if info.exercises}
    rows = collect.api_rows(state, checks, exercising)
    software = None
    for version in state.discovery.versions:
        doc = state.discovery.fetched(version)
        sw = (doc.body or {}).get("software") if doc else None
        if isinstance(sw, dict) and isinstance(sw.get("name"), str):
            software = sw["name"]
            break
    gate = decide(GateInput(checks, rows, state.policy or GatePolicy(), state.baseline, crashed))
    return RunResults(
        tenant=state.tenant.name, environment=state.tenant.environment, base_url=state.tenant.base_url,
        harness_version=__version__, started=state.started.isoformat(timespec="seconds"),
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        software_version=state.discovery.software_version, fhir_versions=list(state.discovery.versions),
        requested_set=state.tenant.requested.name, checks=checks, apis=rows, gate=gate,
        stats=collect.stats(state), software_name=software, error=crashed,
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = state_of(session.config)
    if state is None:
        return
    if state.progress is not None:
        state.progress.stop()
    crashed = state.crashed
    if crashed is None and exitstatus == pytest.ExitCode.INTERRUPTED:
        crashed = "interrupted before every check ran"
    elif crashed is None and exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        crashed = "an internal error stopped the run"
    results = build_results(state, crashed)
    from harness.report.writers import WriteContext, write_all

    clean, errors = write_all(results, WriteContext(report_dir=state.report_dir, secrets=state.secrets,
                                                    allure_dir=getattr(state, "allure_dir", None),
                                                    mode=state.mode, cassette_dir=state.cassette_dir,
                                                    pseudonymizer=state.client.pseudonymizer,
                                                    evidence=state.evidence))
    if state.mode == "record":
        from harness.cassette_files import finish_recording

        finish_recording(state.cassette_dir)
    session.config.stash[RESULTS] = clean
    if not session.config.getoption("--no-history"):
        from harness.history import HistoryError, record_run

        try:
            record_run(clean.as_dict(), history=session.config.getoption("--history"))
        except HistoryError as exc:
            errors.append(f"the history: {exc}")
    state.writer_errors = errors  # type: ignore[attr-defined]
    session.exitstatus = clean.gate.exit_code
    if session.config.pluginmanager.get_plugin("terminalreporter") is None:
        from rich.console import Console

        import sys

        _print(clean, state, Console(highlight=False, width=None if sys.stdout.isatty() else 120))


def _print(results: RunResults, state: RunState, console: Any) -> None:
    from harness.report.terminal import print_outcome

    print_outcome(results, console, state.report_dir)
    for error in getattr(state, "writer_errors", []):
        console.print(f"could not write {error}", markup=False, highlight=False)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS, None)
    state = state_of(config)
    if results is None or state is None:
        return
    from rich.console import Console

    console = Console(file=terminalreporter._tw._file, width=max(terminalreporter._tw.fullwidth, 100),
                      force_terminal=False, no_color=not terminalreporter._tw.hasmarkup, highlight=False)
    console.print()
    _print(results, state, console)
