"""junit.xml written from the run's results: the check's id, title, why, source and warnings as properties,
its outcome as CI tools read it (failures fail, broken checks error, blocked/inconclusive/skipped skip)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.escape import plain
from harness.run.outcome import Outcome
from harness.run.results import RunResults


DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n"


def build(results: RunResults) -> ET.Element:
    """The ``testsuite`` element of the run."""
    escaped: dict[str, str] = {}  # the checks repeat their titles, sources and reasons: each escaped once

    def _prop(parent: ET.Element, name: str, value: object) -> None:
        text = escaped.get(value) if type(value) is str else None
        if text is None:
            text = plain(value)
            if type(value) is str:
                escaped[value] = text
        ET.SubElement(parent, "property", {"name": name, "value": text})

    counts = results.counts()
    suite = ET.Element("testsuite", {
        "name": f"epic-harness {plain(results.tenant)}",
        "tests": str(len(results.checks)),
        "failures": str(counts[Outcome.FAILED.value]),
        "errors": str(counts[Outcome.BROKEN.value]),
        "skipped": str(counts[Outcome.SKIPPED.value] + counts[Outcome.BLOCKED.value]
                       + counts[Outcome.INCONCLUSIVE.value]),
        "time": f"{sum(c.duration_s for c in results.checks):.3f}",
        "timestamp": results.started,
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("gate", results.gate.state.value), ("tenant", results.base_url),
                        ("environment", results.environment), ("epic_version", results.software_version or "unknown"),
                        ("verified_apis", f"{results.verified_apis}/{len(results.apis)}")):
        _prop(props, name, value)
    for c in results.checks:
        case = ET.SubElement(suite, "testcase", {"classname": f"{c.check_group or 'check'}.{c.check_id}",
                                                 "name": plain(c.api or c.param or c.title),
                                                 "time": f"{c.duration_s:.3f}"})
        p = ET.SubElement(case, "properties")
        for name, value in (("check_id", c.check_id), ("result_id", c.id), ("title", c.title), ("why", c.why),
                            ("source", c.source), ("source_url", c.source_url or ""), ("outcome", c.outcome.value),
                            ("severity", c.severity)):
            _prop(p, name, value)
        if c.category:
            _prop(p, "who_must_act", c.category)
        if c.blocked_by:
            _prop(p, "blocked_by", c.blocked_by)
        for r in c.requirements:
            _prop(p, "requirement", r)
        for w in c.warnings:
            _prop(p, "warning", w)
        element = c.outcome.junit
        if element:
            attrs = {"message": plain(c.message)[:2000]}
            if element != "skipped":
                attrs["type"] = c.category or c.outcome.value
            else:
                attrs["type"] = c.outcome.value
            node = ET.SubElement(case, element, attrs)
            node.text = plain(c.message, single_line=False)
    return suite


def render(results: RunResults) -> bytes:
    """junit.xml's bytes: what ``ET.tostring(build(results), encoding="utf-8", xml_declaration=True)`` writes,
    serialized as text and encoded once (ElementTree's byte writer encodes each of its thousands of pieces
    on its own)."""
    text = ET.tostring(build(results), encoding="unicode")
    return (DECLARATION + text).encode("utf-8", "xmlcharrefreplace")


def write_junit(results: RunResults, path: Path) -> None:
    path.write_bytes(render(results))
