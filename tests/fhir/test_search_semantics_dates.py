"""FHIR R4 date search semantics: implicit ranges, Period, prefixes, time zones, and what a client cannot know."""

from __future__ import annotations

import pytest

from harness.fhir.search_dates import DateRange, certainly, parse_date, possibly, search_value, target_ranges
from harness.fhir.search_matching import Criterion, parse_token, split_or
from harness.fhir.search_parameters import r4_table

SECOND = 1_000_000


def span(text: str) -> float:
    found = parse_date(text)
    assert found is not None
    return (found.high - found.low) / SECOND


def test_a_value_is_the_range_of_its_precision() -> None:
    assert span("2024") == 366 * 86400 and span("2023-02") == 28 * 86400 and span("2024-01-08") == 86400
    assert span("2024-01-08T15:00") == 60 and span("2024-01-08T15:00:00Z") == 1
    assert span("2024-01-08T15:00:00.5Z") == 0.1 and span("2024-01-08T15:00:00.123Z") == 0.001
    utc, east = parse_date("2024-01-08T15:00:00Z"), parse_date("2024-01-08T17:00:00+02:00")
    assert utc == east and utc.zoned and not parse_date("2024-01-08").zoned
    for bad in ("2024-02-30", "2024-13", "24-01-01", "2024-01-08T25:00Z", "today", ""):
        assert parse_date(bad) is None, bad
    assert search_value("2024-01-08").prefix == "eq" and search_value("ge2024").text == "2024"
    assert search_value("gt-not-a-date") is None


def readings(kind: str, data) -> list[DateRange]:
    return target_ranges(kind, data)


@pytest.mark.parametrize(("query", "certain", "possible"), [
    ("eq2024-01-08T15:00:00Z", True, True),
    ("ge2024-01-08T15:00:00Z", True, True),
    ("le2024-01-08T15:00:00Z", True, True),
    ("gt2024-01-08T15:00:00Z", False, False),
    ("lt2024-01-08T15:00:00Z", False, False),
    ("gt2024-01-08T14:59:59Z", True, True),
    ("lt2024-01-08T15:00:01Z", True, True),
])
def test_prefixes_on_an_instant(query: str, certain: bool, possible: bool) -> None:
    target = readings("instant", "2024-01-08T15:00:00Z")
    search = search_value(query)
    assert (certainly(search, target), possibly(search, target)) == (certain, possible)


def test_a_period_is_its_whole_range_and_an_open_one_has_two_readings() -> None:
    closed = readings("Period", {"start": "2024-01-08T15:00:00Z", "end": "2024-01-08T16:00:00Z"})
    assert certainly(search_value("ge2024-01-08T15:30:00Z"), closed)  # it lasts beyond the value
    assert not possibly(search_value("lt2024-01-08T15:00:00Z"), closed)
    assert possibly(search_value("eq2024-01-08T15:30:00Z"), closed)  # overlap: how many servers read eq
    assert not certainly(search_value("eq2024-01-08T15:30:00Z"), closed)  # R4: eq needs S to contain T
    assert certainly(search_value("eq2024-01"), closed) and not certainly(search_value("eq2024-01-08"), closed)
    ongoing = readings("Period", {"start": "2024-01-08T15:00:00Z"})
    assert len(ongoing) == 2
    assert possibly(search_value("gt2025-01-01T00:00:00Z"), ongoing)  # FHIR: still going on
    assert not certainly(search_value("gt2025-01-01T00:00:00Z"), ongoing)  # a server may read it as its start
    assert certainly(search_value("ge2024-01-08T15:00:00Z"), ongoing)
    assert readings("Period", {}) == [] and readings("string", "not a date") == []


def test_a_date_without_a_zone_may_be_any_local_time() -> None:
    late = readings("instant", "2024-01-08T23:30:00Z")
    assert possibly(search_value("eq2024-01-08"), late) and possibly(search_value("eq2024-01-09"), late)
    assert not certainly(search_value("eq2024-01-08"), late)  # in UTC+1 it is already the 9th
    assert not possibly(search_value("eq2024-01-10"), late)
    assert certainly(search_value("ge2024-01-07"), late) and not possibly(search_value("lt2024-01-07"), late)
    birth = readings("date", "1987-09-12")  # both without a zone: the same local time, no slack
    assert certainly(search_value("eq1987-09-12"), birth) and not possibly(search_value("gt1987-09-12"), birth)
    assert certainly(search_value("lt1987-09-13"), birth) and not possibly(search_value("le1987-09-11"), birth)


def test_criteria_read_the_parameter_by_its_definition() -> None:
    table = r4_table()
    appointment = {"resourceType": "Appointment", "id": "a1", "start": "2024-01-08T15:00:00Z",
                   "serviceCategory": [{"coding": [{"system": "http://x", "code": "Surgery"}]}],
                   "participant": [{"actor": {"reference": "Location/l1"}}, {"actor": {"reference": "Patient/p1"}}]}
    date = table.get("Appointment", "date")
    assert Criterion(date, "ge2024-01-08").possible(appointment)
    assert Criterion(date, "lt2024-01-01,gt2024-01-08T14:00:00Z").certain(appointment)  # an OR list
    category = table.get("Appointment", "service-category")
    assert Criterion(category, "http://x|Surgery").certain(appointment)
    assert Criterion(category, "surgery").possible(appointment) and not Criterion(category, "surgery").certain(appointment)
    assert not Criterion(category, "http://y|Surgery").possible(appointment)
    assert Criterion(category, "Surgery").certain(appointment) and not Criterion(category, "|Surgery").certain(appointment)
    patient = table.get("Appointment", "patient")
    assert Criterion(patient, "p1").certain(appointment) and Criterion(patient, "Patient/p1").certain(appointment)
    assert not Criterion(patient, "l1").possible(appointment)  # Location/l1 is no Patient
    practitioner = table.get("Practitioner", "name")
    doctor = {"resourceType": "Practitioner", "id": "d1", "name": [{"family": "Núñez", "given": ["Ana María"]}]}
    assert Criterion(practitioner, "nunez").possible(doctor) and Criterion(practitioner, "mar").possible(doctor)
    assert Criterion(practitioner, "nunez").certain(doctor) is None  # string matching is the server's own
    assert not Criterion(practitioner, "smith").possible(doctor)
    assert Criterion(table.get("Encounter", "length"), "5").possible({"resourceType": "Encounter"}) is None


def test_token_and_or_list_syntax() -> None:
    assert split_or("a,b\\,c") == ["a", "b,c"] and split_or("") == []
    assert parse_token("http://x|a").system == "http://x" and parse_token("|a").system == ""
    assert parse_token("a").system is None and parse_token("http://x|").code is None
