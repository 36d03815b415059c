"""Epic's OperationOutcome issues and the HTML pages its web server answers with.

Issue builders return plain dicts; ``FhirError`` carries them out of a handler, and the FHIR
service renders them (``negotiation.py``) in the request's FHIR version and content type.
"""

from __future__ import annotations

from typing import Any

from . import documents

#: Epic's sandbox error-code system (``urn:oid:1.2.840.114350.1.13.<CID>.<env>.7.2.657369``).
EPIC_ERROR_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"


class FhirError(Exception):
    """How a FHIR handler refuses: HTTP ``status`` with an OperationOutcome of ``issues``, or
    with one of Epic's HTML pages (``page``, see :data:`PAGES`) instead."""

    def __init__(self, status: int, *issues: dict[str, Any], page: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__("; ".join(str(i.get("diagnostics", "")) for i in issues) or page or str(status))
        self.status = status
        self.issues = list(issues)
        self.page = page
        self.headers = dict(headers or {})


# --- issues -----------------------------------------------------------------------------------


def operation_outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def epic_issue(severity: str, code: str, epic_code: str, display: str,
               diagnostics: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": severity,
        "code": code,
        "details": {"coding": [{"system": EPIC_ERROR_SYSTEM, "code": epic_code, "display": display}],
                    "text": display},
    }
    if diagnostics:
        issue["diagnostics"] = diagnostics
    return issue


def plain_issue(severity: str, code: str, diagnostics: str) -> dict[str, Any]:
    return {"severity": severity, "code": code, "diagnostics": diagnostics}


def for_version(outcome: dict[str, Any], version: str) -> dict[str, Any]:
    """``outcome`` as FHIR ``version`` allows it (DSTU2 issues have no ``expression``)."""
    if version == "DSTU2":
        for issue in outcome.get("issue", ()):
            issue.pop("expression", None)
    return outcome


def no_results() -> dict[str, Any]:
    """Epic's 4101 'Resource request returns no results.'"""
    return documents.captured_issue(documents.EMPTY_SEARCH_FILE, "4101")


def not_authorized(resource_type: str, context: str) -> dict[str, Any]:
    """Epic's 59204 warning: the client lacks the API of one context of ``resource_type``."""
    issue = documents.captured_issue(documents.EMPTY_SEARCH_FILE, "59204")
    issue["diagnostics"] = (f"Client not authorized for {resource_type} - {context}. "
                            "Search results of this type have not been included.")
    return issue


def unknown_parameter(name: str) -> dict[str, Any]:
    """Epic's 59100: a search parameter it does not know (its name echoed, upper-cased)."""
    issue = documents.captured_issue(documents.UNSUPPORTED_PARAM_FILE, "59100")
    issue["diagnostics"] = f"Unknown parameter: {name.upper()}. Parameter has been ignored."
    return issue


def demographics_required() -> dict[str, Any]:
    """Epic's 59159: a Patient search needs demographics or ``_id``."""
    return documents.captured_issue(documents.UNSUPPORTED_PARAM_FILE, "59159")


def not_found() -> list[dict[str, Any]]:
    """The issues of Epic's 59008 answer to a read of an unknown id."""
    return list(documents.not_found_outcome()["issue"])


def session_expired() -> dict[str, Any]:
    """Epic's 4113: the sessionID of a next link is unknown or its cached results expired."""
    return epic_issue("fatal", "not-found", "4113", "Session ID for cached search results has expired.",
                      "The search results this link pointed to are no longer available; run the search again.")


def structure(diagnostics: str) -> dict[str, Any]:
    """Epic's 59105: the request body is not a FHIR resource it can read."""
    return epic_issue("fatal", "structure", "59105", "A structural issue in the content", diagnostics)


def invalid(diagnostics: str) -> dict[str, Any]:
    """Epic's 59102 fatal content error (a value the operation cannot use)."""
    return epic_issue("fatal", "invalid", "59102", "Content invalid against the specification or a profile.",
                      diagnostics)


def invalid_parameter(name: str, value: str) -> dict[str, Any]:
    """Epic's 4100: a search parameter's value cannot be used (the value echoed)."""
    shown = value if len(value) <= 40 else value[:40] + "..."
    return epic_issue("fatal", "value", "4100", "The resource request contained an invalid parameter",
                      f"Invalid value for parameter {name.upper()}: {shown!r}")


def required(element: str) -> dict[str, Any]:
    """Epic's 59108: a required element or parameter is missing."""
    return epic_issue("fatal", "required", "59108", f"Required {element} missing", f"{element} is required.")


def no_certain_match() -> dict[str, Any]:
    """Epic's 59013: $match found possible matches but no certain one."""
    issue = epic_issue("fatal", "processing", "59013",
                       "The matching operation found one or more possible matches, but did not find a certain match.")
    issue["location"] = ["/f:patient"]
    issue["expression"] = ["patient"]
    return issue


def reference_not_found(element: str, why: str) -> dict[str, Any]:
    """Epic's 59144, e.g. ``$book`` with an appointment id that is no proposal."""
    issue = epic_issue("fatal", "not-found", "59144", "The reference provided was not found.", why)
    issue["location"] = [f"/f:{element}"]
    issue["expression"] = [element]
    return issue


def business_rule(diagnostics: str) -> dict[str, Any]:
    return epic_issue("fatal", "business-rule", "59159",
                      "The content/operation failed to pass a business rule, and so could not proceed.", diagnostics)


def not_supported(what: str) -> dict[str, Any]:
    return plain_issue("fatal", "not-supported", f"{what} is not available on this tenant.")


# --- HTML pages -------------------------------------------------------------------------------

_IIS_500 = (
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
_SERVICE_UNAVAILABLE = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n'
    "<HTML><HEAD><TITLE>Service Unavailable</TITLE>\r\n"
    '<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n'
    "<BODY><h2>Service Unavailable</h2>\r\n<hr><p>HTTP Error 503. The service is unavailable.</p>\r\n"
    "</BODY></HTML>\r\n"
)
_SIGN_IN = (
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>MyChart - Login Page</title></head>\n"
    "<body><form method=\"post\" action=\"/MyChart/Authentication/Login\"><label>Username "
    "<input name=\"Login\"></label><label>Password <input type=\"password\" name=\"Password\"></label>"
    "<button>Sign in</button></form></body></html>\n"
)
_FORBIDDEN = "<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1></body></html>\n"

#: Page name -> its HTML; the IIS 404 page is Epic's captured one.
PAGES: dict[str, str | None] = {
    "iis-404": None,
    "iis-500": _IIS_500,
    "iis-503": _SERVICE_UNAVAILABLE,
    "forbidden": _FORBIDDEN,
    "sign-in": _SIGN_IN,
}
#: The status each page comes with unless told otherwise.
PAGE_STATUS: dict[str, int] = {"iis-404": 404, "iis-500": 500, "iis-503": 503, "forbidden": 403, "sign-in": 200}


def page(name: str) -> str:
    html = PAGES[name]
    return documents.iis_404_page() if html is None else html
