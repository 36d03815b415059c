"""The pytest plugin on its own, run in this process with pytester over a checks file of its own and a tenant
served in process (the ``pytest_harness_transport`` hook): each way a check ends becomes the CheckResult the
reports and the gate read; a crash is an ERROR, never a pass; the guards keep a write away from production;
the policy and baseline options reach the gate; the real suites under plain pytest (xdist asked for) give the
verdict ``epic-harness run`` gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

# What a run loads on first use, loaded here once: pytester unloads what a run imported when it ends, and the
# next run would load it again.
import harness.cassettes  # noqa: F401
import harness.report.allure_files  # noqa: F401
import harness.report.html  # noqa: F401
import harness.report.junit  # noqa: F401
import harness.report.summary  # noqa: F401
import harness.report.terminal  # noqa: F401
import harness.requirements  # noqa: F401
import harness.token_probes  # noqa: F401
import suites.test_auth  # noqa: F401
from harness.plugin import RESULTS
from harness.run.outcome import GateState, Outcome
from harness.run.results import CheckResult, RunResults
from tests.conftest import ROOT, SANDBOX_TENANT, tenant_variant
from tests.support.checks import ROOT as SERVED_AT
from tests.support.checks import AppTransport, sandbox_app

pytest_plugins = ["pytester"]

#: One check per way a check can end, each of which would end otherwise if the plugin did not do its part.
CHECKS = '''
import pytest

import suites.test_auth  # registers auth.token.issued, the check a refused token is reported as
from harness.checks import TOKEN, CheckFailed, Inconclusive, check, data


def demo(check_id, **options):
    options.setdefault("group", "discovery")
    return check(check_id, title=f"title of {check_id}", why=f"why {check_id} matters", source="the demo source",
                 **options)


@demo("demo.pass", needs=())
def test_pass():
    pass


@demo("demo.warn")
def test_warn(verdict):
    verdict.warn("a quirk seen")
    verdict.note("a note")


@demo("demo.fail")
def test_fail():
    raise CheckFailed("the tenant said no", category="tenant-fault")


@demo("demo.assert")
def test_assert():
    answered = 1
    assert answered == 2, "the tenant answered 1"


@demo("demo.inconclusive")
def test_inconclusive():
    raise Inconclusive("the answer cannot decide the rule")


@demo("demo.skip")
def test_skip():
    pytest.skip("does not apply to this tenant")


@demo("demo.test-data", needs=(data("no_such_key"),))
def test_test_data():
    raise AssertionError("ran without its test data")


@demo("demo.token", group="auth", needs=(TOKEN,))
def test_token(run_state, grants):
    assert run_state.token() and grants is not None


@demo("demo.write", group="exercise", writes=True, needs=(TOKEN,))
def test_write(client, tenant, verdict):
    answer = client.post(tenant.fhir_base("R4") + "/Communication",
                         json={"resourceType": "Communication", "status": "completed"})
    verdict.note(f"written: HTTP {answer.status_code}")


@demo("demo.negative", group="auth", negative=True)
def test_negative():
    pass


@demo("demo.broken")
def test_broken():
    {}["missing"]


@demo("demo.per-api", group="exercise", applies_to=lambda api: api.name.startswith("Patient.Read"))
def test_per_api(api):
    assert api.resource == "Patient"
'''

PASSING = '''
from harness.checks import check


@check("demo.ok", title="a check that passes", why="w", source="s", group="discovery", needs=())
def test_ok():
    pass
'''


class Recorder(httpx.BaseTransport):
    """The sandbox answering in this process, every request it was sent written down."""

    def __init__(self, app: Any) -> None:
        self.inner = AppTransport(app)
        self.sent: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class InProcessTenant:
    """A pytest plugin giving the harness's plugin its transport and keeping the run's results."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self.transport = transport
        self.results: RunResults | None = None

    def pytest_harness_transport(self, config: pytest.Config) -> httpx.BaseTransport:
        return self.transport

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.results = session.config.stash.get(RESULTS, None)


