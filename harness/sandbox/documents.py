"""Epic's documents as the sandbox serves them: loading, FHIR XML rendering, content negotiation,
error bodies."""

from __future__ import annotations

import copy
import json
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from starlette.responses import Response

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

#: Epic's sandbox error-code system (``urn:oid:1.2.840.114350.1.13.<CID>.<env>.7.2.657369``).
EPIC_ERROR_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"

JSON = "application/json"
JSON_UTF8 = "application/json; charset=utf-8"
FHIR_JSON_UTF8 = "application/fhir+json; charset=utf-8"
FHIR_XML_UTF8 = "application/fhir+xml; charset=utf-8"
XML = "application/xml"
HTML = "text/html"

_IIS_500_PAGE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\r\n'
    '<html xmlns="http://www.w3.org/1999/xhtml">\r\n<head>\r\n'
    '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>\r\n'
    "<title>500 - Internal server error.</title>\r\n</head>\r\n<body>\r\n"
    '<div id="header"><h1>Server Error</h1></div>\r\n'
    '<div id="content">\r\n <div class="content-container"><fieldset>\r\n'
    "  <h2>500 - Internal server error.</h2>\r\n"
    "  <h3>There is a problem with the resource you are looking for, and it cannot be displayed."
    "</h3>\r\n </fieldset></div>\r\n</div>\r\n</body>\r\n</html>\r\n"
)


DATA_DIR = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=None)
def _load(name: str) -> Any:
    text = (DATA_DIR / name).read_text("utf-8")
    return json.loads(text)


def load(name: str) -> Any:
    """A fresh deep copy of data file ``name`` (callers may change it)."""
    return copy.deepcopy(_load(name))


def capability_statement(version: str) -> dict[str, Any]:
    return load(CAPABILITY_FILES[version])


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


def smart_configuration() -> dict[str, Any]:
    return load(SMART_CONFIGURATION_FILE)


def openid_configuration() -> dict[str, Any]:
    return load(OPENID_CONFIGURATION_FILE)


def oidc_jwks() -> dict[str, Any]:
    return load(OIDC_JWKS_FILE)


# --- error bodies ---------------------------------------------------------------------------


def iis_404_page() -> str:
    """The IIS page Epic answers for paths it does not route (e.g. an unknown resource type)."""
    return str(_load(UNKNOWN_TYPE_PAGE_FILE)["body"]["_non_json_body"])


def iis_500_page() -> str:
    return _IIS_500_PAGE


def html_404() -> Response:
    return Response(iis_404_page(), status_code=404, media_type=HTML)


def html_500() -> Response:
    return Response(iis_500_page(), status_code=500, media_type=HTML)


def not_found_outcome() -> dict[str, Any]:
    """Epic's 59008 OperationOutcome for a read of an id that does not exist."""
    return load(NOT_FOUND_OUTCOME_FILE)["body"]


def no_results_issue() -> dict[str, Any]:
    """Epic's 4101 'Resource request returns no results.' issue."""
    issues = load(EMPTY_SEARCH_FILE)["body"]["entry"][0]["resource"]["issue"]
    return next(issue for issue in issues if issue["details"]["coding"][0]["code"] == "4101")


def _issue_with_code(file: str, code: str, issues: list[dict[str, Any]]) -> dict[str, Any]:
    for issue in issues:
        if issue["details"]["coding"][0]["code"] == code:
            return issue
    raise LookupError(f"{file} has no issue {code}")


def not_authorized_issue(resource_type: str, context: str) -> dict[str, Any]:
    """Epic's 59204 warning: the client lacks the API of one context of ``resource_type``."""
    issues = load(EMPTY_SEARCH_FILE)["body"]["entry"][0]["resource"]["issue"]
    issue = _issue_with_code(EMPTY_SEARCH_FILE, "59204", issues)
    issue["diagnostics"] = (
        f"Client not authorized for {resource_type} - {context}. "
        "Search results of this type have not been included."
    )
    return issue


def unknown_parameter_issue(name: str) -> dict[str, Any]:
    """Epic's 59100 information issue for a search parameter it does not know."""
    issues = load(UNSUPPORTED_PARAM_FILE)["body"]["issue"]
    issue = _issue_with_code(UNSUPPORTED_PARAM_FILE, "59100", issues)
    issue["diagnostics"] = f"Unknown parameter: {name.upper()}. Parameter has been ignored."
    return issue


