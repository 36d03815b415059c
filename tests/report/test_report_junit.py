"""junit.xml as CI tools read it: the harness's counts, each check's id, title, why, source, who must act and
warnings as properties, failures failing, broken checks erroring, the unverified skipped, tenant text plain."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.report.junit import render
from tests.report.sample import PATIENT, sample_results


def _suite() -> ET.Element:
    return ET.fromstring(render(sample_results()))


def _case(suite: ET.Element, result_id: str) -> tuple[ET.Element, dict[str, list[str]]]:
    for case in suite.iter("testcase"):
        props: dict[str, list[str]] = {}
        for p in case.iter("property"):
            props.setdefault(p.get("name", ""), []).append(p.get("value", ""))
        if props["result_id"] == [result_id]:
            return case, props
    raise AssertionError(f"no testcase for {result_id}")


def test_the_counts_are_the_harnesss() -> None:
    results = sample_results()
    suite = ET.fromstring(render(results))
    counts = results.counts()
    assert suite.get("tests") == str(len(results.checks)) == str(len(suite.findall("testcase")))
    assert suite.get("failures") == str(counts["failed"]) == str(len(suite.findall("testcase/failure")))
    assert suite.get("errors") == str(counts["broken"]) == str(len(suite.findall("testcase/error")))
    unverified = counts["blocked"] + counts["skipped"] + counts["inconclusive"]
    assert suite.get("skipped") == str(unverified) == str(len(suite.findall("testcase/skipped")))
    run = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert run == {"gate": "failed", "tenant": results.base_url, "environment": "non-production",
                   "epic_version": "May 2026", "verified_apis": "30/43"}


def test_each_testcase_carries_the_check_it_is() -> None:
    case, props = _case(_suite(), "coverage.declared[Practitioner.Read (Organizational Directory) (R4)]")
    assert case.get("classname") == "coverage.coverage.declared"
    assert case.get("name") == "Practitioner.Read (Organizational Directory) (R4)"
    assert props["check_id"] == ["coverage.declared"] and props["title"] == ["The API is declared"]
    assert props["why"] == ["an API the app needs must be offered by the tenant's CapabilityStatement"]
    assert props["source"] == ["FHIR R4 CapabilityStatement"] and props["outcome"] == ["failed"]
    assert props["who_must_act"] == ["tenant-configuration"] and props["requirement"] == ["fhir-capabilities@1"]
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "tenant-configuration"
    assert failure.get("message") == "Practitioner is not in the R4 CapabilityStatement"
    probe, props = _case(_suite(), "auth.token.refuses[aud]")
    assert probe.get("name") == "aud" and probe.find("failure") is None and probe.find("skipped") is None
    assert props["source_url"] == ["https://hl7.org/fhir/smart-app-launch/backend-services.html"]


def test_a_warning_passes_with_its_warnings_as_properties() -> None:
    case, props = _case(_suite(), "discovery.smart-configuration.signing-algorithms")
    assert list(case) == [case.find("properties")]  # no failure, error or skipped element: it passed
    assert props["outcome"] == ["warning"]
    assert props["warning"] == ["token_endpoint_auth_signing_alg_values_supported is missing (RECOMMENDED)"]


def test_broken_errors_and_the_unverified_skip_saying_why() -> None:
    suite = _suite()
    broken, _ = _case(suite, "exercise.search[Patient.Search (Demographics) (R4)]")
    assert broken.find("error").get("type") == "harness-error"
    blocked, props = _case(suite, "exercise.paging.0[Patient.Search (Demographics) (R4)]")
    assert blocked.find("skipped").get("type") == "blocked"
    assert props["blocked_by"] == ["exercise.search[Patient.Search (Demographics) (R4)]"]
    inconclusive, _ = _case(suite, f"data.us-core[{PATIENT}]")
    assert inconclusive.find("skipped").get("type") == "inconclusive"
    assert inconclusive.find("skipped").get("message") == "throttled (HTTP 429) every time"


def test_tenant_text_is_plain_in_attributes_and_kept_in_lines_in_the_body() -> None:
    data = render(sample_results())
    assert b"\x1b" not in data and "\u202e".encode() not in data
    case, _ = _case(ET.fromstring(data), f"exercise.read[{PATIENT}]")
    failure = case.find("failure")
    message = failure.get("message")
    assert "\n" not in message and message.startswith('said "no" <script>alert(1)</script> here [bold red]markup[/] evil')
    assert failure.text.splitlines()[1:] == ["## Injected heading", "| cell | x"]
    suite = ET.fromstring(data)
    assert suite.get("name") == "epic-harness St. Elsewhere <b>Health</b> | # *x* Gate=passed"
