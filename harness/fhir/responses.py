"""Judging a FHIR response: status, content type and body, with errors classified by who must act."""

from __future__ import annotations

import json
from typing import Any

import httpx

from harness.errors import TenantError

FHIR_MEDIA_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")


def outcome_codes(outcome: Any) -> list[tuple[str, str]]:
    """(code, text) of every Epic code in an OperationOutcome's issues (details.coding), plus diagnostics."""
    found = []
    if isinstance(outcome, dict):
        for issue in outcome.get("issue") or []:
            if not isinstance(issue, dict):
                continue
            details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
            diagnostics = str(issue.get("diagnostics") or "")
            text = str(details.get("text") or "")
            for coding in details.get("coding") or []:
                if isinstance(coding, dict) and coding.get("code"):
                    found.append((str(coding["code"]), _join(str(coding.get("display") or text), diagnostics)))
            if not details.get("coding") and issue.get("code"):
                found.append((str(issue["code"]), _join(text, diagnostics)))
    return found


def _join(text: str, diagnostics: str) -> str:
    """An issue's words: its display or text, and its diagnostics (where Epic names the specifics)."""
    if not diagnostics or diagnostics == text:
        return text
    return f"{text} ({diagnostics})" if text else diagnostics


def _describe_outcome(body: Any) -> str:
    codes = outcome_codes(body)
    return "; ".join(f"{c} {t}".strip() for c, t in codes[:3]) if codes else ""


def _html_title(text: str) -> str | None:
    import html
    import re

    found = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    return html.unescape(" ".join(found.group(1).split()))[:120] if found else None


def read_json(response: httpx.Response, what: str) -> Any:
    """The JSON body of a response, or a TenantError that shows the first bytes."""
    ctype = response.headers.get("content-type", "")
    media = ctype.split(";")[0].strip().lower()
    head = response.text[:80].replace("\n", " ")
    if media not in FHIR_MEDIA_TYPES:
        if "html" in media or head.lstrip().lower().startswith(("<!doctype", "<html")):
            title = _html_title(response.text[:4000])
            kind = f"an HTML page titled {title!r}" if title else "an HTML page"
            shown = ""
        else:
            kind = f"Content-Type {ctype or 'missing'}"
            shown = f" (starts {head[:60]!r})" if head.strip() else " (an empty body)"
        raise TenantError(f"{what}: HTTP {response.status_code} answered with {kind}, not FHIR JSON{shown}",
                          category="tenant-fault")
    try:
        return json.loads(response.content)
    except ValueError:
        raise TenantError(f"{what}: the body is not valid JSON (starts {head!r})", category="tenant-fault") from None


def expect_fhir(response: httpx.Response, what: str, *, status: tuple[int, ...] = (200,)) -> Any:
    """The FHIR JSON body of a successful response; otherwise a TenantError saying who must act."""
    if response.status_code in status:
        return read_json(response, what)
    code = response.status_code
    body: Any = None
    not_fhir = ""
    if response.content:
        try:
            body = read_json(response, what)
        except TenantError as exc:
            if code < 500:
                raise
            not_fhir = str(exc).split(": ", 1)[-1].replace(f"HTTP {code} answered with ", "")
    detail = _describe_outcome(body) or not_fhir
    suffix = f" ({detail})" if detail else ""
    if code == 401:
        raise TenantError(f"{what}: 401, the access token was refused{suffix}", category="tenant-configuration")
    if code == 403:
        raise TenantError(f"{what}: 403, this API is not granted to the client: the customer's Epic team must "
                          f"activate it for the app's client id{suffix}", category="tenant-configuration")
    if code == 404 and any(c in ("59008", "59144") for c, _ in outcome_codes(body)):
        raise TenantError(f"{what}: 404, the id is not found in this environment: fix the tenant's "
                          f"test_data{suffix}", category="test-data")
    if 400 <= code < 500:
        raise TenantError(f"{what}: HTTP {code}{suffix}", category="test-data" if body else "tenant-fault")
    raise TenantError(f"{what}: HTTP {code}, a tenant fault{suffix}", category="tenant-fault")
