"""The discovery checks (suites/test_discovery.py), each judged in process: passing on the correct
sandbox and on an independent server that is not Epic-shaped, failing with the sandbox's fault that
breaks its rule, and failing on documents a hand-written tenant serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.checks import ROOT, judge, judge_each, tenant_state
from tests.support.smart_server import smart_server, tenant_file

SMART_CHECKS = (
    "discovery.smart-configuration.served", "discovery.smart-configuration.token-endpoint",
    "discovery.smart-configuration.client-credentials", "discovery.smart-configuration.capabilities",
    "discovery.smart-configuration.private-key-jwt", "discovery.smart-configuration.signing-algorithms",
    "discovery.smart-configuration.scopes-supported", "discovery.smart-configuration.pkce",
)
METADATA_CHECKS = ("discovery.metadata.served", "discovery.metadata.fhir-version", "discovery.metadata.json-format",
                   "discovery.metadata.oauth-uris")
ALL = ("preflight.reachable", *SMART_CHECKS, *METADATA_CHECKS, "discovery.foreign-origins")


def _outcomes(state: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for check_id in ALL:
        out.update(judge_each(state, check_id))
    return out


def test_every_discovery_check_passes_on_the_correct_sandbox() -> None:
    with tenant_state() as state:
        judged = _outcomes(state)
    assert {j.outcome for j in judged.values()} <= {"passed", "warning"}, [j for j in judged.values()
                                                                         if j.outcome not in ("passed", "warning")]
    assert {"discovery.metadata.served[R4]", "discovery.metadata.served[STU3]", "discovery.metadata.served[DSTU2]"} <= set(judged)
    # Epic omits the signing algorithms (RECOMMENDED): a warning, never a failure
    assert judged["discovery.smart-configuration.signing-algorithms"].outcome == "warning"


def test_every_discovery_check_passes_on_an_independent_server(tmp_path: Path) -> None:
    with tenant_state(app=smart_server(), tenant_file=tenant_file(tmp_path, ROOT)) as state:
        judged = _outcomes(state)
    assert set(judged) >= {"discovery.metadata.served[R4]", "discovery.smart-configuration.pkce"}
    assert all(j.outcome == "passed" for j in judged.values() if "oauth-uris" not in j.result.id), judged
    # it names no oauth-uris extension, which SMART 2 no longer needs: a warning
    assert judged["discovery.metadata.oauth-uris[R4]"].outcome == "warning"


@pytest.mark.parametrize(
    ("fault", "result_id"),
    [
        ("smart-config-drop:token_endpoint", "discovery.smart-configuration.token-endpoint"),
        ("smart-config-set:grant_types_supported=[]", "discovery.smart-configuration.client-credentials"),
        ("smart-config-drop:grant_types_supported", "discovery.smart-configuration.client-credentials"),
        ("smart-config-set:token_endpoint_auth_methods_supported=[\"client_secret_basic\"]",
         "discovery.smart-configuration.private-key-jwt"),
        ("smart-config-content-type:text/html", "discovery.smart-configuration.served"),
        ("smart-config-404", "discovery.smart-configuration.served"),
        ("smart-config-drop:capabilities", "discovery.smart-configuration.capabilities"),
        ("smart-config-set:code_challenge_methods_supported=[\"plain\", \"S256\"]", "discovery.smart-configuration.pkce"),
        ("smart-config-set:token_endpoint_auth_signing_alg_values_supported=[\"HS256\"]",
         "discovery.smart-configuration.signing-algorithms"),
        ("metadata-500:R4", "discovery.metadata.served[R4]"),
        ("metadata-fhir-version:R4=3.0.2", "discovery.metadata.fhir-version[R4]"),
        ("metadata-fhir-version:DSTU2=4.0.1", "discovery.metadata.fhir-version[DSTU2]"),
        ("metadata-drop-format:STU3", "discovery.metadata.json-format[STU3]"),
        ("metadata-token-uri:R4=https://elsewhere.example/oauth2/token", "discovery.metadata.oauth-uris[R4]"),
    ],
)
def test_a_discovery_fault_fails_its_check_and_only_its_check(fault: str, result_id: str) -> None:
    with tenant_state(fault) as state:
        judged = _outcomes(state)
    assert judged[result_id].outcome == "failed", judged[result_id]
    assert judged[result_id].result.category in ("tenant-configuration", "tenant-fault"), judged[result_id].result
    # the fault is not blamed on anything else: other checks pass, warn, or are blocked by this one
    others = {rid: j for rid, j in judged.items() if rid != result_id and j.outcome == "failed"}
    assert not others or all(rid.startswith("discovery.smart-configuration") for rid in others), others


def test_a_smart_configuration_that_is_not_served_blocks_the_checks_that_read_it() -> None:
    with tenant_state("smart-config-404") as state:
        judged = _outcomes(state)
    assert judged["discovery.smart-configuration.served"].outcome == "failed"
    for check_id in SMART_CHECKS[1:]:
        assert judged[check_id].outcome == "blocked", judged[check_id]
        assert judged[check_id].result.blocked_by == "discovery.smart-configuration.served"


def _serving(smart: dict[str, Any] | None, capability: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    """A tenant of a few lines: the given smart-configuration and R4 CapabilityStatement, nothing else."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/smart-configuration") and smart is not None:
            return httpx.Response(200, content=json.dumps(smart).encode(), headers={"content-type": "application/json"})
        if request.url.path.endswith("/R4/metadata") and capability is not None:
            return httpx.Response(200, content=json.dumps(capability).encode(),
                                  headers={"content-type": "application/fhir+json"})
        return httpx.Response(404, text="not here")
    return handler