class Run:
    def __init__(self, result: pytest.RunResult, plugin: InProcessTenant, report: Path) -> None:
        self.result, self.plugin, self.report = result, plugin, report

    @property
    def results(self) -> RunResults:
        assert self.plugin.results is not None, self.result.outlines[-30:]
        return self.plugin.results

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.report / "summary.json").read_text("utf-8"))

    def check(self, result_id: str) -> CheckResult:
        found = {c.id: c for c in self.results.checks}
        assert result_id in found, sorted(found)
        return found[result_id]


def run(pytester: pytest.Pytester, *args: str, transport: httpx.BaseTransport, tenant: Path = SANDBOX_TENANT) -> Run:
    """The plugin over the checks of pytester's folder (or those ``args`` name), against ``transport``'s tenant."""
    report = pytester.path / "report"
    plugin = InProcessTenant(transport)
    result = pytester.runpytest_inprocess("--tenant", str(tenant), "--base-url", SERVED_AT, "--report-dir", str(report),
                                          "--no-history", "--basetemp", str(pytester.path / "tmp"), "--assert=plain",
                                          "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:hypothesispytest", *args,
                                          plugins=[plugin])
    return Run(result, plugin, report)


@pytest.fixture(scope="module")
def sandbox_without_faults() -> Any:
    return sandbox_app()


@pytest.fixture
def sandbox(sandbox_without_faults: Any) -> Iterator[Recorder]:
    transport = Recorder(sandbox_without_faults)
    yield transport
    transport.close()


def test_each_way_a_check_ends_becomes_its_result(pytester: pytest.Pytester, sandbox: Recorder) -> None:
    pytester.makepyfile(test_demo=CHECKS)
    done = run(pytester, tenant=tenant_variant(pytester.path, replace={"allow_writes = true": ""}), transport=sandbox)
    expected = {
        "demo.pass": (Outcome.PASSED, "", None),
        "demo.warn": (Outcome.WARNING, "a quirk seen", None),
        "demo.fail": (Outcome.FAILED, "the tenant said no", "tenant-fault"),
        "demo.assert": (Outcome.FAILED, "the tenant answered 1", "tenant-configuration"),
        "demo.inconclusive": (Outcome.INCONCLUSIVE, "the answer cannot decide the rule", None),
        "demo.skip": (Outcome.SKIPPED, "does not apply to this tenant", None),
        "demo.test-data": (Outcome.SKIPPED, "needs test_data.no_such_key in the tenant file", "test-data"),
        "demo.token": (Outcome.PASSED, "", None),
        "demo.negative": (Outcome.PASSED, "", None),
        "demo.broken": (Outcome.BROKEN, "harness error: KeyError: 'missing'", "harness-error"),
    }
    for check_id, (outcome, message, category) in expected.items():
        got = done.check(check_id)
        assert (got.outcome, got.message, got.category) == (outcome, message, category), got
        assert got.title == f"title of {check_id}" and got.why == f"why {check_id} matters" and got.nodeid
    write = done.check("demo.write")
    assert write.outcome is Outcome.SKIPPED and write.category == "test-data" and "--allow-writes" in write.message
    warned = done.check("demo.warn")
    assert warned.warnings == ["a quirk seen"] and warned.notes == ["a note"] and warned.check_group == "discovery"
    per_api = [c for c in done.results.checks if c.check_id == "demo.per-api"]
    assert per_api and all(c.outcome is Outcome.PASSED and c.api and c.api.startswith("Patient.Read") for c in per_api)
    assert per_api[0].id == f"demo.per-api[{per_api[0].api}]" and per_api[0].group == "Patients & demographics"
    # the gate fails on the two failures; the broken check is listed as well
    gate = done.results.gate
    assert gate.state is GateState.FAILED and done.result.ret == 1
    assert gate.reasons[:2] == ["demo.fail: failed: the tenant said no", "demo.assert: failed: the tenant answered 1"]
    assert "demo.broken: broken: harness error: KeyError: 'missing'" in gate.reasons
    # the run went to the tenant served in process, and what the plugin kept is what summary.json says
    assert ("POST", "/oauth2/token") in sandbox.sent
    summary = done.summary
    assert summary["counts"] == done.results.counts() and summary["gate"] == "failed"
    assert {c["id"]: c["outcome"] for c in summary["checks"]} == {c.id: c.outcome.value for c in done.results.checks}


