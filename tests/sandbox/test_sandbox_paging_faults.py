"""Paging faults and settings: where next links lead, what Bundle.total counts, how big pages are."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from sandbox_helpers import TestClient, bearer, get_token, sandbox_client

from harness.sandbox import FaultError, default_settings
from harness.sandbox.population import MAIN_PATIENT

R4 = "/api/FHIR/R4"
ENCOUNTERS = 26  # Camila's


def _client(*faults: str) -> tuple[TestClient, dict[str, str]]:
    client = sandbox_client(faults)
    return client, bearer(get_token(client)["access_token"])


def _links(bundle: dict) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle["link"]}


def _ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def _walk(client: TestClient, headers: dict[str, str], first: dict) -> list[dict]:
    pages = [first]
    while "next" in _links(pages[-1]) and len(pages) < 20:
        response = client.get(_links(pages[-1])["next"], headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def test_standard_paging_totals_every_match_and_repeats_the_query() -> None:
    client, headers = _client("fhir-standard-paging")
    first = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10"}, headers=headers).json()
    next_url = _links(first)["next"]
    assert "sessionID" not in next_url
    assert dict(parse_qsl(urlsplit(next_url).query)) == {"patient": MAIN_PATIENT, "_count": "10",
                                                          "_getpagesoffset": "10"}
    pages = _walk(client, headers, first)
    assert [p["total"] for p in pages] == [ENCOUNTERS] * 3
    ids = [i for p in pages for i in _ids(p)]
    assert len(ids) == len(set(ids)) == ENCOUNTERS
    assert [len(_ids(p)) for p in pages] == [10, 10, 6]


def test_standard_paging_of_one_type_leaves_the_others_to_epic_paging() -> None:
    client, headers = _client("fhir-standard-paging:Encounter")
    encounters = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "5"}, headers=headers).json()
    assert encounters["total"] == ENCOUNTERS and "_getpagesoffset" in _links(encounters)["next"]
    practitioners = client.get(f"{R4}/Practitioner", params={"_count": "5", "active": "true"}, headers=headers).json()
    assert practitioners["total"] == 5 and "sessionID=" in _links(practitioners)["next"]


def test_epic_paging_is_the_default_and_ignores_getpagesoffset() -> None:
    client, headers = _client()
    first = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10"}, headers=headers).json()
    assert first["total"] == 10 and "sessionID=" in _links(first)["next"]
    offset = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10", "_getpagesoffset": "10"},
                        headers=headers).json()
    assert _ids(offset) == _ids(first)


def test_next_links_on_another_origin() -> None:
    client, headers = _client("fhir-next-origin:Encounter=https://elsewhere.example:8443")
    first = client.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "_count": "10"}, headers=headers).json()
    next_url = _links(first)["next"]
    assert next_url.startswith("https://elsewhere.example:8443/api/FHIR/R4/Encounter?sessionID=")
    assert _links(first)["self"].startswith("http://testserver/")
    followed = client.get(urlsplit(next_url)._replace(scheme="", netloc="").geturl(), headers=headers).json()
    assert len(_ids(followed)) == 10  # the session is real: only the origin is foreign
    practitioners = client.get(f"{R4}/Practitioner", params={"_count": "5", "active": "true"}, headers=headers).json()
    assert _links(practitioners)["next"].startswith("http://testserver/")


@pytest.mark.parametrize("fault", ["fhir-next-origin:Encounter=ftp://x.example", "fhir-next-origin:Encounter=https://x/p",
                                   "fhir-large-pages:Encounter=3", "fhir-large-pages:Encounter=0x5"])
def test_bad_arguments_are_refused(fault: str) -> None:
    with pytest.raises(FaultError):
        default_settings([fault])


def test_large_pages_have_the_pages_and_size_asked_for() -> None:
    client, headers = _client("fhir-large-pages:Flag=3x1")
    first = client.get(f"{R4}/Flag", params={"patient": MAIN_PATIENT}, headers=headers)
    pages = [first.json()]
    sizes = [len(first.content)]
    while "next" in _links(pages[-1]):
        response = client.get(_links(pages[-1])["next"], headers=headers)
        pages.append(response.json())
        sizes.append(len(response.content))
    assert len(pages) == 3
    assert all(1_000_000 <= size <= 1_100_000 for size in sizes), sizes
    assert len(_ids(pages[0])) == 4  # Camila's flags, then padding
    padding = [e for e in pages[1]["entry"] if e["search"]["mode"] == "include"]
    assert padding and all(e["resource"]["resourceType"] == "Basic" for e in padding)
    normal, normal_headers = _client()
    plain = normal.get(f"{R4}/Flag", params={"patient": MAIN_PATIENT}, headers=normal_headers)
    assert len(plain.content) < 20_000 and "next" not in _links(plain.json())
