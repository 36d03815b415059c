"""The hand-written invariants agree with HL7's own FHIRPath expressions, evaluated by fhirpathpy.

The harness does not evaluate FHIRPath while validating (a compiled expression costs ~17 µs per
resource and invariant in fhirpathpy, more than the whole validation of a resource; see
bench/validation_bench.py). Here fhirpathpy is the oracle: on valid resources and on the seeded
invariant mutants, each resource-level invariant the harness checks is reported exactly when
the specification's expression (shipped in schemas/r4/structure.json.gz) is false.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from harness.fhir.validation import structure_rules, validator_for

from fhir_corpus import epic_r4, sandbox_r4, synthea, us_core_examples
from fhir_mutants import INVARIANTS

fhirpathpy = pytest.importorskip("fhirpathpy")
from fhirpathpy.models import models  # noqa: E402

#: Invariants whose context is the resource itself, by the resource type they apply to.
RESOURCE_LEVEL = {
    "obs-6": "Observation", "obs-7": "Observation", "con-4": "Condition", "con-5": "Condition",
    "lst-1": "List", "lst-2": "List", "lst-3": "List", "ait-1": "AllergyIntolerance",
    "ait-2": "AllergyIntolerance", "app-2": "Appointment", "app-3": "Appointment", "org-1": "Organization",
    "bdl-1": "Bundle", "bdl-2": "Bundle", "bdl-3": "Bundle", "bdl-4": "Bundle", "bdl-9": "Bundle",
    "bdl-11": "Bundle", "bdl-12": "Bundle",  # bdl-10 uses hasValue(), which fhirpathpy lacks
}


@pytest.fixture(scope="module")
def expressions() -> dict[str, Any]:
    rules = structure_rules("R4")
    assert rules is not None
    model = models["r4"]
    return {key: fhirpathpy.compile(rules.invariants[key]["expression"], model) for key in RESOURCE_LEVEL}


def _holds(compiled: Any, resource: dict[str, Any]) -> bool:
    result = compiled(resource, {"resource": resource, "rootResource": resource})
    assert result in ([True], [False]), result
    return result == [True]


def _samples() -> list[tuple[str, dict[str, Any]]]:
    """Valid resources of the types concerned, and mutants of them breaking one invariant."""
    v = validator_for("R4")
    wanted = set(RESOURCE_LEVEL.values())
    valid = [(n, r) for n, r in [*epic_r4(), *sandbox_r4(), *us_core_examples(), *synthea()]
             if r["resourceType"] in wanted]
    rules = structure_rules("R4")
    rng = random.Random(11)
    out = list(valid)
    clean = [(n, r) for n, r in valid if not v.validate(r)]
    for key, mutate in INVARIANTS.items():
        pool = [b for b in clean if RESOURCE_LEVEL.get(key) == b[1]["resourceType"]]
        for name, base in pool[:6]:
            resource = copy.deepcopy(base)
            if mutate(resource, rng, rules) is not None:
                out.append((f"{key} mutant of {name}", resource))
    return out


def test_the_harness_reports_an_invariant_exactly_when_its_expression_is_false(expressions: dict[str, Any]) -> None:
    v = validator_for("R4")
    checked: dict[str, list[int]] = {key: [0, 0] for key in RESOURCE_LEVEL}
    disagreements: list[str] = []
    for name, resource in _samples():
        reported = {i.rule for i in v.validate(resource, warnings=True)}
        for key, resource_type in RESOURCE_LEVEL.items():
            if resource["resourceType"] != resource_type:
                continue
            holds = _holds(expressions[key], resource)
            checked[key][0 if holds else 1] += 1
            if holds == (key in reported):
                disagreements.append(f"{key} on {name}: expression {'holds' if holds else 'fails'}, "
                                     f"harness {'reports' if key in reported else 'is silent'}")
    assert not disagreements, "\n".join(disagreements[:20])
    # the comparison saw both outcomes for the invariants the mutants break
    for key in ("obs-6", "obs-7", "con-4", "con-5", "lst-1", "lst-2", "lst-3", "ait-1", "app-2", "org-1",
                "bdl-1", "bdl-2", "bdl-3"):
        assert checked[key][0] and checked[key][1], (key, checked[key])