def demographics_required_issue() -> dict[str, Any]:
    """Epic's 59159: a Patient search needs demographics or ``_id``."""
    issues = load(UNSUPPORTED_PARAM_FILE)["body"]["issue"]
    return _issue_with_code(UNSUPPORTED_PARAM_FILE, "59159", issues)


def session_expired_issue() -> dict[str, Any]:
    """Epic's 4113: the sessionID of a next link is unknown or its cached results expired."""
    return epic_issue(
        "fatal",
        "not-found",
        "4113",
        "Session ID for cached search results has expired.",
        "The search results this link pointed to are no longer available; run the search again.",
    )


def structure_issue(diagnostics: str) -> dict[str, Any]:
    """Epic's 59105: the request body is not a FHIR resource it can read."""
    return epic_issue("fatal", "structure", "59105", "A structural issue in the content", diagnostics)


def invalid_issue(diagnostics: str) -> dict[str, Any]:
    """Epic's 59102 fatal content error (a value the operation cannot use)."""
    return epic_issue(
        "fatal", "invalid", "59102", "Content invalid against the specification or a profile.", diagnostics
    )


def invalid_parameter_issue(name: str, value: str) -> dict[str, Any]:
    """Epic's 4100: a search parameter's value cannot be used."""
    shown = value if len(value) <= 40 else value[:40] + "..."
    return epic_issue(
        "fatal",
        "value",
        "4100",
        "The resource request contained an invalid parameter",
        f"Invalid value for parameter {name.upper()}: {shown!r}",
    )


def required_issue(element: str) -> dict[str, Any]:
    """Epic's 59108: a required element or parameter is missing."""
    return epic_issue("fatal", "required", "59108", f"Required {element} missing", f"{element} is required.")


def no_certain_match_issue() -> dict[str, Any]:
    """Epic's 59013: $match found possible matches but no certain one."""
    issue = epic_issue(
        "fatal",
        "processing",
        "59013",
        "The matching operation found one or more possible matches, but did not find a certain match.",
    )
    issue["location"] = ["/f:patient"]
    issue["expression"] = ["patient"]
    return issue


def for_version(outcome: dict[str, Any], version: str) -> dict[str, Any]:
    """``outcome`` as FHIR ``version`` allows it (DSTU2 issues have no ``expression``)."""
    if version == "DSTU2":
        for issue in outcome.get("issue", ()):
            issue.pop("expression", None)
    return outcome


def operation_outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def epic_issue(
    severity: str, code: str, epic_code: str, display: str, diagnostics: str | None = None
) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": severity,
        "code": code,
        "details": {
            "coding": [{"system": EPIC_ERROR_SYSTEM, "code": epic_code, "display": display}],
            "text": display,
        },
    }
    if diagnostics:
        issue["diagnostics"] = diagnostics
    return issue


def searchset(
    self_url: str,
    matches: list[dict[str, Any]],
    *outcome_issues: dict[str, Any],
    next_url: str | None = None,
) -> dict[str, Any]:
    """A searchset Bundle as Epic builds it: ``total`` counts the match entries of this page, the
    links are ``next`` (when more pages remain) then ``self``, and an OperationOutcome entry
    (``search.mode: outcome``) comes last when there are issues."""
    entries = list(matches)
    if outcome_issues:
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": operation_outcome(*outcome_issues),
                "search": {"mode": "outcome"},
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "link": ([{"relation": "next", "url": next_url}] if next_url else [])
        + [{"relation": "self", "url": self_url}],
        "entry": entries,
    }


# --- content negotiation --------------------------------------------------------------------

_JSON_TYPES = {
    "application/json": JSON_UTF8,
    "application/fhir+json": FHIR_JSON_UTF8,
    "application/json+fhir": FHIR_JSON_UTF8,
}
_XML_TYPES = {
    "application/xml": XML,
    "text/xml": XML,
    "application/fhir+xml": FHIR_XML_UTF8,
    "application/xml+fhir": FHIR_XML_UTF8,
}
_FORMAT_PARAM = {
    "json": FHIR_JSON_UTF8,
    "xml": XML,
    **_JSON_TYPES,
    **_XML_TYPES,
}


