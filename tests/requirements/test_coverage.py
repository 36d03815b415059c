"""Requirements coverage from synthetic results: statuses, reasons, totals, and the results it reads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.requirements import (
    CheckOutcome, CoverageInputError, as_outcome, closing_note, compute_coverage, load_catalogue,
)
from harness.requirements.catalogue import build_catalogue


def _source(key: str, title: str, rows: list[dict]) -> dict:
    return {"source": {"key": key, "title": title, "document": title, "version": "1", "url": "https://example.org/",
                       "licence": "CC0", "id_scheme": f"{key}@N"},
            "requirement": [{"url": "https://example.org/#s", "actor": "server", "topic": "t", **r} for r in rows]}


@pytest.fixture
def catalogue():
    spec = _source("spec", "Spec", [
        {"id": "spec@1", "verb": "SHALL", "text": "The server SHALL issue a token."},
        {"id": "spec@2", "verb": "SHALL", "text": "The server SHALL refuse a bad aud."},
        {"id": "spec@3", "verb": "SHALL", "text": "The server SHALL refuse an expired exp."},
        {"id": "spec@4", "verb": "SHOULD", "text": "The server SHOULD describe errors."},
        {"id": "spec@5", "verb": "SHALL", "text": "The server SHALL NOT cache too long.", "testable": False,
         "reason": "server-internal: JWKS caching"},
        {"id": "spec@6", "verb": "SHALL", "text": "The server SHALL do what no check looks at."},
    ])
    other = _source("other", "Other", [{"id": "other@1", "verb": "MAY", "text": "The server MAY page."}])
    mapping = {"checks": {
        "token.issued": {"requirements": ["spec@1"]},
        "token.refuses": {"requirements": ["spec@4"],
                          "params": {"aud": {"requirements": ["spec@2"]}, "exp": {"requirements": ["spec@3"]}}},
        "search": {"requirements": ["other@1"]},
    }}
    return build_catalogue({"spec.toml": spec, "other.toml": other}, mapping)


def statuses(coverage) -> dict[str, tuple[str, str | None]]:
    return {r.requirement.id: (r.status, r.reason) for r in coverage.rows}


def test_a_pass_verifies_a_failure_fails_and_the_rest_say_why_not(catalogue) -> None:
    coverage = compute_coverage([
        CheckOutcome("token.issued", None, "passed"),
        CheckOutcome("token.refuses", "aud", "failed"),
        CheckOutcome("token.refuses", "exp", "skipped"),
    ], catalogue)
    assert statuses(coverage) == {
        "spec@1": ("verified", None),
        "spec@2": ("failed", None),
        "spec@3": ("not-verified", "skipped"),
        "spec@4": ("failed", None),  # both probes bear on it, one failed
        "spec@5": ("not-verified", "untestable"),
        "spec@6": ("not-verified", "no check"),
        "other@1": ("not-verified", "not run"),
    }
    aud = coverage.row("spec@2")
    assert [(v.check_id, v.param, v.outcome) for v in aud.verifications] == [("token.refuses", "aud", "failed")]


def test_one_failure_among_passes_fails_the_requirement(catalogue) -> None:
    coverage = compute_coverage([CheckOutcome("search", "A", "passed"), CheckOutcome("search", "B", "failed"),
                                 CheckOutcome("search", "C", "warning")], catalogue)
    assert coverage.row("other@1").status == "failed"


def test_a_warning_verifies_and_is_flagged(catalogue) -> None:
    coverage = compute_coverage([CheckOutcome("token.issued", None, "warning")], catalogue)
    row = coverage.row("spec@1")
    assert (row.status, row.warned) == ("verified", True)


@pytest.mark.parametrize("outcomes, reason", [
    (["skipped"], "skipped"),
    (["skipped", "inconclusive"], "inconclusive"),
    (["inconclusive", "blocked", "skipped"], "blocked"),
    (["blocked", "broken"], "broken"),
])
def test_without_a_verdict_the_most_telling_reason_is_given(catalogue, outcomes, reason) -> None:
    coverage = compute_coverage([CheckOutcome("search", str(i), o) for i, o in enumerate(outcomes)], catalogue)
    assert statuses(coverage)["other@1"] == ("not-verified", reason)


def test_a_verdict_beats_checks_that_gave_none(catalogue) -> None:
    coverage = compute_coverage([CheckOutcome("search", "A", "broken"), CheckOutcome("search", "B", "passed")],
                                catalogue)
    assert coverage.row("other@1").status == "verified"


def test_an_untestable_requirement_stays_untestable_whatever_runs(catalogue) -> None:
    coverage = compute_coverage([CheckOutcome(c, p, "passed") for c, p in
                                 [("token.issued", None), ("token.refuses", "aud"), ("search", None)]], catalogue)
    assert statuses(coverage)["spec@5"] == ("not-verified", "untestable")


def test_totals_per_source_and_verb(catalogue) -> None:
    coverage = compute_coverage([
        CheckOutcome("token.issued", None, "passed"),
        CheckOutcome("token.refuses", "aud", "failed"),
        CheckOutcome("token.refuses", "exp", "passed"),
    ], catalogue)
    totals = {(t.source, t.verb): t for t in coverage.totals}
    shall = totals[("spec", "SHALL")]
    assert (shall.total, shall.testable, shall.verified, shall.failed, shall.not_verified, shall.untestable) == (5, 4, 2, 1, 1, 1)
    assert shall.summary() == "Spec: 2 of 4 SHALLs verified, 1 failed, 1 not verified (1 more not testable from outside)"
    should = totals[("spec", "SHOULD")]
    assert (should.verified, should.failed) == (0, 1)  # spec@4: one probe failed
    assert totals[("other", "MAY")].summary() == "Other: 0 of 1 MAYs verified, 1 not verified"
    assert [t.source for t in coverage.totals] == ["other", "spec", "spec"]  # file order, then verb order


def test_all_verified_reads_as_such(catalogue) -> None:
    coverage = compute_coverage([CheckOutcome("token.issued", None, "passed")], catalogue)
    assert next(t for t in coverage.totals if t.verb == "SHALL").summary().startswith("Spec: 1 of 4 SHALLs verified")


def test_it_reads_harness_results_and_summary_json_rows(catalogue) -> None:
    result = SimpleNamespace(id="token.refuses[aud]", check_id="token.refuses", api=None, outcome="failed")
    per_api = SimpleNamespace(id="search[Patient.Search (Demographics) (R4)]", check_id="search",
                              api="Patient.Search (Demographics) (R4)", outcome="passed")
    row = {"id": "token.refuses[exp]", "check_id": "token.refuses", "api": None, "outcome": "passed"}
    assert as_outcome(result) == CheckOutcome("token.refuses", "aud", "failed")
    assert as_outcome(per_api).param == "Patient.Search (Demographics) (R4)"
    probe = {"id": "probe.find[Appointment.$find (STU3), zero-length]", "check_id": "probe.find",
             "api": "Appointment.$find (STU3)", "outcome": "passed"}
    assert as_outcome(probe).param == "zero-length"
    coverage = compute_coverage([result, per_api, row], catalogue)
    assert statuses(coverage)["spec@2"] == ("failed", None)
    assert statuses(coverage)["spec@3"] == ("verified", None)
    assert statuses(coverage)["other@1"] == ("verified", None)


@pytest.mark.parametrize("bad, message", [
    (CheckOutcome("search", None, "green"), "outcome 'green' is not one of"),  # type: ignore[arg-type]
    ({"outcome": "passed"}, "has no check id"),
    (SimpleNamespace(check_id="", outcome="passed"), "has no check id"),
])
def test_a_result_it_cannot_read_is_one_clear_error(catalogue, bad, message) -> None:
    with pytest.raises(CoverageInputError, match=message):
        compute_coverage([bad], catalogue)


def test_the_closing_note_names_failures_and_reasons(catalogue) -> None:
    note = closing_note(compute_coverage([CheckOutcome("token.refuses", "aud", "failed")], catalogue))
    assert "7 requirements from 2 sources: 0 verified, 2 failed, 5 not verified." in note
    assert "Spec 1: 0 of 6 verified; failed: spec@2, spec@4." in note
    assert "Not verified (cannot be seen from outside the tenant): spec@5." in note
    assert "Not verified (no check verifies it yet): spec@6." in note
    assert "Not verified (its checks were not selected in this run): other@1, spec@1, spec@3." in note


def test_the_shipped_catalogue_on_a_run_where_the_token_endpoint_accepts_a_forged_aud() -> None:
    coverage = compute_coverage([
        CheckOutcome("auth.token.issued", None, "passed"),
        CheckOutcome("auth.token.refuses", "aud", "failed"),
        CheckOutcome("auth.token.refuses", "exp-expired", "passed"),
        CheckOutcome("auth.fhir.expired-token", None, "skipped"),
    ], load_catalogue())
    assert coverage.row("rfc7523@3-3").status == "failed"
    assert coverage.row("rfc7523@3-4b").status == "verified"
    assert coverage.row("hl7.fhir.uv.smart-app-launch_2.2.0@253").status == "verified"
    assert coverage.row("hl7.fhir.uv.smart-app-launch_2.2.0@341").reason == "untestable"
    backend = {t.verb: t for t in coverage.totals if t.source == "smart-backend-services"}
    assert backend["SHALL"].failed >= 1 and backend["SHALL"].verified >= 1
    assert backend["SHALL"].summary().startswith("SMART Backend Services: ")
