"""Over real HTTP: the fault-free sandbox answers searches as FHIR R4 says (the reference the
harness's search-semantics checks are judged against), and each search fault breaks exactly the
type it names.

Expectations are computed by hand from the population: Camila (the main patient) has 26
encounters five weeks apart from 2024-01-08, each 15:00Z-15:40Z, the last one (2026-06-01) planned
with no end; encounter ``n`` is of class IMP when ``n % 5 == 3`` and EMER when ``n % 5 == 4``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_helpers import served

from harness.sandbox.population import MAIN_PATIENT

R4 = "/api/FHIR/R4"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ENCOUNTER_ID_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.3.698084.8"
FIRST_ENCOUNTER_DAY = "2024-01-08"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with served() as (_, client):
        yield client


def _pages(http: httpx.Client, path: str, params: dict[str, str] | list[tuple[str, str]] | None = None,
           *, post: bool = False) -> list[dict[str, Any]]:
    """Every page of a search (GET, or POST _search with a form body), following next links."""
    if post:
        response = http.post(f"{R4}/{path}/_search", data=params)
    else:
        response = http.get(f"{R4}/{path}", params=params)
    assert response.status_code == 200, response.text
    pages = [response.json()]
    while (following := next((l["url"] for l in pages[-1]["link"] if l["relation"] == "next"), None)):
        assert len(pages) < 50, "a next link that never ends"
        response = http.get(following)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def ids(http: httpx.Client, path: str, params: Any = None, *, post: bool = False) -> list[str]:
    return [e["resource"]["id"] for page in _pages(http, path, params, post=post) for e in page.get("entry", ())
            if e.get("search", {}).get("mode") == "match"]


def encounters(http: httpx.Client, **params: str) -> list[dict[str, Any]]:
    found = [e["resource"] for page in _pages(http, "Encounter", {"patient": MAIN_PATIENT, **params})
             for e in page.get("entry", ()) if e.get("search", {}).get("mode") == "match"]
    assert all(r["subject"]["reference"] == f"Patient/{MAIN_PATIENT}" for r in found)
    return found


def days(found: list[dict[str, Any]]) -> list[str]:
    return sorted(r["period"]["start"][:10] for r in found)


# --- dates: precision ranges, prefixes, time zones, Periods -----------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-01-08", 1),  # a day contains the 40-minute visit
    ("eq2024-01", 1),  # a month
    ("2024", 11),  # a year: January 8 to December 23
    ("ne2024", 15),
    ("ge2026-01-01", 5),  # four finished visits and the planned one (open end: ongoing)
    ("gt2026-04-27", 1),  # only the planned one reaches beyond 2026-04-27
    ("ge2026-04-27", 2),  # ... or lies within it
    ("lt2024-02-12", 1),
    ("le2024-02-12", 2),
    ("sa2026-04-27", 1),  # starts after the day ends
    ("eb2024-02-12", 1),  # ends before the day starts
    ("eq2026-06-01", 0),  # the planned visit has no end: no day contains it
    ("ge2026-06-01", 1),
    ("ge2024-01-08T15:39:59Z", 26),  # the first visit still reaches past 15:39:59
    ("gt2024-01-08T15:39:59Z", 26),
    ("ge2024-01-08T15:40:00Z", 25),  # its end, 15:40:00, is a second-long range: it reaches no further
    ("lt2024-01-08T15:00:00Z", 0),  # nothing starts before the first visit's start
    ("lt2024-01-08T15:00:01Z", 1),
    ("le2024-01-08T15:00:00Z", 0),  # a second-long range contains no 40-minute visit
    ("2024-01-08T15:20:00Z", 0),
    ("lt2024-01-08T17:00:01+02:00", 1),  # 15:00:01Z
    ("lt2024-01-08T17:00:00+02:00", 0),  # 15:00:00Z
    ("ge2024-01-08T10:00:00", 26),  # no zone: the sandbox's local time, UTC
    ("ge2024-01-08T10:00:00-09:00", 25),  # 19:00Z, after the first visit ended
    ("ge2024-01-08T15:20", 26),  # minute precision
    ("lt2024-01-08T15:00:00.500Z", 1),  # fractions of a second
    ("ge2024-01-08T15:30:00Z,eq2024-02-12", 26),  # OR: either value
])
def test_encounter_dates(http, value, expected) -> None:
    found = encounters(http, date=value)
    assert len(found) == expected, (value, days(found))


def test_repeated_dates_are_and_ed(http) -> None:
    assert days(encounters_by(http, [("date", "ge2025-01-01"), ("date", "lt2025-02-01")])) == ["2025-01-27"]


def encounters_by(http: httpx.Client, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [e["resource"] for page in _pages(http, "Encounter", [("patient", MAIN_PATIENT), *pairs])
            for e in page.get("entry", ()) if e.get("search", {}).get("mode") == "match"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"birthdate": "1987"}, 2),  # Camila and her twin Mateo
    ({"birthdate": "1987-09"}, 2),
    ({"birthdate": "le1954-02-17"}, 2),  # Theodore (that day) and Roland (1943)
    ({"birthdate": "lt1954-02-17"}, 1),
    ({"birthdate": "gt2010"}, 1),  # Jonah, 2015
    ({"birthdate": "ge2001-01-30T00:00:00Z"}, 2),  # Priya's day reaches beyond its first second
])
def test_date_only_values_are_whole_days(http, params, expected) -> None:
    assert len(ids(http, "Patient", params)) == expected, params


def test_an_instant_and_a_day_in_other_types(http) -> None:
    assert len(ids(http, "Appointment", {"patient": MAIN_PATIENT, "date": "ge2026-05-11T09:00:00Z"})) == 2
    assert len(ids(http, "Communication", {"subject": f"Patient/{MAIN_PATIENT}", "sent": "2026-03-02"})) == 1
    assert len(ids(http, "Condition", {"patient": MAIN_PATIENT, "onset-date": "le2024-02-12"})) == 2


# --- tokens, identifiers, categories, OR lists, modifiers -------------------------------------


@pytest.mark.parametrize(("params", "expected"), [
    ({"class": f"{ACT}|IMP"}, 5),
    ({"class": "IMP"}, 5),
    ({"class": "|IMP"}, 0),  # the class has a system
    ({"class": f"{ACT}|"}, 26),  # any code of the system
    ({"class": "http://example.org/other|IMP"}, 0),
    ({"class": "IMP,EMER"}, 10),
    ({"class:not": "AMB"}, 10),
    ({"identifier": f"{ENCOUNTER_ID_SYSTEM}|27000"}, 1),
    ({"identifier": "27000"}, 1),
    ({"identifier": f"{ENCOUNTER_ID_SYSTEM}|27000,{ENCOUNTER_ID_SYSTEM}|27001"}, 2),
    ({"identifier": "urn:oid:1.2.3|27000"}, 0),
    ({"status": "planned"}, 1),
    ({"status": "planned,finished"}, 26),
])
def test_encounter_tokens(http, params, expected) -> None:
    assert len(encounters(http, **params)) == expected, params


@pytest.mark.parametrize(("path", "params", "expected"), [
    ("Condition", {"code": "http://snomed.info/sct|25064002"}, 4),  # Camila, and patients 2, 7 and 12
    ("Condition", {"code": "http://snomed.info/sct|25064002", "patient": MAIN_PATIENT}, 1),
    ("Condition", {"patient": MAIN_PATIENT, "category": "reason-for-visit"}, 5),
    ("Condition", {"patient": MAIN_PATIENT,
                   "category": "http://open.epic.com/FHIR/StructureDefinition/condition-category|reason-for-visit"}, 5),
    ("Condition", {"patient": MAIN_PATIENT, "category": "problem-list-item"}, 0),
    ("Appointment", {"patient": MAIN_PATIENT, "service-category": "surgery,appointment"}, 4),
    ("Patient", {"email": "patient01@mail.harness.example"}, 1),
    ("Patient", {"phone": "patient01@mail.harness.example"}, 0),  # phone looks at phone numbers only
    ("Patient", {"telecom": "email|patient01@mail.harness.example"}, 1),
    ("Patient", {"family": "Lopez", "death-date:missing": "true"}, 2),
    ("Patient", {"family": "Lopez", "death-date:missing": "false"}, 0),
    ("Patient", {"family": "Lopez", "legal-sex": "female"}, 1),
    ("Communication", {"subject:Patient": MAIN_PATIENT}, 3),
    ("Communication", {"subject:Group": MAIN_PATIENT}, 0),
    ("Coverage", {"patient": f"Patient/{MAIN_PATIENT}"}, 2),
    ("Coverage", {"patient": f"https://elsewhere.example/fhir/Patient/{MAIN_PATIENT}"}, 2),
    ("Coverage", {"patient": "Practitioner/" + MAIN_PATIENT}, 0),
])
def test_other_parameters(http, path, params, expected) -> None:
    assert len(ids(http, path, params)) == expected, (path, params)


def test_a_missing_value_that_is_no_boolean_is_refused(http) -> None:
    answer = http.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT, "status:missing": "maybe"})
    assert answer.status_code == 400
    assert answer.json()["issue"][0]["details"]["coding"][0]["code"] == "4100"


# --- _count and POST _search ------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 7, 10, 26, 30])
def test_count_bounds_every_page(http, count) -> None:
    pages = _pages(http, "Encounter", {"patient": MAIN_PATIENT, "_count": str(count)})
    sizes = [len(p["entry"]) for p in pages]
    assert all(size <= count for size in sizes) and sum(sizes) == 26, sizes
    assert len(pages) == -(-26 // count)
    assert len({e["resource"]["id"] for p in pages for e in p["entry"]}) == 26


@pytest.mark.parametrize(("path", "params"), [
    ("Encounter", {"patient": MAIN_PATIENT, "_count": "10"}),
    ("Encounter", {"patient": MAIN_PATIENT, "date": "ge2024-01-08T17:00:00+02:00", "class": "IMP,EMER"}),
    ("Condition", {"patient": MAIN_PATIENT, "category": "reason-for-visit"}),
    ("Coverage", {"patient": MAIN_PATIENT}),
    ("Patient", {"family": "Lopez", "birthdate": "1987-09-12"}),
])
def test_post_search_answers_the_ids_of_get(http, path, params) -> None:
    got = ids(http, path, params)
    assert got and ids(http, path, params, post=True) == got


# --- faults -----------------------------------------------------------------------------------


def test_ignore_patient_answers_every_patients_resources_of_that_type_only() -> None:
    with served("fhir-ignore-patient:Encounter") as (_, http):
        answer = http.get(f"{R4}/Encounter", params={"patient": MAIN_PATIENT})
        found = [e["resource"] for p in _pages(http, "Encounter", {"patient": MAIN_PATIENT}) for e in p["entry"]]
        assert len(found) == 48 and len({r["subject"]["reference"] for r in found}) == 12
        self_link = next(l["url"] for l in answer.json()["link"] if l["relation"] == "self")
        assert f"patient={MAIN_PATIENT}" in self_link
        assert len(encounters_by_status(http, "planned")) == 1  # other parameters still apply
        assert len(ids(http, "Condition", {"patient": MAIN_PATIENT})) == 5  # another type is untouched


def encounters_by_status(http: httpx.Client, status: str) -> list[str]:
    return ids(http, "Encounter", {"subject": f"Patient/{MAIN_PATIENT}", "status": status})


def test_wrong_patient_is_kept_and_differs_from_ignoring() -> None:
    with served("fhir-wrong-patient:Encounter") as (_, http):
        found = ids(http, "Encounter", {"patient": MAIN_PATIENT})
        assert len(found) == 2  # the next patient's two visits


def test_ignore_param_drops_only_the_parameter_named() -> None:
    with served("fhir-ignore-param:Encounter=status") as (_, http):
        assert len(ids(http, "Encounter", {"patient": MAIN_PATIENT, "status": "planned"})) == 26
        assert len(ids(http, "Encounter", {"patient": MAIN_PATIENT, "class": "IMP"})) == 5
        assert len(ids(http, "Appointment", {"patient": MAIN_PATIENT, "status": "fulfilled"})) == 1


def test_date_prefix_ignored_reads_every_prefix_as_eq() -> None:
    with served("fhir-date-prefix-ignored:Encounter") as (_, http):
        assert len(ids(http, "Encounter", {"patient": MAIN_PATIENT, "date": "ge2026-01-01"})) == 0
        assert len(ids(http, "Encounter", {"patient": MAIN_PATIENT, "date": "le2024-02-12"})) == 1  # eq that day
        assert len(ids(http, "Encounter", {"patient": MAIN_PATIENT, "date": "2024"})) == 11  # eq itself is right
        assert len(ids(http, "Appointment", {"patient": MAIN_PATIENT, "date": "ge2026-05-11T09:00:00Z"})) == 2


def test_post_search_differs_leaves_the_last_match_out_of_post_only() -> None:
    with served("fhir-post-search-differs:Coverage") as (_, http):
        got = ids(http, "Coverage", {"patient": MAIN_PATIENT})
        posted = ids(http, "Coverage", {"patient": MAIN_PATIENT}, post=True)
        assert len(got) == 2 and posted == got[:1]
        params = {"patient": MAIN_PATIENT, "category": "reason-for-visit"}
        assert ids(http, "Condition", params, post=True) == ids(http, "Condition", params)


def test_ignore_count_answers_one_big_page_for_that_type_only() -> None:
    with served("fhir-ignore-count:Encounter") as (_, http):
        pages = _pages(http, "Encounter", {"patient": MAIN_PATIENT, "_count": "10"})
        assert [len(p["entry"]) for p in pages] == [26]
        appointments = _pages(http, "Appointment", {"patient": MAIN_PATIENT, "_count": "2"})
        assert [len(p["entry"]) for p in appointments] == [2, 2]


def test_search_faults_are_refused_with_a_bad_argument() -> None:
    from harness.sandbox import FaultError, default_settings

    with pytest.raises(FaultError, match="did you mean status"):
        default_settings(["fhir-ignore-param:Encounter=statuss"])
    with pytest.raises(FaultError, match="not a resource type"):
        default_settings(["fhir-ignore-patient:Encountr"])
