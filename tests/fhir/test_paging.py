"""The search follower against hostile pages: loops, duplicates, lost pages, HTML, Epic's outcome entries and total."""

from __future__ import annotations

import json

import httpx
import pytest

from harness.client import TenantClient
from harness.config import load_tenant
from harness.errors import TenantError
from harness.fhir.paging import follow_search
from harness.fhir.responses import expect_fhir
from tests.conftest import DATA, SANDBOX_TENANT

BASE = "https://epic.example.org/interconnect/api/FHIR/R4"


def bundle(ids: list[str], next_url: str | None = None, total: int | None = None, outcomes: list[dict] = ()) -> dict:
    entries = [{"fullUrl": f"{BASE}/Practitioner/{i}", "resource": {"resourceType": "Practitioner", "id": i},
                "search": {"mode": "match"}} for i in ids]
    entries += [{"resource": o, "search": {"mode": "outcome"}} for o in outcomes]
    links = [{"relation": "self", "url": f"{BASE}/Practitioner"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "total": len(ids) if total is None else total,
            "link": links, "entry": entries}


def client_for(pages: dict[str, httpx.Response]) -> tuple[TenantClient, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.url.params.get("sessionID", "first")
        seen.append(key)
        return pages[key]

    tenant = load_tenant(SANDBOX_TENANT, base_url="https://epic.example.org/interconnect")
    client = TenantClient(tenant, transport=httpx.MockTransport(handler))
    client.use_tokens(lambda: "token-0000000000", lambda: None)
    return client, seen


def fhir(body: dict, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"Content-Type": "application/fhir+json; charset=utf-8"})


def test_follows_opaque_next_links_and_reports_epics_total() -> None:
    client, seen = client_for({
        "first": fhir(bundle(["a", "b"], f"{BASE}/Practitioner?sessionID=16-AB1")),
        "16-AB1": fhir(bundle(["c", "d"], f"{BASE}/Practitioner?sessionID=16-AB2")),
        "16-AB2": fhir(bundle(["e"])),
    })
    result = follow_search(client, f"{BASE}/Practitioner", params={"name": "x"}, resource_type="Practitioner")
    assert seen == ["first", "16-AB1", "16-AB2"]
    assert result.ids == ["a", "b", "c", "d", "e"] and result.pages == 3 and not result.problems
    assert any("counts the page" in q for q in result.quirks)


def test_loop_duplicates_and_missing_page_are_problems_not_hangs() -> None:
    client, _ = client_for({"first": fhir(bundle(["a"], f"{BASE}/Practitioner?sessionID=1")),
                            "1": fhir(bundle(["a"], f"{BASE}/Practitioner?sessionID=1"))})
    result = follow_search(client, f"{BASE}/Practitioner", resource_type="Practitioner")
    assert any("more than one page" in p for p in result.problems) and any("loop" in p for p in result.problems)
    gone = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
            "details": {"coding": [{"code": "4113", "display": "Session ID for cached search results has expired"}]}}]}
    client, _ = client_for({"first": fhir(bundle(["a"], f"{BASE}/Practitioner?sessionID=9")), "9": fhir(gone, 400)})
    result = follow_search(client, f"{BASE}/Practitioner", resource_type="Practitioner")
    assert result.ids == ["a"] and "4113" in result.problems[0]


def test_page_cap_stops_an_endless_tenant() -> None:
    pages = {"first": fhir(bundle(["p0"], f"{BASE}/Practitioner?sessionID=1"))}
    pages.update({str(i): fhir(bundle([f"p{i}"], f"{BASE}/Practitioner?sessionID={i + 1}")) for i in range(1, 50)})
    client, seen = client_for(pages)
    result = follow_search(client, f"{BASE}/Practitioner", max_pages=5)
    assert result.pages == 5 and len(seen) == 5 and result.truncated


def test_epic_outcome_entries_are_read() -> None:
    body = json.loads((DATA / "epic" / "mh-allergyintolerance.json").read_text())["body"]
    client, _ = client_for({"first": fhir(body)})
    result = follow_search(client, f"{BASE}/AllergyIntolerance", resource_type="AllergyIntolerance")
    assert "59204" in {c for c, _ in result.outcomes}


def test_html_error_page_is_a_tenant_fault_with_its_first_bytes() -> None:
    page = httpx.Response(500, text="<!DOCTYPE html><html><body>Server Error</body></html>",
                          headers={"Content-Type": "text/html"})
    with pytest.raises(TenantError) as raised:
        expect_fhir(page, "GET Practitioner")
    assert raised.value.category == "tenant-fault" and "HTTP 500" in str(raised.value)
    with pytest.raises(TenantError, match="not FHIR JSON"):
        expect_fhir(httpx.Response(200, text="<html/>", headers={"Content-Type": "text/html"}), "GET x")
    with pytest.raises(TenantError, match="not granted"):
        expect_fhir(httpx.Response(403), "GET x")
