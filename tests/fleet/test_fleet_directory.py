"""Reading Epic's real endpoint directories: every quirk survived, the README's counts exactly."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness.fleet.address import parse_address
from harness.fleet.directory import (
    DirectoryError,
    distinct_targets,
    load_directory,
    parse_directory,
    parse_instant,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "fleet"
R4 = DATA / "epic_open_endpoints_r4_2026-04-27.json"
DSTU2 = DATA / "epic_open_endpoints_dstu2_2026-04-27.json"
NPD = DATA / "the-map_epic_r4_endpoints_npd_augmented_2026-05-12.json"


@pytest.fixture(scope="module")
def r4():
    directory = load_directory(R4)
    return directory, distinct_targets(directory)


def test_r4_directory_481_entries_451_distinct_addresses(r4):
    directory, targets = r4
    assert directory.format == "bundle"
    assert len(directory.entries) == 481
    assert directory.skipped == []
    assert len(targets) == 451
    assert not any(t.address.malformed for t in targets)
    assert sum(t.entries for t in targets) == 481


def test_r4_seven_digit_timestamp_is_read(r4):
    directory, _ = r4
    assert directory.timestamp_raw == "2026-04-27T16:09:30.6610798-05:00"
    assert directory.timestamp == datetime(2026, 4, 27, 16, 9, 30, 661079, tzinfo=timezone(timedelta(hours=-5)))


def test_r4_shared_addresses_keep_every_organisation(r4):
    _, targets = r4
    shared = [t for t in targets if t.entries > 1]
    assert len(shared) == 10
    assert sum(t.entries for t in shared) == 40
    et4001 = next(t for t in targets if t.address.url == "https://epicproxy.et4001.epichosted.com/FHIRProxy/api/FHIR/R4")
    assert et4001.entries == 16
    assert len({o.name for o in et4001.organizations}) == 16
    bronson = next(t for t in targets if "hygieia.bronsonhg.org" in t.key)
    assert bronson.entries == 7


def test_r4_contained_organisation_found_by_bare_reference(r4):
    directory, _ = r4
    first = directory.entries[0]
    assert first.organization.name == "Waco Family Medicine (Heart of Texas Community Health Center)"
    assert first.organization.id == "RhoTxOoxMilOn79VYwU6di1wsxxWqzYwks/Wx8dgCM0="
    assert first.organization.endpoint_id == "adb565c7-0c38-ec11-9155-001dd8b71f19"
    raw = json.loads(R4.read_text("utf-8"))
    # Every entry's contained id is base64 (not a FHIR id) and the reference has no '#'.
    assert all(e["resource"]["managingOrganization"]["reference"] == e["resource"]["contained"][0]["id"]
               for e in raw["entry"])
    assert all(e.organization.id and e.organization.name for e in directory.entries)


def test_r4_non_ascii_names_survive(r4):
    directory, _ = r4
    names = {e.organization.name for e in directory.entries}
    assert "Kaiser Permanente – Georgia" in names
    assert "Cook Children’s Health Care System" in names


def test_r4_addresses_normalised_but_path_case_kept(r4):
    _, targets = r4
    kp = next(t for t in targets if "fhir.kp.org" in t.key)
    # host lower-cased, path exactly as listed, no trailing slash
    assert kp.address.url.startswith("https://fhir.kp.org/service/ptnt_care/EpicEdiFhirRoutingSvc/")
    assert not kp.address.url.endswith("/")
    lower_case_fhir = [t for t in targets if "/api/fhir/" in t.address.url.lower() and "/api/FHIR/" not in t.address.url]
    assert len(lower_case_fhir) == 4
    assert all(t.address.url.lower() == t.key for t in targets)
    host_only = [t for t in targets if t.address.url.split("/", 3)[3] == "api/FHIR/R4"]
    assert len(host_only) == 1
    assert Counter(t.address.release for t in targets) == {"R4": 451}


def test_dstu2_directory_without_period_on_some_entries():
    directory = load_directory(DSTU2)
    assert len(directory.entries) == 490
    assert sum(1 for e in directory.entries if e.period_start is None) == 46
    targets = distinct_targets(directory)
    assert not any(t.address.malformed for t in targets)
    assert {t.address.release for t in targets} == {"DSTU2"}


def test_npd_augmented_list_reports_67_malformed_addresses_without_crashing():
    directory = load_directory(NPD)
    assert len(directory.entries) == 739
    npd = [e for e in directory.entries if e.organization.source == "npd-2026-05-07"]
    assert len(npd) == 258
    assert all(e.organization.id is None for e in npd)  # no contained, no managingOrganization
    malformed_npd = [e for e in npd if parse_address(e.address).malformed]
    assert len(malformed_npd) == 67
    targets = distinct_targets(directory)
    malformed = [t for t in targets if t.address.malformed]
    assert len(malformed) == 67  # all 67 are distinct addresses
    assert all(t.address.problem for t in malformed)
    raws = {t.address.raw for t in malformed}
    for example in ("https://epicproxy-pub.et1089.epichosted.com/FHIRProxy?api/FHIR/DSTU2/",
                    "https://epicproxy-pub.et1089.epichosted.com/FHIRProxy/api.FHIR/R4/",
                    "https://epicoxy.et0764.epichosted.com/FHIRProxy/api/FHIR/Rpr4/",
                    "https://epicproxy.et0927.epichosted.com/FHIRProxy/api/FH/IR/R4/",
                    "https://epicproxy-pub.et1089.epichosted.com/FHIRProxy/api/FHIR/DSYU2/",
                    "https://fhir.epic.com"):
        assert example in raws
    # the 481 directory entries are still 451 tenants inside the augmented list
    directory_keys = {parse_address(e.address).key for e in directory.entries if e.organization.source == "directory"}
    assert len(directory_keys) == 451


def test_npd_names_missing_or_placeholder_fall_back_to_the_address():
    directory = load_directory(NPD)
    targets = distinct_targets(directory)
    nameless = [t for t in targets if all(o.name in (None, "FHIR URL") for o in t.organizations)]
    assert nameless
    assert all(t.name == (t.address.url or t.address.raw) for t in nameless)


def test_text_list_with_names_comments_and_duplicates():
    text = """# FHIR bases, one a line
