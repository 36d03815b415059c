"""The pytest plugin: options, fixtures, parametrization from the catalog, and collecting results.

It stays inert unless ``--tenant`` is given, so it does not disturb other pytest runs.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness import __version__
from harness.auth import TokenProvider
from harness.catalog import load_named_set, named_sets
from harness.checks import CheckContext, CheckFailed, info_of
from harness.client import TenantClient
from harness.config import Tenant, load_tenant
from harness.coverage import declared, granted
from harness.discovery import Discovery
from harness.errors import AuthError, ConfigError, HarnessError, OriginError, TenantError
from harness.report.summary import print_coverage, write_summary_json, write_summary_md
from harness.results import ApiRow, CheckResult, RunResults
from harness.scopes import Grants
from harness.scrub import SecretRegistry

AREA_MARKERS = {
    "discovery": "discovery documents: smart-configuration and CapabilityStatements",
    "auth": "SMART Backend Services: the app's credentials and the token endpoint",
    "coverage": "requested APIs declared and granted",
    "exercise": "requested APIs called and their answers judged",
    "probing": "property-based probing of search APIs with odd and hostile input",
}


class RunState:
    """Everything one run shares: the tenant, its client, discovery and token, and the results."""

    def __init__(self, tenant: Tenant, report_dir: Path) -> None:
        self.tenant = tenant
        self.report_dir = report_dir
        self.secrets = SecretRegistry()
        self.client = TenantClient(tenant, secrets=self.secrets)
        self.discovery = Discovery(self.client, tenant)
        self.started = datetime.now(timezone.utc)
        self.monotonic_start = time.monotonic()
        self.results: dict[str, CheckResult] = {}
        self._provider: TokenProvider | None = None
        self._grants: Grants | None = None
        self.grants_error: str | None = None
        self.client.use_tokens(self.token, lambda: self.token_provider.invalidate())
        self.mode = "live"
        self.progress: Any = None
        self.policy = tenant.policy
        self.baseline: dict[str, Any] | None = None
        self.cassette_dir = Path("cassettes") / tenant.name
        self.vcr: Any = None

    def token(self) -> str:
        """The run's access token; a refusal is remembered, so a broken tenant is asked once, not per check."""
        if self.grants_error:
            raise AuthError(f"no access token: {self.grants_error}")
        try:
            return self.token_provider.token()
        except HarnessError as exc:
            self.grants_error = str(exc)
            raise

    @property
    def token_provider(self) -> TokenProvider:
        if self._provider is None:
            self._provider = TokenProvider(
                self.tenant.auth, self.discovery.token_endpoint,
                lambda url, form: self.client.post(url, data=form, auth=False, accept="application/json"),
                self.secrets,
            )
        return self._provider

    @property
    def known_grants(self) -> Grants | None:
        """The grants, if this run obtained a token (never asks for one)."""
        return self._grants

    @property
    def token_requests(self) -> int:
        return self._provider.requests_sent if self._provider else 0

    def grants(self) -> Grants:
        if self._grants is None:
            self.token()
            grant = self.token_provider.grant
            self._grants = Grants.parse(grant.scope if grant and grant.scope else "")
        return self._grants


STATE = pytest.StashKey[RunState]()
CONTEXT = pytest.StashKey[CheckContext]()
LOG_START = pytest.StashKey[int]()


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


