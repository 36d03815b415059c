"""exercise.search (suites/test_exercise.py) judged in process on the sandbox made to answer as Epic does in two
situations the harness once misjudged: a 59204 for a context withheld (a failure only for the context the API
asks), and Epic's per-page Bundle.total (a quirk of Epic's, not reported for a tenant paging the standard way)."""

from __future__ import annotations

from tests.support.checks import judge, results_of, tenant_state

ENCOUNTER = "Encounter.Search (Patient Chart) (R4)"


def test_59204_for_a_context_the_app_did_not_request_is_a_note_not_a_failure() -> None:
    with tenant_state("fhir-suppressed-context:Encounter=Outside Record") as state:
        search = judge(state, "exercise.search", api=ENCOUNTER)
        results = results_of(state)
    assert search.outcome in ("passed", "warning"), search
    assert any("Outside Record, a context the app does not request" in n for n in search.result.notes)
    assert results.gate.state.value != "failed" and not results.gate.reasons


def test_59204_for_the_context_the_api_asks_fails_it() -> None:
    with tenant_state("fhir-suppressed-context:Encounter=Patient Chart") as state:
        search = judge(state, "exercise.search", api=ENCOUNTER)
        results = results_of(state)
    assert search.outcome == "failed" and "(Patient Chart) context of Encounter is withheld" in search.message
    assert search.result.category == "tenant-configuration"
    row = next(r for r in results.apis if r.name == ENCOUNTER)
    assert row.granted is False and "59204" in row.detail["granted"]  # the scope says yes, the answer no
    assert results.gate.exit_code == 1


def test_epic_per_page_total_is_a_quirk_a_tenant_paging_the_standard_way_does_not_get() -> None:
    with tenant_state() as state:
        epic = judge(state, "exercise.search", api=ENCOUNTER)
    assert epic.outcome == "warning" and any("Bundle.total" in w for w in epic.warnings)
    with tenant_state("fhir-standard-paging") as state:
        standard = judge(state, "exercise.search", api=ENCOUNTER)
    assert standard.outcome == "passed" and not any("Bundle.total" in w for w in standard.warnings), standard