https://Epic.Example.org/FHIRProxy/api/FHIR/R4/   Example Health
https://epic.example.org/fhirproxy/api/fhir/r4    Example Clinic

https://epic.example.org/FHIRProxy/api/FHIR/STU3
not a url at all
"""
    directory = parse_directory(text, "list.txt")
    assert directory.format == "text"
    targets = distinct_targets(directory)
    assert [t.entries for t in targets] == [2, 1, 1]
    first = targets[0]
    assert first.address.url == "https://epic.example.org/FHIRProxy/api/FHIR/R4"  # first spelling requested
    assert [o.name for o in first.organizations] == ["Example Health", "Example Clinic"]
    assert first.addresses == ("https://Epic.Example.org/FHIRProxy/api/FHIR/R4/",
                               "https://epic.example.org/fhirproxy/api/fhir/r4")
    assert targets[1].address.release == "STU3"
    assert targets[2].address.malformed and targets[2].address.raw == "not"


def test_json_list_and_brands_bundle():
    listing = parse_directory(json.dumps(["https://a.example.org/api/FHIR/R4",
                                          {"address": "https://b.example.org/x/api/FHIR/R4/", "name": "B"}]))
    assert listing.format == "json-list"
    assert [t.name for t in distinct_targets(listing)] == ["https://a.example.org/api/FHIR/R4", "B"]
    brands = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:org-1", "resource": {"resourceType": "Organization", "name": "Brand One",
                                                   "endpoint": [{"reference": "urn:uuid:ep-1"}]}},
        {"fullUrl": "urn:uuid:ep-1", "resource": {"resourceType": "Endpoint", "name": "ep",
                                                  "address": "https://one.example.org/FHIR/api/FHIR/R4/"}},
        {"fullUrl": "urn:uuid:x", "resource": {"resourceType": "Location"}},
    ]}
    directory = parse_directory(json.dumps(brands))
    assert directory.format == "brands-bundle"
    assert [e.organization.name for e in directory.entries] == ["Brand One"]
    assert directory.skipped == ["entry 2: a 'Location', not an Endpoint"]


def test_endpoint_without_address_is_a_malformed_row():
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Endpoint", "name": "X"}}, {}]}
    directory = parse_directory(json.dumps(bundle))
    targets = distinct_targets(directory)
    assert len(targets) == 1 and targets[0].address.malformed
    assert directory.skipped == ["entry 1: no resource"]


@pytest.mark.parametrize("content, message", [
    (None, "no such endpoint file"),
    ("{not json", "not valid JSON"),
    ('{"resourceType": "Patient"}', "must be a FHIR Bundle"),
    ("\n# only a comment\n", "lists no endpoints"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_unreadable_endpoint_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "endpoints.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, "utf-8")
    with pytest.raises(DirectoryError, match=message):
        load_directory(path)


def test_a_folder_is_not_an_endpoint_file(tmp_path):
    with pytest.raises(DirectoryError, match="is a directory"):
        load_directory(tmp_path)


@pytest.mark.parametrize("text, expected", [
    ("2026-04-27T16:09:30.6610798-05:00", datetime(2026, 4, 27, 16, 9, 30, 661079,
                                                    tzinfo=timezone(timedelta(hours=-5)))),
    ("2026-05-12T20:33:46Z", datetime(2026, 5, 12, 20, 33, 46, tzinfo=timezone.utc)),
    ("2024-11-08", datetime(2024, 11, 8)),
    ("yesterday", None),
    (None, None),
])
def test_parse_instant(text, expected):
    assert parse_instant(text) == expected
