"""scheduling.find and scheduling.book (suites/test_scheduling.py) judged in process: on the correct sandbox
every SDS step is done and a found slot books, reads back and cannot be booked twice; each undone step is
named alone and fails for the customer's Epic team to act; no open slots is a warning, not the tenant's fault;
a tenant booking a slot twice fails; without scheduling test data nothing is sent. Also the diagnosis rules
themselves (harness.scheduling.diagnose)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.scheduling import FindResult, VisitType, diagnose

from tests.support.checks import judge, sandbox_app, sandbox_tenant, tenant_state
from tests.support.front import Front, Headers

FIND = "Appointment.$find (STU3)"
BOOK = "Appointment.$book (STU3)"


def steps(judged: Any) -> dict[str, str]:
    return {s["step"][0]: s["verdict"] for s in judged.result.data["sds"]}


def test_every_step_is_done_and_a_found_slot_books_on_the_correct_sandbox() -> None:
    with tenant_state() as state:
        find = judge(state, "scheduling.find", api=FIND)
        book = judge(state, "scheduling.book", api=BOOK)
    assert find.outcome == "passed" and steps(find) == {"1": "done", "2": "done", "3": "done"}, find
    assert book.outcome == "passed" and "second $book was refused" in book.result.notes[0], book


@pytest.mark.parametrize(("fault", "undone"), [("sds-undone:provider-rules", "1"), ("sds-undone:visit-types", "2")])
def test_each_undone_step_is_named_alone_for_the_customer(fault: str, undone: str) -> None:
    with tenant_state(fault) as state:
        find = judge(state, "scheduling.find", api=FIND)
    assert find.outcome == "failed" and f"step {undone} not done" in find.message, find
    assert [k for k, v in steps(find).items() if v == "not done"] == [undone]
    assert find.result.category == "tenant-configuration"


def test_no_open_slots_is_a_warning_not_the_tenants_fault() -> None:
    with tenant_state("sds-no-open-slots") as state:
        find = judge(state, "scheduling.find", api=FIND)
    assert find.outcome == "warning" and "no open slots" in find.message, find


def test_a_tenant_that_books_a_slot_twice_fails() -> None:
    booked: list[bytes] = []

    def rewrite(scope: dict[str, Any], status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        if not scope["path"].endswith("/Appointment/$book"):
            return status, headers, body
        if status < 400:
            booked.append(body)
        elif booked:  # the slot is taken: this tenant books it again anyway
            return 200, [(b"content-type", b"application/fhir+json")], booked[0]
        return status, headers, body

    with tenant_state(app=Front(sandbox_app(), rewrite)) as state:
        book = judge(state, "scheduling.book", api=BOOK)
    assert book.outcome == "failed" and "booked twice" in book.message and book.result.category == "tenant-fault"


def test_without_scheduling_test_data_nothing_is_sent() -> None:
    with tenant_state(tenant=sandbox_tenant(test_data={"scheduling": None})) as state:
        find = judge(state, "scheduling.find", api=FIND)
        book = judge(state, "scheduling.book", api=BOOK)
        sent = [e.url for e in state.client.log if "$find" in e.url or "$book" in e.url]
    assert find.outcome == book.outcome == "skipped" and "[test_data.scheduling]" in find.message and sent == []


def test_the_diagnosis_names_the_step_each_set_of_answers_shows_undone() -> None:
    vt = VisitType("urn:oid:1.2.840.114350.1.13.0.1.7.3.808267.11", "1004")
    ok = FindResult(appointments=[{"id": "a"}])
    tree = FindResult(codes=[("59200", "decision tree")])
    empty = FindResult(codes=[("4101", "no results")])
    assert [s.verdict for s in diagnose({vt: ok}, {(vt, "p"): ok}, "non-production")] == ["done", "done", "done"]
    assert [s.verdict for s in diagnose({vt: tree}, {}, "non-production")][:2] == ["cannot tell", "not done"]
    assert diagnose({vt: ok}, {(vt, "p"): tree}, "non-production")[0].verdict == "not done"
    assert "no open slots" in diagnose({vt: ok}, {(vt, "p"): empty}, "non-production")[0].evidence
    assert diagnose({vt: ok}, {(vt, "p"): ok}, "production")[2].verdict == "not done"
    others = FindResult(appointments=[{"id": "b"}], problems=["Appointment b is not with the provider asked for (p)"])
    step1 = diagnose({vt: ok}, {(vt, "p"): others}, "non-production")[0]
    assert step1.verdict == "not done" and "other providers' slots" in step1.evidence
