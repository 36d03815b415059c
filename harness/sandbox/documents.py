"""Epic's own documents, as saved in ``data/``: discovery documents, CapabilityStatements, and the
captured error bodies the sandbox answers with. Pure data: no HTTP here."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"

CAPABILITY_FILES: dict[str, str] = {
    "R4": "r4-capabilitystatement-sandbox-may2026.json",
    "STU3": "stu3-capabilitystatement-sandbox-may2026.json",
    "DSTU2": "dstu2-conformance-sandbox-may2026.json",
}
SMART_CONFIGURATION_FILE = "r4-smart-configuration-sandbox.json"
OPENID_CONFIGURATION_FILE = "oauth2-openid-configuration-sandbox.json"
OIDC_JWKS_FILE = "oidc-jwks.json"
NOT_FOUND_OUTCOME_FILE = "mh-error-404-on-nonexistent-patient-id.json"
UNKNOWN_TYPE_PAGE_FILE = "mh-error-request-unsupported-resource-type.json"
EMPTY_SEARCH_FILE = "mh-condition-search-empty-result-outcome.json"
UNSUPPORTED_PARAM_FILE = "mh-error-search-with-unsupported-param.json"


@lru_cache(maxsize=None)
def _load(name: str) -> Any:
    return json.loads((DATA_DIR / name).read_text("utf-8"))


def load(name: str) -> Any:
    """A fresh deep copy of data file ``name`` (callers may change it)."""
    return copy.deepcopy(_load(name))


def capability_statement(version: str) -> dict[str, Any]:
    return load(CAPABILITY_FILES[version])


def smart_configuration() -> dict[str, Any]:
    return load(SMART_CONFIGURATION_FILE)


def openid_configuration() -> dict[str, Any]:
    return load(OPENID_CONFIGURATION_FILE)


def oidc_jwks() -> dict[str, Any]:
    return load(OIDC_JWKS_FILE)


@lru_cache(maxsize=None)
def declared_interactions(version: str) -> dict[str, frozenset[str]]:
    """Resource type -> interaction codes, as the shipped statement for ``version`` declares."""
    statement = _load(CAPABILITY_FILES[version])
    return {
        entry["type"]: frozenset(item["code"] for item in entry.get("interaction", ()))
        for rest in statement.get("rest", ())
        for entry in rest.get("resource", ())
    }


@lru_cache(maxsize=None)
def declared_search_params(version: str) -> dict[str, frozenset[str]]:
    """Resource type -> the search parameter names the shipped statement for ``version`` lists."""
    statement = _load(CAPABILITY_FILES[version])
    return {
        entry["type"]: frozenset(param["name"] for param in entry.get("searchParam", ()) if "name" in param)
        for rest in statement.get("rest", ())
        for entry in rest.get("resource", ())
    }


# --- captured answers -------------------------------------------------------------------------


def iis_404_page() -> str:
    """The IIS page Epic answers for paths it does not route (e.g. an unknown resource type)."""
    return str(_load(UNKNOWN_TYPE_PAGE_FILE)["body"]["_non_json_body"])


def not_found_outcome() -> dict[str, Any]:
    """Epic's 59008 OperationOutcome for a read of an id that does not exist."""
    return load(NOT_FOUND_OUTCOME_FILE)["body"]


def captured_issue(file: str, code: str) -> dict[str, Any]:
    """The issue with Epic code ``code`` in the OperationOutcome captured in ``file``."""
    body = load(file)["body"]
    if body.get("resourceType") == "Bundle":
        body = next(e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "OperationOutcome")
    for issue in body["issue"]:
        if issue["details"]["coding"][0]["code"] == code:
            return issue
    raise LookupError(f"{file} has no issue {code}")
