"""Preconditions and guards: what a check needs before it may run, and what may never run here.

``guard`` raises before a check sends anything: :class:`Blocked` (naming the check whose failure
blocked it) when a need the preflight could not establish is missing, :class:`Skip` when the check
does not apply to this run (a write in production, probing switched off, test data not given).
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog import Api
from harness.checks import (
    CAPABILITY, DECLARED, EXERCISED, REACHABLE, SMART_CONFIGURATION, TOKEN, TOKEN_ENDPOINT, Blocked, CheckInfo,
)
from harness.coverage import declared
from harness.run.outcome import Outcome
from harness.run.state import RunState


class Skip(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """The check does not apply to this run; ``category`` says who could change that."""

    def __init__(self, message: str, *, category: str | None = None, advisory: bool = False) -> None:
        super().__init__(message)
        self.category = category
        self.advisory = advisory  # not running here leaves nothing unverified that could have been


def guard(info: CheckInfo, state: RunState, api: Api | None, params: dict[str, Any]) -> None:
    """Raise Skip or Blocked if the check may not run now; return if it may."""
    tenant = state.tenant
    if info.writes_for(api):
        if tenant.is_production:
            raise Skip("never writes to a production tenant (only reads are sent there)")
        if not tenant.checks.allow_writes:
            raise Skip("a write: run with --allow-writes (or checks.allow_writes = true) against a non-production "
                       "tenant", category="test-data")
    if info.probes:
        if tenant.is_production:
            raise Skip("probing is never sent to a production tenant")
        if tenant.probing.examples == 0:
            raise Skip("probing is off for this tenant ([probing] examples = 0)")
    if info.credentials and tenant.auth.stand_in:
        raise Skip("a replay without the app's own client id or key (a stand-in signed): the app's credentials are "
                   "checked in live and record runs", advisory=True)
    if not info.production and tenant.is_production:
        raise Skip("never sent to a production tenant")
    if info.negative:
        if tenant.is_production:
            raise Skip("negative auth checks are never sent to a production tenant, whatever the tenant file says")
        if not tenant.checks.negative_auth:
            raise Skip("negative auth checks are off for this tenant (checks.negative_auth = false)")
    for need in info.needs:
        _need(need, state, api, params)


def _version(api: Api | None, params: dict[str, Any], state: RunState) -> str:
    version = params.get("fhir_version") or (api.version if api is not None else None)
    return str(version or state.discovery.primary_version)


def _need(need: str, state: RunState, api: Api | None, params: dict[str, Any]) -> None:
    pre = state.run_preflight()
    if need.startswith("data:"):
        key = need.removeprefix("data:")
        if not state.tenant.test_data.get(key):
            raise Skip(f"needs test_data.{key} in the tenant file", category="test-data")
        return
    if not pre.reachable:
        raise Blocked("preflight.reachable", f"the tenant did not answer: {pre.unreachable}")
    if need == REACHABLE:
        return
    if need == SMART_CONFIGURATION:
        doc = state.discovery.smart_configuration
        if doc.body is None:
            raise Blocked("discovery.smart-configuration.served", f"no usable smart-configuration: {doc.error}")
    elif need == CAPABILITY:
        version = _version(api, params, state)
        if version not in state.tenant.fhir_bases:
            raise Skip(f"no {version} FHIR base for this tenant")
        doc = state.discovery.capability(version)
        if doc.body is None:
            raise Blocked(f"discovery.metadata.served[{version}]", f"no usable {version} CapabilityStatement: {doc.error}")
    elif need == TOKEN_ENDPOINT:
        if not pre.token_endpoint:
            raise Blocked("discovery.smart-configuration.token-endpoint", pre.token_endpoint_error or "no token endpoint")
    elif need == TOKEN:
        if not pre.token_endpoint:
            raise Blocked("discovery.smart-configuration.token-endpoint", pre.token_endpoint_error or "no token endpoint")
        if pre.token_error:
            raise Blocked("auth.token.issued", f"no access token: {pre.token_error}")
    elif need == DECLARED:
        if api is None or not api.is_fhir:
            return
        doc = state.discovery.capability(str(api.version))
        finding = declared(api, doc.body) if doc.body is not None else None
        if finding is not None and finding.value is False:
            raise Blocked(f"coverage.declared[{api.name}]", f"not offered by the tenant: {finding.detail}")
    elif need == EXERCISED:
        if api is None or api.interaction not in ("read", "search"):
            return
        exercise_id = f"exercise.{api.interaction}[{api.name}]"
        ran = next((r for r in state.results.values() if r.id == exercise_id), None)
        # an exercise check that was not run (deselected, not applicable) leaves the check to fetch for itself
        if ran is not None and ran.outcome in (Outcome.FAILED, Outcome.BROKEN, Outcome.BLOCKED):
            raise Blocked(exercise_id, f"the API's own exercise check {ran.outcome.value}: there is no answer to judge"
                          + (f" ({ran.message})" if ran.message else ""))
