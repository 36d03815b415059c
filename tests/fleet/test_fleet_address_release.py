"""Address validation and normalisation; Epic releases from software.version."""

from __future__ import annotations

import pytest

from harness.fleet.address import interconnect_root, parse_address
from harness.fleet.release import Release, parse_release


@pytest.mark.parametrize("raw, url", [
    ("https://FHIR.KP.ORG/service/ptnt_care/EpicEdiFhirRoutingSvc/v2014/esb-envlbl/190/api/FHIR/R4/",
     "https://fhir.kp.org/service/ptnt_care/EpicEdiFhirRoutingSvc/v2014/esb-envlbl/190/api/FHIR/R4"),
    ("https://EpicIntprxyPRD.swmed.edu/FHIR/api/fhir/r4/", "https://epicintprxyprd.swmed.edu/FHIR/api/fhir/r4"),
    ("HTTPS://epic.example.org:443/api/FHIR/R4", "https://epic.example.org/api/FHIR/R4"),
    ("https://epic.example.org:8443/Interconnect-FHIR/api/FHIR/STU3", "https://epic.example.org:8443/Interconnect-FHIR/api/FHIR/STU3"),
    ("  https://epic.example.org/FHIRProxy/api/FHIR/DSTU2/  ", "https://epic.example.org/FHIRProxy/api/FHIR/DSTU2"),
    ("http://127.0.0.1:8765/t/x/api/FHIR/R4/", "http://127.0.0.1:8765/t/x/api/FHIR/R4"),
    ("http://[::1]:8765/api/FHIR/R4", "http://[::1]:8765/api/FHIR/R4"),
])
def test_normalised_url_keeps_path_case(raw, url):
    address = parse_address(raw)
    assert not address.malformed, address.problem
    assert address.url == url
    assert address.key == url[: url.index("/", 8)] + url[url.index("/", 8):].casefold()


def test_case_and_slash_variants_share_one_key():
    spellings = ["https://epicproxy.et1089.epichosted.com/FHIRProxy/api/FHIR/R4/",
                 "https://EPICPROXY.et1089.epichosted.com/FHIRproxy/api/FHIR/R4",
                 "https://epicproxy.et1089.epichosted.com/fhirproxy/api/fhir/r4/"]
    assert len({parse_address(s).key for s in spellings}) == 1
    assert len({parse_address(s).url for s in spellings}) == 3


@pytest.mark.parametrize("raw, problem", [
    ("https://epicproxy-pub.et1089.epichosted.com/FHIRProxy?api/FHIR/DSTU2/", "query string"),
    ("https://epicproxy-pub.et1089.epichosted.com/FHIRProxy/api.FHIR/R4/", "does not end with"),
    ("https://epicoxy.et0764.epichosted.com/FHIRProxy/api/FHIR/Rpr4/", "does not end with"),
    ("https://epicproxy-pub.et1089.epichosted.com/FHIRProxy/api/FHIR/R4//api/FHIR/DSTU2/", "empty segment"),
    ("https://epicproxy=pub.et1089.epichosted.com/ghirproxy/api/fhir/r4/", "not a valid host name"),
    ("https://fhir.epic.com", "does not end with"),
    ("http://epic.example.org/api/FHIR/R4", "plain http"),
    ("ftp://epic.example.org/api/FHIR/R4", "not an absolute https URL"),
    ("epic.example.org/api/FHIR/R4", "not an absolute https URL"),
    ("https://epic.example.org/api/FHIR/R4#frag", "fragment"),
    ("https://user@epic.example.org/api/FHIR/R4", "user information"),
    ("https://epic.example.org:99999/api/FHIR/R4", "not a URL"),
    ("https://epic example.org/api/FHIR/R4", "white space"),
    ("https://epic.example.org/a%zz/api/FHIR/R4", "characters a URL path may not"),
    ("https://epic.123/api/FHIR/R4", "numeric top-level"),
    ("https://epic/api/FHIR/R4", "fully qualified"),
    ("", "empty"),
    (None, "missing"),
])
def test_malformed_addresses_are_classified_not_raised(raw, problem):
    address = parse_address(raw)
    assert address.malformed
    assert problem in address.problem
    assert address.url is None and address.key is None


def test_valid_but_unusual_addresses_carry_notes():
    dotted = parse_address("https://epicproxy-pub.et1089.epichosted.com./FHIRProxy/api/FHIR/DSTU2/")
    assert not dotted.malformed and any("dot" in n for n in dotted.notes)
    encoded = parse_address("https://epicproxy.et0965.epichosted.com/%20FHIRProxy/api/FHIR/DSTU2/")
    assert not encoded.malformed and any("percent" in n for n in encoded.notes)
    lower = parse_address("https://x.example.org/fhirproxy/api/fhir/r4/")
    assert lower.release == "R4" and any("/api/fhir/r4" in n for n in lower.notes)


def test_interconnect_root():
    assert interconnect_root("https://x.example.org/FHIRProxy/api/FHIR/R4") == "https://x.example.org/FHIRProxy"


@pytest.mark.parametrize("version, expected", [
    ("May 2026", Release(2026, 5)),
    ("November 2025", Release(2025, 11)),
    ("February 2024", Release(2024, 2)),
    ("toukokuu 2022", Release(2022, 5)),  # Apotti, Finland
    ("Toukokuuta 2022", Release(2022, 5)),
    ("kesäkuu 2023", Release(2023, 6)),
    ("Epic November 2025", Release(2025, 11)),
    ("août 2024", Release(2024, 8)),
    ("Mei 2021", Release(2021, 5)),
    ("Sept. 2024", Release(2024, 9)),
    ("2022 toukokuu", Release(2022, 5)),
    ("Epic 2018", Release(2018, 0)),
    ("  august   2025 ", Release(2025, 8)),
    ("2026-02-09", None),
    ("May", None),
    ("Smarch 2025", None),
    ("", None),
    (None, None),
    (2025, None),
])
def test_parse_release(version, expected):
    assert parse_release(version) == expected


def test_releases_sort_by_year_then_month_and_label_in_english():
    versions = ["November 2025", "toukokuu 2022", "February 2026", "August 2025", "February 2024", "Epic 2018"]
    ordered = sorted(parse_release(v) for v in versions)
    assert [r.label for r in ordered] == ["2018", "May 2022", "February 2024", "August 2025", "November 2025",
                                          "February 2026"]
    assert parse_release("toukokuu 2022").as_list() == [2022, 5]
