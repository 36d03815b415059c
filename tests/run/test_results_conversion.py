"""The results' dicts (summary.json's rows) and their requirements coverage: what dataclasses.asdict gave,
and the coverage computed once, yet never stale."""

from __future__ import annotations

import dataclasses
from collections import namedtuple
from enum import Enum

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.requirements import compute_coverage, to_dict
from harness.run.outcome import GateState, Outcome
from harness.run.results import ApiRow, CheckResult, Gate, RunResults

Point = namedtuple("Point", "x y")


class Colour(str, Enum):
    RED = "red"


@dataclasses.dataclass
class Finding:
    rule: str
    where: tuple[str, ...]
    extra: dict = dataclasses.field(default_factory=dict)


def _check(**changes) -> CheckResult:
    fields = dict(id="auth.token.refuses[aud]", check_id="auth.token.refuses", title="refuses", why="why",
                  source="SMART", source_url=None, severity="critical", area="Authorization", outcome=Outcome.PASSED,
                  message="", param="aud", requirements=("smart-bs@1",))
    return CheckResult(**{**fields, **changes})


def _reference(check: CheckResult) -> dict:
    """What CheckResult.as_dict returned when it was built on dataclasses.asdict."""
    out = dataclasses.asdict(check)
    out["outcome"] = check.outcome.value
    out["requirements"] = list(check.requirements)
    return out


def test_a_row_with_nested_data_is_the_dict_asdict_made() -> None:
    data = {"sds": [{"step": "a", "verdict": "ok"}], "finding": Finding("ref-1", ("a", "b"), {"n": [1, 2.5]}),
            "point": Point(1, [2]), "colour": Colour.RED, "tuple": (1, ("x", None)), 3: {True: None}}
    check = _check(warnings=["w"], notes=["n1", "n2"], data=data, outcome=Outcome.WARNING)
    got = check.as_dict()
    assert got == _reference(check)
    assert list(got) == list(_reference(check))  # the key order summary.json is written in
    assert got["data"]["finding"] == {"rule": "ref-1", "where": ("a", "b"), "extra": {"n": [1, 2.5]}}
    assert type(got["data"]["point"]) is Point and got["data"]["colour"] is Colour.RED


def test_a_row_is_a_copy_not_a_view_of_the_result() -> None:
    check = _check(warnings=["w"], data={"rows": [{"a": 1}], "set": {"x"}})
    got = check.as_dict()
    got["warnings"].append("changed")
    got["data"]["rows"][0]["a"] = 2
    got["data"]["set"].add("y")  # a value JSON has no type for is deep-copied, as asdict did
    assert check.warnings == ["w"] and check.data == {"rows": [{"a": 1}], "set": {"x"}}


def test_an_api_row_is_the_dict_asdict_made() -> None:
    row = ApiRow(name="Patient.Read (R4)", group="Patients", version="R4", declared=True, granted=None,
                 exercised=Outcome.FAILED, detail={"declared": "listed"}, not_verified="failed")
    expected = dataclasses.asdict(row)
    expected["exercised"] = "failed"
    assert row.as_dict() == expected and list(row.as_dict()) == list(expected)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(max_size=4), json_values, max_size=4),
       warnings=st.lists(st.text(max_size=4), max_size=3))
def test_any_data_gives_the_dict_asdict_made(data: dict, warnings: list) -> None:
    check = _check(data=data, warnings=warnings)
    assert check.as_dict() == _reference(check)


def _results(checks: list[CheckResult]) -> RunResults:
    return RunResults(tenant="t", environment="non-production", base_url="https://x.example/", harness_version="0",
                      started="", finished="", software_version=None, fhir_versions=["R4"], requested_set="s",
                      checks=checks, apis=[], gate=Gate(GateState.INCOMPLETE, []))


def test_the_coverage_is_computed_once_and_again_when_an_outcome_changes() -> None:
    checks = [_check(check_id="auth.token.issued", id="auth.token.issued", param=None, outcome=Outcome.FAILED),
              _check(outcome=Outcome.SKIPPED)]
    results = _results(checks)
    first = results.requirements()
    assert results.requirements() is first  # every report asks; one computation serves them all
    assert to_dict(first) == to_dict(compute_coverage(checks))
    checks[0].outcome = Outcome.PASSED  # a result changed after a report asked: the coverage follows it
    again = results.requirements()
    assert again is not first and to_dict(again) == to_dict(compute_coverage(checks))
    assert to_dict(again) != to_dict(first)
    results.checks.append(_check(id="auth.token.refuses[exp]", param="exp", outcome=Outcome.PASSED))
    assert to_dict(results.requirements()) == to_dict(compute_coverage(results.checks))


def test_summary_json_carries_the_coverage_of_its_own_checks() -> None:
    checks = [_check(check_id="auth.token.issued", id="auth.token.issued", param=None, outcome=Outcome.PASSED)]
    results = _results(checks)
    assert results.as_dict()["requirements"] == to_dict(compute_coverage(checks))
    assert dataclasses.replace(results, checks=[]).as_dict()["requirements"] == to_dict(compute_coverage([]))