def test_a_write_is_allowed_when_asked_for_and_never_in_production(pytester: pytest.Pytester, sandbox: Recorder) -> None:
    pytester.makepyfile(test_demo=CHECKS)
    allowed = run(pytester, "test_demo.py::test_write", "--allow-writes", transport=sandbox)
    assert allowed.check("demo.write").outcome is Outcome.PASSED and allowed.check("demo.write").notes == ["written: HTTP 201"]
    assert ("POST", "/api/FHIR/R4/Communication") in sandbox.sent
    production = tenant_variant(pytester.path, replace={'environment = "non-production"': 'environment = "production"',
                                                        "allow_writes = true": ""})
    sandbox.sent.clear()
    done = run(pytester, "test_demo.py::test_write", "test_demo.py::test_negative", "test_demo.py::test_pass", "--allow-writes",
               tenant=production, transport=sandbox)
    write, negative = done.check("demo.write"), done.check("demo.negative")
    assert write.outcome is Outcome.SKIPPED and write.message == "never writes to a production tenant (only reads are sent there)"
    assert negative.outcome is Outcome.SKIPPED and "never sent to a production tenant" in negative.message
    assert done.check("demo.pass").outcome is Outcome.PASSED
    assert done.results.gate.state is GateState.INCOMPLETE and done.result.ret == 5
    assert not [path for method, path in sandbox.sent if "/api/FHIR/" in path and method != "GET"], sandbox.sent


def test_a_refused_token_blocks_what_needs_it_and_fails_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=CHECKS)
    transport = Recorder(sandbox_app("token-500"))
    try:
        done = run(pytester, "test_demo.py::test_token", "test_demo.py::test_pass", transport=transport)
    finally:
        transport.close()
    token = done.check("demo.token")
    assert token.outcome is Outcome.BLOCKED and token.blocked_by == "auth.token.issued"
    assert token.message.startswith("no access token: ")
    # auth.token.issued was not selected: the preflight's finding is the run's failure all the same
    issued = done.check("auth.token.issued")
    assert issued.outcome is Outcome.FAILED and issued.message.endswith("(established by the preflight)")
    assert done.check("demo.pass").outcome is Outcome.PASSED
    gate = done.results.gate
    assert gate.state is GateState.FAILED and gate.reasons[0].startswith("auth.token.issued: failed: ")
    assert f"1 check(s) blocked by auth.token.issued: {token.message}" in gate.not_verified


def test_a_check_that_passes_alone_is_incomplete_not_ready(pytester: pytest.Pytester, sandbox: Recorder) -> None:
    pytester.makepyfile(test_demo=PASSING)
    done = run(pytester, transport=sandbox)
    assert done.summary["counts"]["passed"] == 1
    # nothing of the requested APIs was verified: the gate cannot say READY
    assert done.summary["gate"] == "incomplete" and done.result.ret == 5


def test_a_collection_error_is_an_error_with_a_summary(pytester: pytest.Pytester, sandbox: Recorder) -> None:
    pytester.makepyfile(test_demo=PASSING, test_broken="raise RuntimeError('this module cannot be imported')")
    done = run(pytester, transport=sandbox)
    summary = done.summary
    assert summary["gate"] == "error" and done.result.ret == 3
    assert "collecting" in summary["gate_reasons"][0] and "cannot be imported" in summary["gate_reasons"][0]
    html = (done.report / "summary.html").read_text()
    assert ">ERROR<" in html and "READY<" not in html.replace("NOT READY<", "")


