"""SMART scope grammar (v1, v2, qualified) and what granted scopes allow."""

from __future__ import annotations

import itertools
import string
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scopes import (
    GrantCheck,
    Grants,
    ResourceScope,
    ScopeSyntaxError,
    parse_scope,
)

DATA = Path(__file__).parent / "data" / "scopes"
EPIC = json.loads((DATA / "epic-backend-token-scope-2026-04-26.json").read_text(encoding="utf-8"))
EPIC_SCOPES: list[str] = EPIC["raw_scope"]

CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PROBLEM_LIST = f"{CONDITION_CATEGORY}|problem-list-item"
VITALS = f"{OBSERVATION_CATEGORY}|vital-signs"


@pytest.fixture(scope="module")
def epic() -> Grants:
    return Grants.parse(" ".join(EPIC_SCOPES))


# --- the real Epic backend grant ---------------------------------------------------------------


def test_epic_grant_parses_completely(epic: Grants) -> None:
    assert len(EPIC_SCOPES) == EPIC["scope_count"] == 151
    assert epic.malformed == ()
    assert epic.other == ()
    assert len(epic.scopes) == 151
    assert [s.raw for s in epic.scopes] == EPIC_SCOPES
    assert all(s.version == 2 and s.context == "system" for s in epic.scopes)
    assert epic.versions == frozenset({2})


def test_epic_grant_as_list_equals_as_string(epic: Grants) -> None:
    assert Grants.parse(EPIC_SCOPES) == epic


def test_epic_qualified_scope_keeps_token_value_verbatim() -> None:
    scope = parse_scope(f"system/Condition.s?category={PROBLEM_LIST}")
    assert scope == ResourceScope(
        raw=f"system/Condition.s?category={PROBLEM_LIST}",
        context="system",
        resource="Condition",
        permissions=frozenset("s"),
        version=2,
        qualifiers=(("category", PROBLEM_LIST),),
    )
    assert scope.is_qualified and not scope.is_wildcard


def test_epic_resources_include_non_standard_types(epic: Grants) -> None:
    resources = epic.resources()
    expected = {"Patient", "Condition", "Observation", "Claim", "CriteriaReview", "ReviewCollection"}
    assert expected <= resources
    assert "Schedule" not in resources
    assert "*" not in resources
    assert epic.resources("user") == frozenset()


@pytest.mark.parametrize("permission", ["r", "s"])
def test_epic_patient_read_and_search(epic: Grants, permission: str) -> None:
    check = epic.allows("Patient", permission)
    assert check.granted and not check.qualified_only
    assert check.via == (f"system/Patient.{permission}",)
    assert check.detail == f"granted by system/Patient.{permission}"


def test_epic_patient_create_granted_but_not_update_or_delete(epic: Grants) -> None:
    assert epic.allows("Patient", "c").granted
    assert not epic.allows("Patient", "u").granted
    assert not epic.allows("Patient", "d").granted


def test_epic_condition_search_problem_list(epic: Grants) -> None:
    check = epic.allows("Condition", "s", {"category": PROBLEM_LIST})
    assert check.granted and not check.qualified_only
    assert check.via == ("system/Condition.s", f"system/Condition.s?category={PROBLEM_LIST}")


def test_epic_condition_search_unlisted_category_via_unqualified_scope(epic: Grants) -> None:
    assert "system/Condition.s" in EPIC_SCOPES
    check = epic.allows("Condition", "s", {"category": f"{CONDITION_CATEGORY}|something-else"})
    assert check.granted
    assert check.via == ("system/Condition.s",)


def test_epic_condition_create_only_for_problem_list(epic: Grants) -> None:
    # Condition has no unqualified create scope: only problem-list items may be created.
    plain = epic.allows("Condition", "c")
    assert plain.granted and plain.qualified_only
    assert plain.via == (f"system/Condition.c?category={PROBLEM_LIST}",)
    assert plain.detail == f"granted only for category={PROBLEM_LIST}"

    assert epic.allows("Condition", "c", {"category": PROBLEM_LIST}).granted
    other = epic.allows("Condition", "c", {"category": f"{CONDITION_CATEGORY}|encounter-diagnosis"})
    assert not other.granted and not other.qualified_only and other.via == ()
    assert "only for" in other.detail and "encounter-diagnosis" in other.detail


