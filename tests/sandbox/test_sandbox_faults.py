"""The fault mechanism: names, arguments, validation at start-up, the policies faults make."""

from __future__ import annotations

import pytest

from harness.sandbox import FAULTS, SandboxSettings, default_settings
from harness.sandbox.faults import Hook
from harness.sandbox.faults.catalog import active
from harness.sandbox.faults.policies import DocumentPolicy, TokenPolicy
from harness.sandbox.token.rules import TOKEN_RULES

REQUIRED = [
    "token-skip:aud",
    "token-skip:exp-expired",
    "token-skip:exp-max",
    "token-skip:jti-replay",
    "token-skip:signature",
    "token-skip:alg",
    "token-skip:kid",
    "token-skip:jku",
    "token-skip:iss-sub",
    "token-skip:client",
    "token-skip:exp-missing",
    "token-skip:iat-future",
    "token-skip:jti-missing",
    "token-skip:grant-type",
    "token-skip:assertion-type",
    "token-skip:form-body",
    "token-500",
    "grant-fewer-scopes:Patient",
    "fhir-ignore-token",
    "smart-config-drop:capabilities",
    'smart-config-set:capabilities=["launch-ehr"]',
    "smart-config-content-type:text/plain",
    "smart-config-404",
    "metadata-fhir-version:R4=3.0.2",
    "metadata-drop-oauth-uris:STU3",
    "metadata-token-uri:DSTU2=https://elsewhere.example/token",
    "metadata-500:R4",
    "metadata-drop-resource:R4=Patient",
    "metadata-drop-format:R4",
    "token-lifetime:60",
]


def test_every_required_fault_is_accepted() -> None:
    assert default_settings(REQUIRED).faults == frozenset(REQUIRED)


def test_registry_describes_every_fault_in_one_line() -> None:
    assert all(description and "\n" not in description for description in FAULTS.values())
    for rule in TOKEN_RULES:
        assert f"token-skip:{rule}" in FAULTS
    assert "metadata-500:VERSION" in FAULTS
    assert "smart-config-404" in FAULTS


def test_unknown_fault_raises_naming_it_and_the_nearest() -> None:
    with pytest.raises(ValueError) as caught:
        default_settings(["token-skip:aud", "drop-everything"])
    message = str(caught.value)
    assert "drop-everything" in message and "--list-faults" in message
    with pytest.raises(ValueError, match="no-such-fault"):
        SandboxSettings(faults=frozenset({"no-such-fault"}))
    with pytest.raises(ValueError, match="did you mean fhir-html-500:TYPE"):
        default_settings(["fhir-htm-500:Patient"])


@pytest.mark.parametrize(
    "fault",
    [
        "token-skip:everything",
        "token-skip",
        "metadata-500:R5",
        "metadata-500",
        "metadata-fhir-version:R4",
        "token-lifetime:soon",
        "token-lifetime:0",
        "smart-config-set:capabilities=[not json",
        "smart-config-content-type:html",
        "fhir-ignore-token:yes",
        "grant-fewer-scopes:patient",
    ],
)
def test_bad_argument_raises(fault: str) -> None:
    with pytest.raises(ValueError, match="fault"):
        default_settings([fault])


def test_settings_take_any_iterable_of_names() -> None:
    settings = SandboxSettings(faults=["token-500", "token-500"])  # type: ignore[arg-type]
    assert settings.faults == frozenset({"token-500"})
    assert default_settings("token-500").faults == frozenset({"token-500"})


def test_faults_make_the_policies_their_hook_points_read() -> None:
    faults = active(["token-skip:aud", "metadata-fhir-version:R4=3.0.2", 'smart-config-set:a={"b": 1}'])
    token = faults.policy(Hook.TOKEN, TokenPolicy)
    assert token.skipped == {"aud"} and token.scope_grant == "registered"
    r4 = {"fhirVersion": "4.0.1"}
    for edit in faults.policy(Hook.DISCOVERY, DocumentPolicy, ("metadata", "R4")).edits:
        edit(r4)
    assert r4["fhirVersion"] == "3.0.2"
    assert faults.policy(Hook.DISCOVERY, DocumentPolicy, ("metadata", "STU3")).edits == []
    smart: dict = {}
    for edit in faults.policy(Hook.DISCOVERY, DocumentPolicy, ("smart-configuration",)).edits:
        edit(smart)
    assert smart == {"a": {"b": 1}}
    assert not active()
