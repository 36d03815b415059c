"""The unit layer: one check judged against a tenant served in process, without a whole run.

``tenant_state`` gives a :class:`RunState` whose client sends every request to an ASGI app in this
process (the sandbox with some faults, or any other app) or to an ``httpx.MockTransport`` handler;
``judge`` runs one check on it as the plugin would: its guards and needs first, then the check with
its fixtures, and the outcome the plugin would record (a real ``CheckResult``). What the check judges
is the same answer a run would judge; only pytest's collection, the reports and the network are left
out, so a check passing and failing costs milliseconds instead of a run of seconds.
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
from harness.run.results import CheckResult
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
                 network: bool = False, tenant_file: Path = SANDBOX_TENANT, base_url: str = ROOT,
                 tmp_path: Path | None = None, allow_writes: bool = False, tenant: Tenant | None = None,
                 sleep: Callable[[float], None] | None = None, **state: Any) -> Iterator[RunState]:
    """A run's state over an in-process tenant: the sandbox with ``faults`` unless ``app`` or ``handler`` is given;
    with ``network`` over real sockets to ``base_url`` (or the ``tenant``'s) instead. With ``sleep`` (e.g.
    ``waits.append``) the client's waits before a retry are handed to it instead of slept."""
    transport: httpx.BaseTransport | None
    if network:
        transport = None
    elif handler is not None:
        transport = httpx.MockTransport(handler)
    else:
        transport = AppTransport(app if app is not None else sandbox_app(*faults), base_url)
    tenant = tenant or load_tenant(tenant_file, base_url=base_url, allow_writes=allow_writes)
    report_dir = tmp_path / "report" if tmp_path is not None else Path("reports") / "unit"
    run = RunState(tenant, report_dir, transport=transport, **state)
    if sleep is not None:  # the waits between retries, recorded instead of slept (the client's own clock)
        run.client._sleep = sleep
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
    ``changes`` as :func:`variant`'s."""
    from harness.sandbox import EmbeddedSandbox, default_settings

    with EmbeddedSandbox(default_settings(faults), tls=tls, cert_days=cert_days,
                         tls_min_version=tls_min_version) as sandbox:
        client = dict(changes.pop("client", {}))
        if tls and trusted:
            client.setdefault("ca_file", sandbox.ca_file)
        tenant = sandbox_tenant(base_url=sandbox.base_url, tenant_file=tenant_file, client=client, **changes)
        with tenant_state(network=True, tenant=tenant, tmp_path=tmp_path, sleep=sleep) as run:
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


def judge_each(state: RunState, check_id: str, apis: Iterable[str] | None = None) -> dict[str, Judged]:
    """The check for every requested API it applies to (or those of ``apis`` it applies to), or every FHIR
    version, and for every value of its own ``parametrize`` marks (``probe.find``'s cases), by result id."""
    found = info(check_id)
    fn = function_of(found)
    parameters = inspect.signature(fn).parameters
    out: dict[str, Judged] = {}
    calls: list[dict[str, Any]]
    if "api" in parameters:
        named = [requested_api(state, n) for n in apis] if apis is not None else state.tenant.requested.apis
        calls = [{"api": a} for a in named if found.applies_to is None or _applies(found, a, state.tenant)]
    elif "fhir_version" in parameters:
        calls = [{"fhir_version": version} for version in state.discovery.versions]
    else:
        calls = [{}]
    for call in calls:
        for values in _parametrized(fn):
            judged = judge(state, check_id, **call, **values)
            out[judged.result.id] = judged
    return out


def _parametrized(fn: Callable[..., Any]) -> list[dict[str, Any]]:
    """Every combination of the values the function's ``pytest.mark.parametrize`` marks give."""
    combos: list[dict[str, Any]] = [{}]
    for mark in getattr(fn, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names, values = mark.args[0], mark.args[1]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        rows = [tuple(v) if len(names) > 1 else (v,) for v in values]
        combos = [{**c, **dict(zip(names, row))} for c in combos for row in rows]
    return combos


def _applies(found: CheckInfo, api: Api, tenant: Tenant) -> bool:
    assert found.applies_to is not None
    takes_tenant = len(inspect.signature(found.applies_to).parameters) >= 2
    return bool(found.applies_to(api, tenant) if takes_tenant else found.applies_to(api))