def test_epic_qualifier_compares_whole_token(epic: Grants) -> None:
    # "code" alone is not "system|code"
    assert not epic.allows("Condition", "c", {"category": "problem-list-item"}).granted


def test_epic_extra_request_parameters_do_not_hurt(epic: Grants) -> None:
    check = epic.allows("Condition", "c", {"category": PROBLEM_LIST, "patient": "eXyz"})
    assert check.granted


def test_epic_claim_is_write_only(epic: Grants) -> None:
    read = epic.allows("Claim", "r")
    assert not read.granted and read.via == () and not read.qualified_only
    assert read.detail == "not granted: no system scope gives read on Claim"
    assert epic.allows("Claim", "c").via == ("system/Claim.cu",)
    assert epic.allows("Claim", "u").via == ("system/Claim.cu",)
    assert not epic.allows("Claim", "s").granted


def test_epic_schedule_not_granted(epic: Grants) -> None:
    for permission in "cruds":
        assert not epic.allows("Schedule", permission).granted


def test_epic_non_standard_resources(epic: Grants) -> None:
    assert epic.allows("CriteriaReview", "c").granted
    assert not epic.allows("CriteriaReview", "s").granted
    assert epic.allows("ReviewCollection", "u").granted


def test_epic_observation_vitals_and_unqualified(epic: Grants) -> None:
    assert epic.allows("Observation", "s", {"category": VITALS}).granted
    assert epic.allows("Observation", "r").via == ("system/Observation.r",)
    # create exists unqualified too, so no "qualified only"
    create = epic.allows("Observation", "c")
    assert create.granted and not create.qualified_only


def test_epic_system_scopes_do_not_grant_other_contexts(epic: Grants) -> None:
    check = epic.allows("Patient", "r", context="patient")
    assert not check.granted
    assert check.detail.startswith("not granted: no patient scope gives read on Patient")


# --- grammar --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "openid",
        "fhirUser",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
        "epic.scanning.dmsusername",
        "Patient.read",  # legacy, no context: not a SMART resource scope
    ],
)
def test_non_resource_scopes(text: str) -> None:
    assert parse_scope(text) is None


@pytest.mark.parametrize(
    "text, why",
    [
        ("system/Patient.xyz", "neither"),
        ("system/Patient.sr", "in that order"),
        ("system/Patient.rr", "in that order"),
        ("system/Patient.dus", "in that order"),
        ("system/.rs", "no resource type"),
        ("system/Patient.", "no permissions"),
        ("system/Patient", "no '.'"),
        ("system/patient.rs", "resource type"),
        ("system/Pat-ient.rs", "resource type"),
        ("system/Patient.Read", "neither"),
        ("system/Patient.rs?", "'?'"),
        ("system/Patient.rs?category", "no '='"),
        ("system/Patient.rs?category=", "empty value"),
        ("system/Patient.rs?a=b&", "stray '&'"),
        ("system/Patient.rs?=b", "parameter name"),
        ("", "one non-empty token"),
        ("system/Patient.r system/Patient.s", "one non-empty token"),
    ],
)
def test_malformed_resource_scopes(text: str, why: str) -> None:
    with pytest.raises(ScopeSyntaxError) as caught:
        parse_scope(text)
    assert isinstance(caught.value, ValueError)
    assert repr(text) in str(caught.value)
    assert why in str(caught.value)
    assert caught.value.scope == text


def test_multiple_qualifiers_and_wildcard() -> None:
    scope = parse_scope("user/*.rs?category=a|b&status=final")
    assert scope is not None
    assert scope.context == "user" and scope.resource == "*" and scope.is_wildcard
    assert scope.qualifiers == (("category", "a|b"), ("status", "final"))
    assert scope.qualifier_text() == "category=a|b&status=final"