def test_a_duplicate_check_id_is_refused(pytester: pytest.Pytester, sandbox: Recorder) -> None:
    pytester.makepyfile(test_demo=PASSING + PASSING.replace("def test_ok", "def test_other"))
    done = run(pytester, transport=sandbox)
    assert done.summary["gate"] == "error"
    assert "declared twice" in " ".join(done.summary["gate_reasons"])


def test_the_policy_reaches_the_gate_and_a_bad_one_is_refused(pytester: pytest.Pytester, sandbox: Recorder) -> None:
    pytester.makepyfile(test_demo=CHECKS)
    policy = pytester.path / "policy.toml"
    policy.write_text('[gate]\naccepted_quirks = ["a quirk"]\n')
    done = run(pytester, "test_demo.py::test_warn", "--policy", str(policy), transport=sandbox)
    warned = done.check("demo.warn")
    assert warned.outcome is Outcome.PASSED and warned.notes == ["a note", "accepted quirk: a quirk seen"]
    assert done.results.gate.policy == f"policy from {policy}"
    policy.write_text('[gate]\noptional_groups = ["Nope"]\n')
    refused = run(pytester, "--policy", str(policy), transport=sandbox)
    assert refused.result.ret == pytest.ExitCode.USAGE_ERROR and refused.plugin.results is None
    assert "no API group named 'Nope'" in refused.result.stderr.str()


def test_a_baseline_waives_what_failed_before_and_fails_a_regression(pytester: pytest.Pytester, sandbox: Recorder) -> None:
    pytester.makepyfile(test_demo=CHECKS)
    baseline = pytester.path / "accepted.json"
    baseline.write_text(json.dumps({"tenant": "sandbox", "checks": [
        {"id": "demo.fail", "outcome": "failed"}, {"id": "demo.assert", "outcome": "passed"}], "apis": []}))
    done = run(pytester, "test_demo.py::test_fail", "test_demo.py::test_assert", "--baseline", str(baseline),
               transport=sandbox)
    gate = done.results.gate
    assert gate.baseline and gate.state is GateState.FAILED and done.result.ret == 1
    assert gate.reasons == ["regression: demo.assert: failed: the tenant answered 1"]
    assert gate.waived == ["not a regression (baseline: failed): demo.fail: failed: the tenant said no"]


def test_a_selection_runs_only_what_it_selects_and_the_gate_says_what_was_left_out(
        pytester: pytest.Pytester, sandbox: Recorder) -> None:
    done = run(pytester, str(ROOT / "suites"), "-k", "Practitioner and declared", transport=sandbox)
    ran = [c for c in done.summary["checks"] if not (c["message"] or "").startswith("deselected")]
    assert ran and {c["check_id"] for c in ran} == {"coverage.declared"}
    assert all("Practitioner" in c["api"] for c in ran)
    assert done.summary["gate"] == "incomplete" and done.result.ret == 5
    assert any("deselected" in line for line in done.summary["gate_not_verified"])


def test_plain_pytest_over_the_suites_with_xdist_gives_the_verdict_of_epic_harness_run(
        pytester: pytest.Pytester, sandbox: Recorder) -> None:
    done = run(pytester, str(ROOT / "suites"), "-n", "2", "-m", "discovery", transport=sandbox)
    summary = done.summary
    assert summary["gate"] == "incomplete" and done.result.ret == 5, done.result.outlines[-30:]
    assert summary["counts"]["passed"] >= 15 and summary["counts"]["failed"] == 0
    # xdist was switched off (one tenant, one token, one rate limit): the checks ran in this process, the only
    # one whose requests reach the tenant served here (a worker's would find nothing listening)
    assert ("GET", "/api/FHIR/R4/metadata") in sandbox.sent and ("GET", "/api/FHIR/DSTU2/metadata") in sandbox.sent
    done.result.stdout.fnmatch_lines(["*gate: INCOMPLETE*"])
