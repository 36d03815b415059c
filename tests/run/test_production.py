"""A production tenant gets reads only, whatever the tenant file or the command line says: every check that
writes, probes, sends a bad token request or should never reach production is stopped by its guard
(harness/run/preconditions.py) before it sends anything, and a tenant file asking for more is refused.
(One whole run against a production tenant file, watched on the wire: tests/e2e/test_production_reads_only.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import cli
from harness.checks import REGISTRY
from harness.run.preconditions import Skip, guard
from tests.conftest import tenant_variant
from tests.support.checks import info, judge, parametrizations, tenant_state

#: the checks a whole run against production reports as skipped for being there (tests/e2e/test_production_reads_only.py)
NEVER_IN_PRODUCTION = ("exercise.create", "scheduling.book", "auth.token.refuses", "auth.fhir.no-token",
                       "exercise.questionnaire-log-errors")


def production_tenant(tmp_path: Path) -> Path:
    return tenant_variant(tmp_path, replace={'environment = "non-production"': 'environment = "production"',
                                             "allow_writes = true": "allow_writes = false"})


def for_production(why: str) -> bool:
    return "never" in why and "a production tenant" in why


def test_every_check_not_for_production_is_skipped_before_it_sends(tmp_path: Path) -> None:
    info("auth.token.issued")  # every check registered
    with tenant_state(tenant_file=production_tenant(tmp_path), allow_writes=True) as state:  # writes asked for
        assert state.tenant.is_production and not state.tenant.checks.allow_writes
        assert not state.tenant.checks.negative_auth
        state.run_preflight()
        before = len(state.client.log)
        stopped: dict[str, str] = {}  # each check a production run must not send, and why its guard stopped it
        others = 0
        for found in REGISTRY.values():
            for params in parametrizations(state, found):
                api = params.get("api")
                never_here = found.writes_for(api) or found.probes or found.negative or not found.production
                if not never_here:
                    others += 1
                    continue
                key = f"{found.id}[{', '.join(str(getattr(v, 'name', v)) for v in params.values())}]"
                with pytest.raises(Skip) as skipped:
                    guard(found, state, api, params)
                stopped[key] = str(skipped.value.msg)
        log = list(state.client.log)
        recorded = {c: judge(state, c, **parametrizations(state, info(c))[0]) for c in NEVER_IN_PRODUCTION}
        after = list(state.client.log)
    assert len(log) == before  # the guards sent nothing
    assert len(stopped) > 50 and others > 500
    # stopped for being production (not for a reason a tenant file could change, such as allow_writes)
    assert all(for_production(why) for why in stopped.values()), {k: v for k, v in stopped.items()
                                                                 if not for_production(v)}
    for check, judged in recorded.items():  # and a run records them so
        assert judged.outcome == "skipped" and for_production(judged.message), (check, judged)
    assert after == log  # judging them sent nothing either
    # what reached the tenant: discovery reads and the run's one token request, no control, no probe
    assert [e.method for e in log].count("POST") == 1 and log[[e.method for e in log].index("POST")].url.endswith(
        "/oauth2/token")
    assert {e.method for e in log} == {"GET", "POST"} and state.token_requests == 1


@pytest.mark.parametrize("line", ["negative_auth = true", "allow_writes = true"])
def test_negative_auth_or_writes_in_a_production_tenant_file_are_refused(tmp_path: Path, line: str,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    tenant = tenant_variant(tmp_path, replace={'environment = "non-production"': 'environment = "production"',
                                               "allow_writes = true": line})
    assert cli.main(["run", "--tenant", str(tenant)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "never sent to a production tenant" in err, err
    assert line.split()[0] in err and "Traceback" not in err