GOOD_SMART = {
    "token_endpoint": f"{ROOT}/oauth2/token", "grant_types_supported": ["client_credentials"],
    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    "token_endpoint_auth_signing_alg_values_supported": ["ES384"], "scopes_supported": ["system/Patient.rs"],
    "capabilities": ["client-confidential-asymmetric"], "code_challenge_methods_supported": ["S256"],
}
R4 = {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
      "format": ["json"], "rest": [{"mode": "server"}]}


@pytest.mark.parametrize(("change", "result_id", "outcome"), [
    ({}, "discovery.smart-configuration.token-endpoint", "passed"),
    ({"token_endpoint": "http://epic.example.org/oauth2/token"}, "discovery.smart-configuration.token-endpoint", "failed"),
    ({"token_endpoint": "/oauth2/token"}, "discovery.smart-configuration.token-endpoint", "failed"),
    ({"token_endpoint": 42}, "discovery.smart-configuration.token-endpoint", "failed"),
    ({"grant_types_supported": "client_credentials"}, "discovery.smart-configuration.client-credentials", "failed"),
    ({"capabilities": ["client-confidential-asymmetric", 7]}, "discovery.smart-configuration.capabilities", "failed"),
    ({"capabilities": ["launch-ehr"]}, "discovery.smart-configuration.capabilities", "warning"),
    ({"token_endpoint_auth_methods_supported": None}, "discovery.smart-configuration.private-key-jwt", "warning"),
    ({"token_endpoint_auth_methods_supported": "private_key_jwt"}, "discovery.smart-configuration.private-key-jwt", "failed"),
    ({"token_endpoint_auth_signing_alg_values_supported": ["RS256"]}, "discovery.smart-configuration.signing-algorithms", "failed"),
    ({"code_challenge_methods_supported": ["plain"]}, "discovery.smart-configuration.pkce", "failed"),
    ({"code_challenge_methods_supported": []}, "discovery.smart-configuration.pkce", "warning"),
    ({"scopes_supported": None}, "discovery.smart-configuration.scopes-supported", "warning"),
])
def test_smart_configuration_documents_judged(change: dict[str, Any], result_id: str, outcome: str) -> None:
    smart = {k: v for k, v in {**GOOD_SMART, **change}.items() if v is not None}
    with tenant_state(handler=_serving(smart, R4)) as state:
        judged = judge(state, result_id)
    assert judged.outcome == outcome, judged


@pytest.mark.parametrize(("capability", "result_id", "outcome"), [
    (R4, "discovery.metadata.served", "passed"),
    ({**R4, "resourceType": "Conformance"}, "discovery.metadata.served", "failed"),
    ({**R4, "fhirVersion": "4.0.0"}, "discovery.metadata.fhir-version", "warning"),
    ({**R4, "fhirVersion": 4}, "discovery.metadata.fhir-version", "failed"),
    ({**R4, "format": ["xml"]}, "discovery.metadata.json-format", "failed"),
    ({**R4, "format": ["application/fhir+json"]}, "discovery.metadata.json-format", "passed"),
])
def test_capability_statements_judged(capability: dict[str, Any], result_id: str, outcome: str) -> None:
    with tenant_state(handler=_serving(GOOD_SMART, capability)) as state:
        judged = judge(state, result_id, fhir_version="R4")
    assert judged.outcome == outcome, judged


def test_a_capability_statement_served_as_xml_fails() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/R4/metadata"):
            return httpx.Response(200, text="<CapabilityStatement xmlns='http://hl7.org/fhir'/>",
                                  headers={"content-type": "application/fhir+xml"})
        return _serving(GOOD_SMART)(request)

    with tenant_state(handler=handler) as state:
        judged = judge(state, "discovery.metadata.served", fhir_version="R4")
    assert judged.outcome == "failed" and "R4/metadata" in judged.message, judged


def test_an_unreachable_tenant_fails_the_preflight_and_blocks_discovery() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with tenant_state(handler=handler) as state:
        reachable = judge(state, "preflight.reachable")
        served = judge(state, "discovery.smart-configuration.served")
    assert reachable.outcome == "failed" and reachable.result.category == "tenant-fault", reachable
    assert served.outcome == "blocked" and served.result.blocked_by == "preflight.reachable", served


def test_a_discovery_document_naming_a_foreign_origin_warns() -> None:
    smart = {**GOOD_SMART, "token_endpoint": "https://elsewhere.example.org/oauth2/token"}
    with tenant_state(handler=_serving(smart, R4)) as state:
        judged = judge(state, "discovery.foreign-origins")
    assert judged.outcome == "warning" and "elsewhere.example.org" in judged.message, judged
