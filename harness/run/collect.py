"""Turning a finished pytest item into a CheckResult, and the per-API rows of the coverage matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.catalog import Api
from harness.checks import Blocked, CheckContext, CheckFailed, CheckInfo, Inconclusive
from harness.coverage import declared, granted
from harness.errors import AuthError, OriginError, TenantError
from harness.run.gate import NOT_EXERCISED
from harness.run.outcome import Outcome
from harness.run.preconditions import Skip
from harness.run.results import ApiRow, CheckResult
from harness.run.state import RunState


def classify(exc: BaseException | None) -> tuple[Outcome, str, str | None, str | None]:
    """(outcome, message, category, blocked_by) of a check that did not pass."""
    if exc is None:
        return Outcome.FAILED, "", None, None
    if isinstance(exc, Blocked):
        return Outcome.BLOCKED, str(exc.msg), None, exc.by
    if isinstance(exc, Inconclusive):
        return Outcome.INCONCLUSIVE, str(exc.msg), None, None
    if isinstance(exc, Skip):
        return Outcome.SKIPPED, str(exc.msg), exc.category, None
    if isinstance(exc, pytest.skip.Exception):  # type: ignore[arg-type]
        return Outcome.SKIPPED, str(getattr(exc, "msg", exc)), None, None
    if isinstance(exc, CheckFailed):
        return Outcome.FAILED, str(exc), exc.category, None
    if isinstance(exc, (AuthError, TenantError)):
        return Outcome.FAILED, str(exc), exc.category, None
    if isinstance(exc, OriginError):
        return Outcome.FAILED, str(exc), "tenant-configuration", None
    if exc.__class__.__name__ == "CheckTimeout":
        return Outcome.FAILED, str(exc), "tenant-fault", None
    from harness.cassettes import is_missing_recording, missing_recording_message

    if is_missing_recording(exc):
        return Outcome.BROKEN, missing_recording_message(exc, Path("cassettes")), "harness-error", None
    if isinstance(exc, AssertionError):
        text = str(exc).split("\nassert ")[0].strip() or "assertion failed"
        return Outcome.FAILED, text, "tenant-configuration", None
    return Outcome.BROKEN, f"harness error: {exc.__class__.__name__}: {exc}", "harness-error", None


def api_param(item: pytest.Item) -> Api | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("api") if callspec else None
    return value if isinstance(value, Api) else None


def other_params(item: pytest.Item) -> list[str]:
    callspec = getattr(item, "callspec", None)
    if not callspec:
        return []
    return [str(getattr(v, "id", v)) for k, v in callspec.params.items() if k != "api"]


def result_id(info: CheckInfo, api: Api | None, extras: list[str]) -> str:
    suffix = ", ".join(([api.name] if api is not None else []) + extras)
    return f"{info.id}[{suffix}]" if suffix else info.id


def make_result(item: pytest.Item, info: CheckInfo, state: RunState, outcome: Outcome, message: str, *,
                category: str | None = None, blocked_by: str | None = None, duration: float = 0.0,
                context: CheckContext | None = None, started: float | None = None) -> CheckResult:
    context = context or CheckContext()
    api = api_param(item)
    extras = other_params(item)
    return CheckResult(
        id=result_id(info, api, extras), check_id=info.id, title=info.title, why=info.why, source=info.source,
        source_url=info.source_url, severity=info.severity, area=info.area, outcome=outcome, message=message,
        api=api.name if api is not None else None,
        group=state.tenant.requested.group_of[api.name].name if api is not None else None,
        category=category, warnings=list(context.warnings), notes=list(context.notes),
        duration_s=round(duration, 3), shape=context.shape, data=dict(context.data), check_group=info.group,
        param=", ".join(extras) or None, blocked_by=blocked_by, required=info.required,
        requirements=requirements_of(info, api, extras), nodeid=item.nodeid, started=started,
    )


def requirements_of(info: CheckInfo, api: Api | None, extras: list[str]) -> tuple[str, ...]:
    """The requirements a result verifies: the mapping's (harness/requirements/data/mapping.toml) and the check's own."""
    from harness.requirements import requirements_for

    param = extras[-1] if extras else (api.name if api is not None else None)
    return tuple(dict.fromkeys(info.requirements + requirements_for(info.id, param)))


def api_rows(state: RunState, checks: list[CheckResult], exercising: set[str]) -> list[ApiRow]:
    """The coverage matrix: declared, granted, exercised and verified for every requested API."""
    by_api: dict[str, list[CheckResult]] = {}
    for c in checks:
        if c.api:
            by_api.setdefault(c.api, []).append(c)
    grants = state.known_grants
    why_no_grants = f"no token: {state.grants_error}" if state.grants_error else "no token was requested in this run"
    rows = []
    for api in state.tenant.requested.apis:
        cap_doc = state.discovery.fetched(api.version) if api.version else None
        if api.is_fhir and cap_doc is None:
            d = type(declared(api, None))(None, f"the {api.version} CapabilityStatement was not fetched in this run")
        else:
            d = declared(api, cap_doc.body if cap_doc else None)
        g = granted(api, grants, why_no_grants)
        mine = by_api.get(api.name, [])
        exercise = [c for c in mine if c.check_id in exercising]
        exercised = Outcome.worst([c.outcome for c in exercise])
        withheld = next((c for c in exercise if c.outcome is Outcome.FAILED and c.message.startswith("Epic 59204")), None)
        if withheld is not None and g.value is not False:  # the scope says yes, the tenant's answer says no
            g = type(g)(False, f"the token's scope covers {api.resource}, but the tenant withholds this API's "
                               f"context (Epic 59204)")
        detail = {"declared": d.detail, "granted": g.detail}
        if exercise:
            detail["exercised"] = "; ".join(dict.fromkeys(c.message for c in exercise if c.message))
        shapes = sorted({c.shape for c in exercise if c.shape})
        unproved = [c for c in mine if c.required and not c.outcome.proved]
        if not exercise:
            why = NOT_EXERCISED
        elif unproved:
            first = unproved[0]
            why = f"{first.check_id} {first.outcome.value}" + (f": {first.message}" if first.message else "")
        elif d.value is False or g.value is False:
            why = "not declared" if d.value is False else "not granted"
        else:
            why = None
        rows.append(ApiRow(name=api.name, group=state.tenant.requested.group_of[api.name].name,
                           version=api.version, declared=d.value, granted=g.value, exercised=exercised,
                           detail=detail, shape="+".join(shapes) or None, verified=why is None, not_verified=why))
    return rows


def stats(state: RunState) -> dict[str, Any]:
    client = state.client
    return {"requests_sent": client.requests_sent, "token_requests": state.token_requests,
            "retries": client.retries, "throttled_429": client.throttled, "retry_wait_s": round(client.retry_wait, 2),
            "rate_limit_wait_s": round(client.limiter.waited, 2), "rate_limit_per_s": state.tenant.client.rate_per_second,
            "requests_window_s": round((client.last_done or 0) - (client.first_sent or 0), 2),
            "preflight_s": round(state.preflight.seconds, 2)}