@pytest.mark.parametrize(
    "text, permissions, v2",
    [
        ("system/Patient.read", "rs", "system/Patient.rs"),
        ("system/*.write", "cud", "system/*.cud"),
        ("system/Observation.*", "cruds", "system/Observation.cruds"),
        ("patient/*.*", "cruds", "patient/*.cruds"),
        ("user/Encounter.read", "rs", "user/Encounter.rs"),
    ],
)
def test_v1_scopes_map_to_v2(text: str, permissions: str, v2: str) -> None:
    scope = parse_scope(text)
    assert scope is not None
    assert scope.version == 1
    assert scope.permissions == frozenset(permissions)
    assert scope.v2_suffix == permissions
    assert scope.v2 == v2


def test_v1_grants() -> None:
    grants = Grants.parse("system/Patient.read system/*.write system/Observation.*")
    assert grants.versions == frozenset({1})
    assert grants.allows("Patient", "r").via == ("system/Patient.read",)
    assert grants.allows("Patient", "s").granted
    assert grants.allows("Patient", "u").via == ("system/*.write",)
    assert not grants.allows("Encounter", "r").granted
    assert not grants.allows("Encounter", "s").granted
    for permission in "cud":
        assert grants.allows("Encounter", permission).via == ("system/*.write",)
    assert grants.allows("Observation", "d").via == ("system/*.write", "system/Observation.*")
    assert grants.allows("Observation", "s").via == ("system/Observation.*",)
    assert grants.resources() == frozenset({"Patient", "*", "Observation"})


# --- grant semantics --------------------------------------------------------------------------------


def test_mixed_grants_split_three_ways() -> None:
    grants = Grants.parse(
        "openid fhirUser system/Patient.rs launch/patient system/Patient.sr epic.foo system/Patient.rs"
    )
    assert [s.raw for s in grants.scopes] == ["system/Patient.rs"]  # duplicate kept once
    assert grants.other == ("openid", "fhirUser", "launch/patient", "epic.foo")
    assert grants.malformed == ("system/Patient.sr",)
    assert len(grants) == 6
    assert grants.raw == (
        "system/Patient.rs",
        "openid",
        "fhirUser",
        "launch/patient",
        "epic.foo",
        "system/Patient.sr",
    )


def test_parse_accepts_any_whitespace_and_none() -> None:
    spaced = Grants.parse("  system/Patient.r\tsystem/Patient.s\n")
    assert spaced == Grants.parse(["system/Patient.r", "system/Patient.s"])
    assert Grants.parse(None) == Grants.parse("") == Grants()
    assert not Grants.parse("").allows("Patient", "r")


def test_parse_rejects_non_text() -> None:
    with pytest.raises(TypeError):
        Grants.parse(b"system/Patient.r")
    with pytest.raises(TypeError):
        Grants.parse([1, 2])  # type: ignore[list-item]


def test_wildcard_grants_every_resource() -> None:
    grants = Grants.parse("system/*.rs")
    for resource in ("Patient", "CriteriaReview", "Schedule"):
        check = grants.allows(resource, "s")
        assert check.granted and check.via == ("system/*.rs",)
    assert not grants.allows("Patient", "c").granted


def test_qualified_wildcard() -> None:
    grants = Grants.parse(f"system/*.s?category={VITALS}")
    assert grants.allows("Observation", "s", {"category": VITALS}).granted
    assert grants.allows("Observation", "s").qualified_only


def test_user_and_patient_scopes_do_not_grant_system() -> None:
    grants = Grants.parse("user/Patient.rs patient/Observation.rs")
    check = grants.allows("Patient", "r")
    assert not check.granted
    assert check.detail == (
        "not granted: no system scope gives read on Patient (user/Patient.rs is not system context)"
    )
    assert grants.allows("Patient", "r", context="user").granted
    assert grants.allows("Observation", "s", context="patient").granted
    assert not grants.allows("Observation", "s", context="user").granted