def state_of(config: pytest.Config) -> RunState | None:
    return config.stash.get(STATE, None)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, doc in AREA_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    for set_name in named_sets():
        for group in load_named_set(set_name).groups:
            config.addinivalue_line("markers", f"{group.marker}: API group {group.name}")
    tenant_file = config.getoption("--tenant", None)
    if not tenant_file:
        return
    try:
        tenant = load_tenant(tenant_file, base_url=config.getoption("--base-url"),
                             allow_writes=config.getoption("--allow-writes"))
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    for group in tenant.requested.groups:
        config.addinivalue_line("markers", f"{group.marker}: API group {group.name}")
    report_dir = Path(config.getoption("--report-dir") or
                      Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    report_dir.mkdir(parents=True, exist_ok=True)
    if not getattr(config.option, "allure_report_dir", None):
        config.option.allure_report_dir = str(report_dir / "allure-results")
        config.option.clean_alluredir = True
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(report_dir / "junit.xml")
    state = RunState(tenant, report_dir)
    try:
        from harness.drift import load_summary
        from harness.gate import load_policy_file

        if config.getoption("--policy"):
            state.policy = load_policy_file(config.getoption("--policy"),
                                            known_apis={a.name for a in tenant.requested.apis},
                                            known_groups={g.name for g in tenant.requested.groups})
        if config.getoption("--baseline"):
            state.baseline = load_summary(config.getoption("--baseline"))
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    state.mode = config.getoption("--cassette-mode")
    state.cassette_dir = Path(config.getoption("--cassette-dir") or Path("cassettes") / tenant.name)
    if state.mode != "live":
        from harness.cassettes import Pseudonymizer, make_vcr

        if state.mode == "replay" and not (state.cassette_dir / "_session.yaml").is_file():
            raise pytest.UsageError(f"--cassette-mode replay: no cassettes in {state.cassette_dir}; "
                                    f"record them first with --cassette-mode record")
        if state.mode == "record":
            for old in state.cassette_dir.rglob("*.yaml"):
                old.unlink()
        for secret in tenant.cassettes.secrets:
            state.secrets.add(secret)
        pseudonymizer = Pseudonymizer(tenant.cassettes.pseudonym_key) if tenant.cassettes.scrub_patient_data else None
        state.vcr = make_vcr(state.mode, state.secrets, pseudonymizer)
    config.stash[STATE] = state


def pytest_unconfigure(config: pytest.Config) -> None:
    state = state_of(config)
    if state is not None:
        state.client.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    info = info_of(metafunc.function)
    state = state_of(metafunc.config)
    if info is not None and "fhir_version" in metafunc.fixturenames:
        versions = list(state.discovery.versions) if state else []
        metafunc.parametrize("fhir_version", versions, ids=versions)
    if info is None or info.applies_to is None or "api" not in metafunc.fixturenames:
        return
    apis = [a for a in state.tenant.requested.apis if info.applies_to(a)] if state else []
    metafunc.parametrize("api", apis, ids=[a.slug for a in apis])


def pytest_collection_finish(session: pytest.Session) -> None:
    state = state_of(session.config)
    if state is not None and session.config.getoption("--live-progress"):
        from harness.report.progress import LiveProgress

        state.progress = LiveProgress()
        state.progress.start(len(session.items))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = state_of(config)
    for item in items:
        info = info_of(getattr(item, "function", None))
        if info is None:
            continue
        item.add_marker(info.marker)
        api = _api_of(item)
        if api is not None and state is not None:
            item.add_marker(state.tenant.requested.group_of[api.name].marker)


def _api_of(item: pytest.Item) -> Any:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("api") if callspec else None


# -- fixtures ---------------------------------------------------------------------------------

def _state(request: pytest.FixtureRequest) -> RunState:
    state = state_of(request.config)
    if state is None:
        raise pytest.UsageError("the conformance checks need --tenant FILE (or run them with `epic-harness run`)")
    return state


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
def _session_cassette(request: pytest.FixtureRequest) -> Iterator[None]:
    """Record or replay what the whole run shares: discovery documents and the token."""
    state = state_of(request.config)
    if state is None or state.vcr is None:
        yield
        return
    with state.vcr.use_cassette(str(state.cassette_dir / "_session.yaml")):
        try:
            state.discovery.smart_configuration
            for version in state.discovery.versions:
                state.discovery.capability(version)
            state.grants()
        except Exception:  # a refusal is itself recorded; the checks report it
            pass
    yield


@pytest.fixture(autouse=True)
def _check_cassette(request: pytest.FixtureRequest) -> Iterator[None]:
    state = state_of(request.config)
    if state is None or state.vcr is None or info_of(getattr(request.node, "function", None)) is None:
        yield
        return
    from harness.cassettes import cassette_name

    with state.vcr.use_cassette(str(state.cassette_dir / cassette_name(request.node.nodeid))):
        yield


@pytest.fixture(autouse=True)
def _check_report(request: pytest.FixtureRequest) -> Iterator[None]:
    info = info_of(getattr(request.node, "function", None))
    state = state_of(request.config)
    if info is None or state is None:
        yield
        return
    from harness.report import allure_labels

    api = _api_of(request.node)
    group = state.tenant.requested.group_of[api.name].name if api is not None else None
    allure_labels.label_test(info, api, group, request.node.nodeid)
    request.node.stash[LOG_START] = len(state.client.log)
    budget = state.tenant.client.run_timeout
    if time.monotonic() - state.monotonic_start > budget:
        pytest.skip(f"the run's time budget ({budget:g} s, client.run_timeout) is spent")
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Evidence is attached while the test is still the current Allure result (not a fixture's)."""
    try:
        return (yield)
    finally:
        state = state_of(item.config)
        if state is not None and LOG_START in item.stash:
            from harness.report import allure_labels

            allure_labels.attach_evidence(state.client.log[item.stash[LOG_START]:], item.stash.get(CONTEXT, None))


# -- results ----------------------------------------------------------------------------------

def _message_of(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # skipped: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(getattr(longrepr, "reprcrash", None) and longrepr.reprcrash.message or longrepr or "")


def _classify(excinfo: pytest.ExceptionInfo[BaseException] | None) -> tuple[str, str, str | None]:
    """(outcome, message, category) of a check that did not pass."""
    if excinfo is None:
        return "failed", "", None
    exc = excinfo.value
    if isinstance(exc, CheckFailed):
        return "failed", str(exc), exc.category
    if isinstance(exc, AuthError):
        return "failed", str(exc), exc.category
    if isinstance(exc, TenantError):
        return "failed", str(exc), exc.category
    if isinstance(exc, OriginError):
        return "failed", str(exc), "tenant-configuration"
    from harness.cassettes import is_missing_recording, missing_recording_message

    if is_missing_recording(exc):
        return "broken", missing_recording_message(exc, Path("cassettes")), "harness-error"
    if isinstance(exc, AssertionError):
        text = str(exc).split("\nassert ")[0].strip() or "assertion failed"
        return "failed", text, "tenant-configuration"
    return "broken", f"harness error: {exc.__class__.__name__}: {exc}", "harness-error"


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
    category = None
    if report.passed:
        outcome, message = ("warning", "; ".join(context.warnings)) if context.warnings else ("passed", "")
    elif report.skipped:
        outcome, message = "skipped", _message_of(report)
    else:
        outcome, message, category = _classify(call.excinfo)
    api = _api_of(item)
    callspec = getattr(item, "callspec", None)
    extras = [str(getattr(v, "id", v)) for k, v in (callspec.params.items() if callspec else ()) if k != "api"]
    suffix = ", ".join(([api.name] if api is not None else []) + extras) or None
    result = CheckResult(
        id=f"{info.id}[{suffix}]" if suffix else info.id,
        check_id=info.id, title=info.title, why=info.why, source=info.source, source_url=info.source_url,
        severity=info.severity, area=info.area, outcome=outcome, message=message,  # type: ignore[arg-type]
        api=api.name if api is not None else None,
        group=state.tenant.requested.group_of[api.name].name if api is not None else None,
        category=category, warnings=list(context.warnings), notes=list(context.notes),
        duration_s=round(report.duration, 3), shape=context.shape, data=dict(context.data),
    )
    state.results[item.nodeid] = result
    if state.progress is not None:
        state.progress.advance(f"{result.group or result.area} › {result.api or result.title}", outcome)
    return report


def _accept_quirks(checks: list[CheckResult], state: RunState) -> None:
    if state.policy is None:
        return
    for check in checks:
        if check.outcome == "warning" and all(state.policy.accepts(w) for w in check.warnings):
            check.outcome = "passed"
            check.notes += [f"accepted quirk: {w}" for w in check.warnings]
            check.warnings = []
            check.message = ""


def build_results(state: RunState) -> RunResults:
    from harness.gate import GateInput, GatePolicy, compute

    checks = list(state.results.values())
    _accept_quirks(checks, state)
    per_api: dict[str, list[CheckResult]] = {}
    from harness.checks import REGISTRY

    for c in checks:
        if c.api and REGISTRY.get(c.check_id, None) and REGISTRY[c.check_id].exercises:
            per_api.setdefault(c.api, []).append(c)
    grants = state.known_grants
    why_no_grants = f"no token: {state.grants_error}" if state.grants_error else "no token was requested in this run"
    rows = []
    for api in state.tenant.requested.apis:
        cap_doc = state.discovery.fetched(api.version) if api.version else None
        cap = cap_doc.body if cap_doc else None
        d = declared(api, cap) if (cap_doc is not None or not api.is_fhir) else declared(api, None)
        if cap_doc is None and api.is_fhir:
            d = type(d)(None, f"the {api.version} CapabilityStatement was not fetched in this run")
        g = granted(api, grants, why_no_grants)
        exercised = _combine([c.outcome for c in per_api.get(api.name, [])])
        detail = {"declared": d.detail, "granted": g.detail}
        if per_api.get(api.name):
            detail["exercised"] = "; ".join(c.message for c in per_api[api.name] if c.message)
        shapes = sorted({c.shape for c in per_api.get(api.name, []) if c.shape})
        rows.append(ApiRow(name=api.name, group=state.tenant.requested.group_of[api.name].name,
                           version=api.version, declared=d.value, granted=g.value, exercised=exercised,
                           detail=detail, shape="+".join(shapes) or None))
    return RunResults(
        tenant=state.tenant.name, environment=state.tenant.environment, base_url=state.tenant.base_url,
        harness_version=__version__, started=state.started.isoformat(timespec="seconds"),
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        software_version=state.discovery.software_version, fhir_versions=list(state.discovery.versions),
        requested_set=state.tenant.requested.name, checks=checks, apis=rows,
        gate=compute(GateInput(checks, rows, state.policy or GatePolicy(), state.baseline)),
        stats={"requests_sent": state.client.requests_sent,
               "token_requests": state.token_requests,
               "retries": state.client.retries, "throttled_429": state.client.throttled, "retry_wait_s": round(state.client.retry_wait, 2),
               "rate_limit_wait_s": round(state.client.limiter.waited, 2),
               "rate_limit_per_s": state.tenant.client.rate_per_second,
               "requests_window_s": round((state.client.last_done or 0) - (state.client.first_sent or 0), 2)},
    )


def _combine(outcomes: list[str]) -> Any:
    for worst in ("broken", "failed", "warning", "passed", "skipped"):
        if worst in outcomes:
            return worst
    return None


RESULTS = pytest.StashKey[RunResults]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = state_of(session.config)
    if state is None:
        return
    if state.progress is not None:
        state.progress.stop()
    results = build_results(state)
    session.config.stash[RESULTS] = results
    write_summary_json(results, state.report_dir / "summary.json")
    write_summary_md(results, state.report_dir / "summary.md")
    from harness.report.allure_files import write_run_files
    from harness.report.html import write_summary_html

    sds = next((c.data["sds"] for c in results.checks if c.data.get("sds")), None)
    write_summary_html(results, state.report_dir / "summary.html", sds)
    allure_dir = getattr(session.config.option, "allure_report_dir", None)
    if allure_dir:
        write_run_files(results, Path(allure_dir), {n: r.category for n, r in state.results.items()})
    if state.mode == "record":
        write_summary_json(results, state.cassette_dir / "summary.json")
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = results.gate.exit_code
    if session.config.pluginmanager.get_plugin("terminalreporter") is None:
        from rich.console import Console

        _print_outcome(results, state, Console())


def _print_outcome(results: RunResults, state: RunState, console: Any) -> None:
    print_coverage(results, console)
    for check in results.checks:
        if check.outcome in ("failed", "broken"):
            console.print(f"[red]{check.outcome}[/] {check.id}: {check.message}", markup=True, highlight=False)
    stats = results.stats
    console.print(f"requests: {stats.get('requests_sent')} sent, {stats.get('retries')} retried "
                  f"({stats.get('retry_wait_s')} s waited), {stats.get('rate_limit_wait_s')} s waited for the "
                  f"rate limit of {stats.get('rate_limit_per_s'):g}/s, {stats.get('token_requests')} token request(s)")
    console.print(f"reports: {state.report_dir}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS, None)
    if results is None:
        return
    from rich.console import Console

    console = Console(file=terminalreporter._tw._file, width=max(terminalreporter._tw.fullwidth, 100),
                      force_terminal=False, no_color=not terminalreporter._tw.hasmarkup)
    console.print()
    state = state_of(config)
    if state is not None:
        _print_outcome(results, state, console)
