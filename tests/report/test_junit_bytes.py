"""junit.xml is written as ElementTree's own UTF-8 writer writes the run's testsuite, byte for byte, whatever
the tenant's text holds (quotes, markup, line breaks, control characters, non-ASCII, a lone surrogate)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report.junit import build, render
from harness.run.outcome import GateState, Outcome
from harness.run.results import CheckResult, Gate, RunResults

HOSTILE = st.text(alphabet=st.sampled_from(list("a &<>\"'\n\r\t]]>é😀\x1b\x85\u2028\ud800")), max_size=16)


def _results(messages: list[str], title: str) -> RunResults:
    outcomes = list(Outcome)
    checks = [CheckResult(id=f"c[{i}]", check_id="c", title=title, why=title, source="s", source_url=None,
                          severity="normal", area="Auth", outcome=outcomes[i % len(outcomes)], message=message,
                          category="tenant-fault" if i % 2 else None, warnings=[message], requirements=("r@1",),
                          duration_s=0.25)
              for i, message in enumerate(messages)]
    return RunResults(tenant=title, environment="non-production", base_url="https://x.example/", harness_version="0",
                      started="2026-01-01T00:00:00+00:00", finished="", software_version=None, fhir_versions=[],
                      requested_set="s", checks=checks, apis=[], gate=Gate(GateState.INCOMPLETE, []))


@settings(max_examples=150, deadline=None)
@given(messages=st.lists(HOSTILE, max_size=6), title=HOSTILE)
def test_the_bytes_are_elementtrees(messages: list[str], title: str) -> None:
    results = _results(messages, title)
    assert render(results) == ET.tostring(build(results), encoding="utf-8", xml_declaration=True)


def test_a_run_reads_back_with_its_properties() -> None:
    results = _results(['said "no" & <left>', "plain"], "title é")
    suite = ET.fromstring(render(results))
    assert suite.get("tests") == "2" and suite.get("name") == "epic-harness title é"
    case = suite.findall("testcase")[0]
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["warning"] == 'said "no" & <left>' and props["title"] == "title é"
    assert case.find("failure").get("message") == 'said "no" & <left>'
