"""A sandbox population rich in patient data, and a search for its values in what a run wrote.

``enrich_store`` gives the sandbox's patient resources a narrative, notes and free-text answers made
of their own values and returns the values a scrubbed recording must not hold; ``written_values``
finds those that appear in a text as themselves.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Iterator

#: The resource types of the sandbox that carry patient data.
RICH_TYPES = ("Patient", "Coverage", "Condition", "DocumentReference", "QuestionnaireResponse", "RelatedPerson",
              "Encounter", "Communication", "EpisodeOfCare", "Flag", "List", "Consent", "ServiceRequest", "Task")
PHI_KEYS = {"family", "given", "line", "city", "postalCode", "district", "birthDate", "subscriberId", "data",
            "title", "authorString", "valueString", "valueDate"}


def _enriched(resource: dict[str, Any], index: int) -> dict[str, Any]:
    """The same resource with a narrative, a note and (for answers) free-text answers, made of its own values."""
    out = copy.deepcopy(resource)
    words = " ".join(v for v in strings(resource, PHI_KEYS | {"value"}) if len(v) > 3)[:400]
    out["text"] = {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{words}</div>'}
    if out["resourceType"] in ("Condition", "ServiceRequest", "Task", "Communication"):
        out["note"] = [{"authorString": f"Nurse Quillfeather{index}", "text": f"called back about {words[:80]}"}]
    if out["resourceType"] == "QuestionnaireResponse":
        out.setdefault("item", []).append({"linkId": "free-text", "answer": [
            {"valueString": f"feeling low since the move to Cedarbrook{index}"}, {"valueDate": f"2023-10-{index % 27 + 1:02d}"}]})
    return out


def strings(node: Any, keys: set[str], key: str | None = None, parent: str | None = None) -> Iterator[str]:
    """Every string under one of ``keys`` (``value`` only under telecom and identifier)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, keys, k, key)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v, keys, key, parent)
    elif isinstance(node, str) and (key in keys or (key == "value" and "value" in keys
                                                    and parent in ("telecom", "identifier"))):
        yield node


def enrich_store(store: Any) -> list[str]:
    """Put enriched copies of the patient resources in the sandbox's store; the patient values to look for."""
    values: set[str] = set()
    for resource_type in RICH_TYPES:
        for index, resource in enumerate(store.of_type("R4", resource_type)):
            enriched = store.put("R4", _enriched(resource, index))
            values |= {v for v in strings(enriched, PHI_KEYS | {"value"}) if len(v) >= 5}
    kept = json.dumps([r for t in ("Slot", "Schedule", "Questionnaire", "Practitioner", "Organization", "Location")
                       for r in store.of_type("R4", t) + store.of_type("STU3", t)])
    resources = [r for t in RICH_TYPES for r in store.of_type("R4", t)]
    ids = {r["id"] for r in resources}  # ids stay, by design: replay reads by them
    displays = set(strings(resources, {"display"}))  # a code's name is terminology, kept
    # nor is a value that a non-patient resource also shows (a clinic's city, a slot's date)
    return sorted(v for v in values if v not in kept and v not in ids and v not in displays
                  and not re.fullmatch(r"\d{4}(-01(-01)?)?", v))


def written_values(values: list[str], text: str) -> list[str]:
    """The values that appear in ``text`` as themselves, not inside a longer code or word."""
    # a plain substring test first: the bounded search only for values that are there at all
    return [v for v in values if v in text and re.search(rf"(?<![\w.-]){re.escape(v)}(?![\w.-])", text)]