def test_all_qualifiers_of_a_scope_must_match() -> None:
    grants = Grants.parse("system/Observation.s?category=X|a&status=final")
    assert grants.allows("Observation", "s", {"category": "X|a", "status": "final"}).granted
    assert not grants.allows("Observation", "s", {"category": "X|a"}).granted
    assert not grants.allows("Observation", "s", {"category": "X|a", "status": "preliminary"}).granted


def test_comma_is_or_within_a_value() -> None:
    grants = Grants.parse("system/Observation.s?category=X|a,X|b")
    assert grants.allows("Observation", "s", {"category": "X|a"}).granted
    assert grants.allows("Observation", "s", {"category": "X|b,X|a"}).granted
    assert not grants.allows("Observation", "s", {"category": "X|a,X|c"}).granted


def test_qualified_only_lists_every_slice() -> None:
    grants = Grants.parse(
        [f"system/Observation.r?category={VITALS}", "system/Observation.rs?category=X|lab"]
    )
    check = grants.allows("Observation", "r")
    assert check == GrantCheck(
        granted=True,
        via=(f"system/Observation.r?category={VITALS}", "system/Observation.rs?category=X|lab"),
        qualified_only=True,
        detail=f"granted only for category={VITALS}; category=X|lab",
    )


def test_long_via_lists_are_shortened_in_detail() -> None:
    qualified = [f"system/Observation.s?category=X|{i}" for i in range(5)]
    grants = Grants.parse(qualified + ["system/Observation.s system/*.s system/Observation.rs"])
    check = grants.allows("Observation", "s", {"category": "X|1"})
    assert check.via == (
        "system/Observation.s?category=X|1",
        "system/Observation.s",
        "system/*.s",
        "system/Observation.rs",
    )
    assert check.detail == (
        "granted by system/Observation.s?category=X|1, system/Observation.s, system/*.s and 1 more"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"permission": "x"},
        {"permission": "rs"},
        {"permission": "r", "context": "admin"},
        {"permission": "r", "resource": ""},
    ],
)
def test_allows_rejects_bad_questions(kwargs: dict[str, str]) -> None:
    kwargs = {"resource": "Patient", **kwargs}
    with pytest.raises(ValueError):
        Grants.parse("system/Patient.r").allows(**kwargs)  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------------------

ORDERED_SUBSETS = [
    "".join(combo) for n in range(1, 6) for combo in itertools.combinations("cruds", n)
]
OUT_OF_ORDER = sorted(
    {
        "".join(p)
        for n in range(2, 6)
        for combo in itertools.combinations("cruds", n)
        for p in itertools.permutations(combo)
    }
    - set(ORDERED_SUBSETS)
)

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALNUM = _UPPER + _UPPER.lower() + "0123456789"
resource_types = st.builds(
    lambda first, rest: first + rest, st.sampled_from(_UPPER), st.text(_ALNUM, max_size=20)
)
contexts = st.sampled_from(["system", "user", "patient"])
token_values = st.builds(
    lambda system, code: f"{system}|{code}",
    st.text(_ALNUM + ":/.-", min_size=1, max_size=20),
    st.text(_ALNUM + "-", min_size=1, max_size=12),
)
param_names = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(string.ascii_lowercase),
    st.text("abcdefxyz-", max_size=10),
)
non_resource = st.sampled_from(
    ["openid", "fhirUser", "launch", "launch/patient", "offline_access", "epic.x.y"]
)
malformed = st.one_of(
    st.builds(lambda r, p: f"system/{r}.{p}", resource_types, st.sampled_from(OUT_OF_ORDER)),
    st.builds(lambda r: f"system/{r}.xyz", resource_types),
    st.just("system/.rs"),
    st.just("patient/Observation"),
    st.builds(lambda r: f"user/{r}.rs?", resource_types),
)