def negotiate(accept: str | None, format_param: str | None = None) -> str:
    """Content-Type Epic answers /metadata with: JSON only when asked for, otherwise XML."""
    if format_param:
        chosen = _FORMAT_PARAM.get(format_param.strip().lower())
        if chosen:
            return chosen
    if not accept:
        return XML
    ranges: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranges.append((-quality, index, media.lower()))
    for _, _, media in sorted(ranges):
        if media in _JSON_TYPES:
            return _JSON_TYPES[media]
        if media in _XML_TYPES:
            return _XML_TYPES[media]
    return XML


def is_json(content_type: str) -> bool:
    return "json" in content_type


def render(resource: dict[str, Any], content_type: str, status_code: int = 200) -> Response:
    """``resource`` as JSON or FHIR XML, with exactly ``content_type``."""
    if is_json(content_type):
        body = json.dumps(resource, ensure_ascii=False).encode("utf-8")
    else:
        body = to_fhir_xml(resource).encode("utf-8")
    return Response(body, status_code=status_code, headers={"content-type": content_type})


def json_response(document: Any, status_code: int = 200, content_type: str = JSON) -> Response:
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status_code, headers={"content-type": content_type})


# --- FHIR XML -------------------------------------------------------------------------------

FHIR_NS = "http://hl7.org/fhir"
_ATTRIBUTE_KEYS = {"extension": "url", "modifierExtension": "url"}


def to_fhir_xml(resource: dict[str, Any]) -> str:
    """A plain FHIR XML rendering of a JSON resource (primitives as ``value`` attributes,
    extension ``url`` as an attribute, extensions first)."""
    resource_type = resource["resourceType"]
    lines = ['<?xml version="1.0" encoding="utf-8"?>', f'<{resource_type} xmlns="{FHIR_NS}">']
    _children(resource, lines, 1, skip={"resourceType"})
    lines.append(f"</{resource_type}>")
    return "\n".join(lines) + "\n"


def _primitive(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ordered(obj: dict[str, Any], skip: set[str]) -> list[tuple[str, Any]]:
    items = [(key, value) for key, value in obj.items() if key not in skip and not key.startswith("_")]
    first = [item for item in items if item[0] in ("extension", "modifierExtension")]
    return first + [item for item in items if item[0] not in ("extension", "modifierExtension")]


def _children(obj: dict[str, Any], lines: list[str], depth: int, skip: set[str]) -> None:
    for key, value in _ordered(obj, skip):
        for item in value if isinstance(value, list) else [value]:
            _element(key, item, lines, depth)


def _element(name: str, value: Any, lines: list[str], depth: int) -> None:
    pad = "  " * depth
    if name == "div" and isinstance(value, str):  # narrative XHTML goes in as it is
        lines.append(f"{pad}{value}")
        return
    if not isinstance(value, dict):
        lines.append(f"{pad}<{name} value={quoteattr(_primitive(value))}/>")
        return
    if "resourceType" in value:  # a contained or entry resource
        lines.append(f"{pad}<{name}>")
        inner = "  " * (depth + 1)
        lines.append(f"{inner}<{value['resourceType']}>")
        _children(value, lines, depth + 2, skip={"resourceType"})
        lines.append(f"{inner}</{value['resourceType']}>")
        lines.append(f"{pad}</{name}>")
        return
    attribute = _ATTRIBUTE_KEYS.get(name)
    attrs = ""
    skip: set[str] = set()
    if attribute and attribute in value:
        attrs += f" {attribute}={quoteattr(str(value[attribute]))}"
        skip.add(attribute)
    if "id" in value and not isinstance(value["id"], (dict, list)):
        attrs += f" id={quoteattr(str(value['id']))}"
        skip.add("id")
    if not any(key not in skip for key in value):
        lines.append(f"{pad}<{name}{attrs}/>")
        return
    lines.append(f"{pad}<{name}{attrs}>")
    _children(value, lines, depth + 1, skip)
    lines.append(f"{pad}</{name}>")
