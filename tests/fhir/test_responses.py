"""Judging one FHIR answer: who must act follows from the status and Epic's code, never from a guess."""

from __future__ import annotations

import httpx
import pytest

from harness.errors import TenantError
from harness.fhir.responses import expect_fhir, outcome_codes

NOT_FOUND_59008 = {"resourceType": "OperationOutcome", "issue": [{
    "severity": "fatal", "code": "not-found", "diagnostics": "Invalid FHIR ID provided", "location": ["/f:id"],
    "details": {"coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369", "code": "59008",
                            "display": "The FHIR ID provided was not found."}],
                "text": "The FHIR ID provided was not found."}}]}


def _response(status: int, body=None, ctype: str = "application/fhir+json") -> httpx.Response:  # type: ignore[no-untyped-def]
    if body is None:
        return httpx.Response(status, headers={"content-type": ctype})
    return httpx.Response(status, json=body, headers={"content-type": ctype})


def test_404_with_epic_59008_is_the_tenant_files_test_data() -> None:
    with pytest.raises(TenantError) as caught:
        expect_fhir(_response(404, NOT_FOUND_59008), "GET Patient/x")
    assert caught.value.category == "test-data" and "test_data" in str(caught.value)
    assert ("59008", "The FHIR ID provided was not found. (Invalid FHIR ID provided)") in outcome_codes(NOT_FOUND_59008)


def test_404_without_an_outcome_is_the_tenants_fault_not_test_data() -> None:
    with pytest.raises(TenantError) as caught:
        expect_fhir(_response(404, None, "text/html"), "GET Patient/x")
    assert caught.value.category == "tenant-fault"


@pytest.mark.parametrize(("status", "category"), [(401, "tenant-configuration"), (403, "tenant-configuration"),
                                                  (500, "tenant-fault"), (503, "tenant-fault")])
def test_status_decides_who_acts(status: int, category: str) -> None:
    with pytest.raises(TenantError) as caught:
        expect_fhir(_response(status, {"resourceType": "OperationOutcome", "issue": []}), "GET X")
    assert caught.value.category == category