def _scope_text(context: str, resource: str, perms: str, quals: list[tuple[str, str]]) -> str:
    text = f"{context}/{resource}.{perms}"
    if quals:
        text += "?" + "&".join(f"{k}={v}" for k, v in quals)
    return text


resource_scopes = st.builds(
    _scope_text,
    contexts,
    st.one_of(resource_types, st.just("*")),
    st.sampled_from(ORDERED_SUBSETS + ["read", "write", "*"]),
    st.lists(st.tuples(param_names, token_values), max_size=2),
)
any_scope = st.one_of(resource_scopes, non_resource, malformed)
# scope-ish characters, whitespace (ASCII and not) and a few non-ASCII letters
_NOISE = string.printable + "/.?&=|*\u00a0\u2003é漢"


@settings(max_examples=150, deadline=None, database=None)
@given(resource=resource_types, perms=st.sampled_from(ORDERED_SUBSETS))
def test_v2_ordered_subsets_round_trip(resource: str, perms: str) -> None:
    text = f"system/{resource}.{perms}"
    scope = parse_scope(text)
    assert scope is not None
    assert (scope.raw, scope.context, scope.resource, scope.version, scope.qualifiers) == (
        text,
        "system",
        resource,
        2,
        (),
    )
    assert scope.permissions == frozenset(perms)
    assert scope.v2 == text
    grants = Grants.parse(text)
    for permission in "cruds":
        assert grants.allows(resource, permission).granted == (permission in perms)


@settings(max_examples=150, deadline=None, database=None)
@given(resource=resource_types, perms=st.sampled_from(OUT_OF_ORDER))
def test_out_of_order_permissions_are_malformed(resource: str, perms: str) -> None:
    text = f"system/{resource}.{perms}"
    with pytest.raises(ScopeSyntaxError, match="in that order"):
        parse_scope(text)
    assert Grants.parse(text).malformed == (text,)


@settings(max_examples=100, deadline=None, database=None)
@given(xs=st.lists(any_scope, max_size=12))
def test_parsing_joined_equals_parsing_each(xs: list[str]) -> None:
    joined = Grants.parse(" ".join(xs))
    assert joined == Grants.parse(xs)
    unique = list(dict.fromkeys(xs))
    expected_raw = [s.raw for s in joined.scopes] + list(joined.other) + list(joined.malformed)
    assert list(joined.raw) == expected_raw
    assert sorted(joined.raw) == sorted(unique)
    for text in unique:
        try:
            parsed = parse_scope(text)
        except ScopeSyntaxError:
            assert text in joined.malformed
        else:
            if parsed is None:
                assert text in joined.other
            else:
                assert parsed in joined.scopes


@settings(max_examples=100, deadline=None, database=None)
@given(xs=st.lists(st.one_of(malformed, resource_scopes, st.text(_NOISE, max_size=30)), max_size=8))
def test_grants_parse_never_raises_on_content(xs: list[str]) -> None:
    grants = Grants.parse(xs)
    for text in grants.malformed:
        with pytest.raises(ScopeSyntaxError):
            parse_scope(text)


@settings(max_examples=100, deadline=None, database=None)
@given(
    resource=resource_types,
    perms=st.sampled_from(ORDERED_SUBSETS),
    name=param_names,
    value=token_values,
    other=token_values,
)
def test_qualified_scope_matches_only_its_own_value(
    resource: str, perms: str, name: str, value: str, other: str
) -> None:
    grants = Grants.parse(f"system/{resource}.{perms}?{name}={value}")
    permission = perms[0]
    assert grants.allows(resource, permission, {name: value}).granted
    assert grants.allows(resource, permission).qualified_only
    assert grants.allows(resource, permission, {name: other}).granted == (other == value)
    # adding the unqualified scope grants every value
    wider = Grants.parse(f"system/{resource}.{perms}?{name}={value} system/{resource}.{perms}")
    assert wider.allows(resource, permission, {name: other}).granted
    assert not wider.allows(resource, permission).qualified_only
