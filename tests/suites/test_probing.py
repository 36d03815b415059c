"""probe.search and probe.find (suites/test_probing.py) judged in process: a correct tenant passes and the
parameters it ignores are reported; a tenant answering malformed input with a 500 is found, the example shrunk
and reported with a curl line that leaks no token, while another API passes; $find's odd windows and unknown
names get no 500 from the correct sandbox and fail each case on one that answers 500; production and a zero
budget are never probed. Also what the probes draw (harness.probing)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.probing import ProbeCase, cases, curl, search_parameters
from tests.conftest import DATA, SANDBOX_TENANT
from tests.support.checks import judge, judge_each, sandbox_tenant, tenant_state

ENCOUNTERS = "Encounter.Search (Patient Chart) (R4)"
PRACTITIONERS = "Practitioner.Search (Organizational Directory) (R4)"
FIND_CASES = ("end-before-start", "zero-length", "two-years", "unknown-visit-type", "unknown-provider")


def test_a_correct_tenant_passes_and_the_ignored_parameters_are_reported() -> None:
    with tenant_state(tenant=sandbox_tenant(probing={"seed": 20261123})) as state:
        probe = judge(state, "probe.search", api=ENCOUNTERS)
    assert probe.outcome == "passed", probe
    notes = probe.result.notes
    assert notes[0] == "hypothesis seed 20261123, 5 examples"
    assert any(n.startswith("5 example(s) sent of 5") for n in notes), notes
    ignored = [n for n in notes if n.startswith("ignored silently (200)")]
    assert ignored and "unknown parameter" in ignored[0], notes  # the sandbox, like Epic, ignores unknown ones


def test_a_500_for_malformed_input_is_found_shrunk_and_reproducible() -> None:
    waits: list[float] = []
    with tenant_state("fhir-500-on-malformed:Encounter", sleep=waits.append,
                      tenant=sandbox_tenant(probing={"examples": 30, "seed": 20261123})) as state:
        probe = judge(state, "probe.search", api=ENCOUNTERS)
        other = judge(state, "probe.search", api=PRACTITIONERS)
        token = state.token()
    assert probe.outcome == "failed" and probe.result.category == "tenant-fault", probe
    message = probe.message
    assert "HTTP 500 for a malformed query" in message and "seed 20261123" in message and "smallest of" in message
    assert "curl -H 'Accept: application/fhir+json'" in message
    assert '-H "Authorization: Bearer $TOKEN"' in message  # double quotes: the shell expands $TOKEN
    assert token not in message and "Bearer ey" not in message
    assert other.outcome == "passed", other


def test_find_windows_and_unknown_names_get_no_500_from_the_correct_sandbox() -> None:
    with tenant_state() as state:
        judged = judge_each(state, "probe.find")
    assert set(judged) == {f"probe.find[Appointment.$find (STU3), {case}]" for case in FIND_CASES}
    assert {j.outcome for j in judged.values()} == {"passed"}, judged


def test_a_find_answering_500_fails_every_case() -> None:
    waits: list[float] = []
    with tenant_state("fhir-html-500:Appointment", sleep=waits.append) as state:
        judged = judge_each(state, "probe.find")
    assert len(judged) == 5 and all(j.outcome == "failed" and "HTTP 500" in j.message for j in judged.values()), judged


def test_production_and_a_zero_budget_are_never_probed() -> None:
    for tenant, words in ((sandbox_tenant(environment="production"), "never sent to a production tenant"),
                          (sandbox_tenant(probing={"examples": 0}), "probing is off")):
        with tenant_state(tenant=tenant) as state:
            judged = [judge(state, "probe.search", api=ENCOUNTERS), judge(state, "probe.find",
                                                                          api="Appointment.$find (STU3)", case="two-years")]
            sent = [e.url for e in state.client.log if "Encounter" in e.url or "$find" in e.url]
        assert all(j.outcome == "skipped" and words in j.message for j in judged), judged
        assert sent == []


def test_a_production_tenant_file_gets_no_probing_budget() -> None:
    import tomllib

    from harness.config import parse_tenant

    data = tomllib.loads(SANDBOX_TENANT.read_text())
    data["environment"] = "production"
    data["probing"] = {"examples": 50}
    data["checks"].pop("allow_writes", None)  # refused in production
    assert parse_tenant(data, file=SANDBOX_TENANT).probing.examples == 0


capability = json.loads((DATA / "epic" / "r4-capabilitystatement-sandbox-may2026.json").read_text())


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data())
def test_generated_cases_keep_the_base_query_and_target_a_declared_parameter(data: st.DataObject) -> None:
    params = search_parameters(capability, "Encounter")
    assert "date" in params and params["date"] == "date"
    case = data.draw(cases(params, {"patient": "p1"}))
    assert isinstance(case, ProbeCase) and ("patient", "p1") in case.params or case.target == "patient"
    if case.kind != "unknown-parameter":
        assert case.target in params
    assert "Authorization" in curl("https://x/api/FHIR/R4/Encounter", case)
