"""Property-based probing end to end: a tenant that answers malformed input with a 500 is found, the example
shrunk and reported with a curl line; a correct tenant passes; production is never probed."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.probing import ProbeCase, cases, curl, search_parameters
from tests.conftest import DATA, INCOMPLETE

import json


def _tenant_with_budget(tmp_path: Path, examples: int, seed: int) -> Path:
    from tests.conftest import tenant_variant

    return tenant_variant(tmp_path, replace={"[probing]\nexamples = 5": f"[probing]\nexamples = {examples}\nseed = {seed}"})


def test_probe_finds_and_shrinks_a_500(sandbox_run, tmp_path: Path) -> None:
    tenant = _tenant_with_budget(tmp_path, 30, 20261123)
    run = sandbox_run("fhir-500-on-malformed:Encounter", tenant=tenant,
                      pytest_args=["-m", "probing", "-k", "Encounter or Practitioner"])
    assert run.exit_code == 1
    probe = run.check("probe.search[Encounter.Search (Patient Chart) (R4)]")
    assert probe["outcome"] == "failed" and probe["category"] == "tenant-fault"
    assert "HTTP 500 for a malformed query" in probe["message"] and "seed" in probe["message"]
    assert "curl -H 'Accept: application/fhir+json'" in probe["message"]
    assert '-H "Authorization: Bearer $TOKEN"' in probe["message"]  # double quotes: the shell expands $TOKEN
    assert "Bearer ey" not in probe["message"]
    assert run.check("probe.search[Practitioner.Search (Organizational Directory) (R4)]")["outcome"] == "passed"


def test_correct_tenant_passes_and_reports_ignored_parameters(sandbox_run) -> None:
    run = sandbox_run(pytest_args=["-m", "probing", "-k", "Encounter"])
    assert run.exit_code == INCOMPLETE and not run.summary["gate_reasons"]  # a selection, nothing failed
    probe = run.check("probe.search[Encounter.Search (Patient Chart) (R4)]")
    assert probe["outcome"] == "passed"
    notes = probe["notes"]
    assert notes[0].startswith("hypothesis seed")
    assert any(n.startswith("5 example(s) sent of 5") for n in notes), notes
    ignored = [n for n in notes if n.startswith("ignored silently (200)")]
    assert ignored and "unknown parameter" in ignored[0], notes  # the sandbox, like Epic, ignores unknown ones


def test_production_is_never_probed(tmp_path: Path) -> None:
    from harness.config import parse_tenant
    import tomllib
    from tests.conftest import SANDBOX_TENANT

    data = tomllib.loads(SANDBOX_TENANT.read_text())
    data["environment"] = "production"
    data["probing"] = {"examples": 50}
    data["checks"].pop("allow_writes", None)  # refused in production
    tenant = parse_tenant(data, file=SANDBOX_TENANT)
    assert tenant.probing.examples == 0


capability = json.loads((DATA / "epic" / "r4-capabilitystatement-sandbox-may2026.json").read_text())


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data())
def test_generated_cases_keep_the_base_query_and_target_a_declared_parameter(data) -> None:
    params = search_parameters(capability, "Encounter")
    assert "date" in params and params["date"] == "date"
    case = data.draw(cases(params, {"patient": "p1"}))
    assert isinstance(case, ProbeCase) and ("patient", "p1") in case.params or case.target == "patient"
    if case.kind != "unknown-parameter":
        assert case.target in params
    assert "Authorization" in curl("https://x/api/FHIR/R4/Encounter", case)


def test_find_windows_and_unknown_names_never_get_a_500(sandbox_run) -> None:
    clean = sandbox_run(pytest_args=["-m", "probing", "-k", "find_probe"])
    assert clean.exit_code == INCOMPLETE and not clean.summary["gate_reasons"]
    ids = sorted(clean.outcomes())
    assert ids == sorted(f"probe.find[Appointment.$find (STU3), {case}]" for case in
                         ("end-before-start", "zero-length", "two-years", "unknown-visit-type", "unknown-provider"))
    broken = sandbox_run("fhir-html-500:Appointment", pytest_args=["-m", "probing", "-k", "find_probe"])
    assert broken.exit_code == 1
    probes = [c for c in broken.summary["checks"] if c["check_id"] == "probe.find"]
    assert len(probes) == 5 and all(c["outcome"] == "failed" and "HTTP 500" in c["message"] for c in probes)
