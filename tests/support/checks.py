"""The unit layer: one check judged against a tenant served in process, without a whole run.

``tenant_state`` gives a :class:`RunState` whose client sends every request to an ASGI app in this
process (the sandbox with some faults, or any other app) or to an ``httpx.MockTransport`` handler;
``judge`` runs one check on it as the plugin would: its guards and needs first, then the check with
its fixtures, and the outcome the plugin would record (a real ``CheckResult``). What the check judges
is the same answer a run would judge; only pytest's collection, the reports and the network are left
out, so a check passing and failing costs milliseconds instead of a run of seconds. ``judge_each`` judges
everything a run collects of one check (per API, FHIR version and ``parametrize`` case), ``judge_run`` every
check in a run's order, and ``results_of`` turns what was judged into the run's results (gate, API rows, root
causes) for the report writers. ``sandbox_tenant`` (``variant``) changes a tenant's settings or test data without a
file; ``served_state`` serves the sandbox on a loopback port, for the few faults only a real socket shows (a reset,
a drip, a hang, TLS).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator

import httpx
from _pytest.outcomes import OutcomeException

with warnings.catch_warnings():  # starlette announces a future test-client transport
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import suites
from harness.catalog import Api
from harness.checks import REGISTRY, CheckContext, CheckInfo
from harness.config import Tenant, load_tenant
from harness.run import collect
from harness.run.outcome import Outcome
from harness.run.preconditions import guard
from harness.run.results import CheckResult, RunResults
from harness.run.state import RunState
from tests.conftest import SANDBOX_TENANT

#: The origin an in-process tenant is addressed by; nothing listens there, the app answers in process.
ROOT = "http://127.0.0.1:8765"


class AppTransport(httpx.BaseTransport):
    """Every request to an ASGI app in this process (through Starlette's test client, redirects not followed)."""

    def __init__(self, app: Any, base_url: str = ROOT) -> None:
        self._client = TestClient(app, base_url=base_url, raise_server_exceptions=False, follow_redirects=False)
        self._client.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # Answered with its body already read (and decoded), which the tenant client accepts as such.
        return self._client.request(request.method, str(request.url), headers=request.headers,
                                    content=request.read())

    def close(self) -> None:
        self._client.__exit__(None, None, None)


class Intercepting(httpx.BaseTransport):
    """``answer(request)`` where it answers (a response), the tenant's transport otherwise: a tenant with one
    behaviour changed, or one more server beside it (a JWK Set URL, say)."""

    def __init__(self, inner: httpx.BaseTransport, answer: Callable[[httpx.Request], httpx.Response | None]) -> None:
        self._inner = inner
        self._answer = answer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answered = self._answer(request)
        return answered if answered is not None else self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def sandbox_app(*faults: str, **settings: Any) -> Any:
    from harness.sandbox import create_app, default_settings

    config = default_settings(faults)
    for name, value in settings.items():
        setattr(config, name, value)
    return create_app(config)


def variant(tenant: Tenant, **changes: Any) -> Tenant:
    """``tenant`` with some fields changed. A mapping given for a settings table (``client``, ``probing``,
    ``checks``, ``cassettes``) changes only those of its fields; for ``test_data`` it is merged, a ``None``
    value removing the key; any other value replaces the field."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        current = getattr(tenant, name)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
            value = dataclasses.replace(current, **value)  # type: ignore[type-var]
        elif isinstance(value, Mapping) and isinstance(current, dict):
            value = {k: v for k, v in {**current, **value}.items() if v is not None}
        out[name] = value
    return dataclasses.replace(tenant, **out)


def sandbox_tenant(*, base_url: str = ROOT, tenant_file: Path = SANDBOX_TENANT, **changes: Any) -> Tenant:
    """The tenant file (the sandbox's unless named) addressed at ``base_url``, with :func:`variant`'s changes."""
    return variant(load_tenant(tenant_file, base_url=base_url), **changes)


@contextmanager
def tenant_state(*faults: str, app: Any = None, handler: Callable[[httpx.Request], httpx.Response] | None = None,
                 answer: Callable[[httpx.Request], httpx.Response | None] | None = None, network: bool = False,
                 tenant_file: Path = SANDBOX_TENANT, base_url: str = ROOT, tmp_path: Path | None = None,
                 allow_writes: bool = False, tenant: Tenant | None = None, **state: Any) -> Iterator[RunState]:
    """A run's state over an in-process tenant: the sandbox with ``faults`` unless ``app`` or ``handler`` is given;
    ``answer`` answers the requests it chooses to before they reach the tenant. With ``network`` the client sends
    over real sockets to ``base_url`` (or the ``tenant``'s) instead. ``state`` goes to the RunState (e.g.
    ``sleep=waits.append``: the client's waits before a retry recorded instead of slept)."""
    transport: httpx.BaseTransport | None = None
    if handler is not None:
        transport = httpx.MockTransport(handler)
    elif not network:
        transport = AppTransport(app if app is not None else sandbox_app(*faults), base_url)
    if answer is not None and transport is not None:
        transport = Intercepting(transport, answer)
    tenant = tenant or load_tenant(tenant_file, base_url=base_url, allow_writes=allow_writes)
    report_dir = tmp_path / "report" if tmp_path is not None else Path("reports") / "unit"
    run = RunState(tenant, report_dir, transport=transport, **state)
    try:
        yield run
    finally:
        run.client.close()
        if transport is not None:
            transport.close()


@contextmanager
def served_state(*faults: str, tls: bool = False, trusted: bool = True, cert_days: float = 365.0,
                 tls_min_version: str = "1.2", tenant_file: Path = SANDBOX_TENANT, tmp_path: Path | None = None,
                 sleep: Callable[[float], None] | None = None, **changes: Any) -> Iterator[RunState]:
    """A run's state over real sockets: the sandbox with ``faults`` served on a loopback port, for what only the
    wire shows (a reset, a drip, a hang, TLS). With ``tls`` it speaks https (``tls_min_version`` and later) with a
    certificate valid ``cert_days``, whose CA the tenant trusts (``client.ca_file``) unless ``trusted`` is false;
    ``changes`` as :func:`variant`'s; ``sleep`` as the RunState's."""
    from harness.sandbox import EmbeddedSandbox, default_settings

    with EmbeddedSandbox(default_settings(faults), tls=tls, cert_days=cert_days,
                         tls_min_version=tls_min_version) as sandbox:
        client = dict(changes.pop("client", {}))
        if tls and trusted:
            client.setdefault("ca_file", sandbox.ca_file)
        tenant = sandbox_tenant(base_url=sandbox.base_url, tenant_file=tenant_file, client=client, **changes)
        extra = {"sleep": sleep} if sleep is not None else {}
        with tenant_state(network=True, tenant=tenant, tmp_path=tmp_path, **extra) as run:
            yield run


@dataclass
class Judged:
    """One check's outcome as a run records it, and the verdict the check filled."""

    result: CheckResult
    verdict: CheckContext

    @property
    def outcome(self) -> str:
        return self.result.outcome.value

    @property
    def message(self) -> str:
        return self.result.message

    @property
    def warnings(self) -> list[str]:
        return self.result.warnings

    def __repr__(self) -> str:
        return f"<{self.result.id}: {self.outcome} {self.message[:300]!r}>"


@cache
def _suites_loaded() -> None:
    for module in pkgutil.iter_modules(suites.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"suites.{module.name}")


def info(check_id: str) -> CheckInfo:
    _suites_loaded()
    assert check_id in REGISTRY, f"no check {check_id!r}"
    return REGISTRY[check_id]


def function_of(found: CheckInfo) -> Callable[..., Any]:
    module, _, name = found.origin.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _fixtures(state: RunState) -> dict[str, Any]:
    from suites.exercise import SearchCache, SeenResources

    shared = state.memo.setdefault("unit-fixtures", {})
    shared.setdefault("search_cache", SearchCache())
    shared.setdefault("seen", SeenResources())
    return shared


def _argument(name: str, state: RunState, verdict: CheckContext, params: dict[str, Any]) -> Any:
    if name in params:
        return params[name]
    if name == "verdict":
        return verdict
    if name == "run_state":
        return state
    if name in ("tenant", "client", "discovery", "token_provider"):
        return getattr(state, name)
    if name == "grants":
        return state.grants()
    if name == "cassette_mode":
        return state.mode
    if name in ("search_cache", "seen"):
        return _fixtures(state)[name]
    raise LookupError(f"the unit layer has no fixture {name!r}")


def requested_api(state: RunState, name: str) -> Api:
    found = next((a for a in state.tenant.requested.apis if a.name == name), None)
    assert found is not None, f"{name!r} is not among the tenant's requested APIs"
    return found


def judge(state: RunState, check_id: str, *, api: str | Api | None = None, **params: Any) -> Judged:
    """Run one check as the plugin would (guards and needs, then the check) and return what it records."""
    found = info(check_id)
    fn = function_of(found)
    if isinstance(api, str):
        api = requested_api(state, api)
    call = dict(params)
    if api is not None:
        call["api"] = api
    verdict = CheckContext()
    exc: BaseException | None = None
    try:
        state.run_preflight()
        guard(found, state, api, call)
        fn(**{name: _argument(name, state, verdict, call) for name in inspect.signature(fn).parameters})
    except (Exception, OutcomeException) as caught:  # pytest.skip and pytest.fail are OutcomeExceptions
        exc = caught
    if exc is None:
        outcome, message = (Outcome.WARNING, "; ".join(verdict.warnings)) if verdict.warnings else (Outcome.PASSED, "")
        category = blocked_by = None
    else:
        outcome, message, category, blocked_by = collect.classify(exc)
    item = SimpleNamespace(callspec=SimpleNamespace(params=call), nodeid=f"unit::{check_id}")
    result = collect.make_result(item, found, state, outcome, message, category=category,  # type: ignore[arg-type]
                                 blocked_by=blocked_by, context=verdict)
    if exc is not None and getattr(exc, "advisory", False):
        result.required = False
    state.results[result.id] = result
    return Judged(result, verdict)


def cases(found: CheckInfo) -> list[dict[str, Any]]:
    """The ``pytest.mark.parametrize`` cases of a check (one empty case when it has none), as pytest expands them."""
    out: list[dict[str, Any]] = [{}]
    for mark in getattr(function_of(found), "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names = mark.args[0].replace(" ", "").split(",") if isinstance(mark.args[0], str) else list(mark.args[0])
        rows = [value if len(names) > 1 else (value,) for value in mark.args[1]]
        out = [{**case, **dict(zip(names, row))} for case in out for row in rows]
    return out


def parametrizations(state: RunState, found: CheckInfo, apis: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The parameters of everything a run collects of the check: one set per requested API it applies to (of those
    named, if ``apis`` names some), or per FHIR version, times the cases of its own ``parametrize``."""
    parameters = inspect.signature(function_of(found)).parameters
    axes: list[dict[str, Any]] = [{}]
    if "api" in parameters:
        named = [requested_api(state, n) for n in apis] if apis is not None else state.tenant.requested.apis
        axes = [{"api": a} for a in named if found.applies(a, state.tenant)]
    elif "fhir_version" in parameters:
        axes = [{"fhir_version": version} for version in state.discovery.versions]
    return [{**axis, **case} for axis in axes for case in cases(found)]


def judge_each(state: RunState, check_id: str, apis: Iterable[str] | None = None) -> dict[str, Judged]:
    """The check for everything a run collects of it (``parametrizations``), by result id."""
    out: dict[str, Judged] = {}
    for params in parametrizations(state, info(check_id), apis):
        judged = judge(state, check_id, **params)
        out[judged.result.id] = judged
    return out


def run_order(found: CheckInfo) -> tuple[int, int, int, str, int]:
    """Where a run puts the check: the plugin's order (late last, by group, the checks judging an exercise check's
    answer after it), then collection's (module, line)."""
    fn = function_of(found)
    return (*found.order, fn.__module__, fn.__code__.co_firstlineno)


def judge_run(state: RunState, select: Callable[[CheckInfo], bool] = lambda found: True) -> dict[str, Judged]:
    """Every registered check ``select`` keeps, in a run's order, for everything a run collects of it: the whole
    run's verdicts, without pytest, the reports or the network."""
    _suites_loaded()
    out: dict[str, Judged] = {}
    for found in sorted((f for f in REGISTRY.values() if select(f)), key=run_order):
        out.update(judge_each(state, found.id))
    return out


def check_ids() -> list[str]:
    """Every check of suites/, sorted."""
    _suites_loaded()
    return sorted(REGISTRY)


def results_of(state: RunState) -> RunResults:
    """The run's results from what was judged, as the plugin builds them at its end: the gate, the API rows, the
    root causes, for every report writer."""
    from harness.plugin import build_results

    return build_results(state)
