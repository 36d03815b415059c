"""Cassettes: record a tenant once, replay it offline, with no secret (and optionally no patient data) in them.

Session-wide requests (discovery documents, the run's token) go to ``_session.yaml``; every check
gets its own cassette. Requests match on method, path and query: never on host or port (a
recording of an embedded sandbox replays anywhere), never on the body (every client assertion is
unique), and repeated identical requests play back in recorded order, so opaque ``next`` links and
temporary ids replay as they were recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import vcr
from vcr.record_mode import RecordMode

from harness.scrub import REDACTED, SECRET_HEADERS, SecretRegistry, scrub_body

Mode = Literal["live", "record", "replay"]
MODES: tuple[Mode, ...] = ("live", "record", "replay")
SESSION_CASSETTE = "_session.yaml"
VOLATILE_RESPONSE_HEADERS = frozenset({"date", "set-cookie", "server", "x-request-id"})

# Patient data elements replaced, consistently, when a tenant asks for it.
PHI_KEYS = frozenset({"family", "given", "text", "line", "city", "postalCode", "birthDate", "value", "display"})
PHI_PARENTS = frozenset({"name", "address", "telecom", "identifier", "contact"})
PERSON_TYPES = ("Patient", "RelatedPerson")  # a reference's display to these is a person's name
PHI_QUERY = frozenset({"family", "given", "name", "birthdate", "identifier", "address", "phone", "email", "telecom"})


class Pseudonymizer:
    """Replaces patient data with stable pseudonyms (HMAC of the value), so that the same value
    always becomes the same pseudonym: references and searches still agree in replay."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def __call__(self, value: str) -> str:
        if value.startswith("pseudo-") or value == REDACTED:
            return value
        if re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
            return f"{value[:4]}-01-01"  # the year alone is kept, as HIPAA Safe Harbor allows
        digest = hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:10]
        return f"pseudo-{digest}"

    def resource(self, node: Any, parent: str | None = None) -> Any:
        if isinstance(node, dict):
            out = {}
            reference = node.get("reference")
            names_a_person = isinstance(reference, str) and any(f"{t}/" in reference for t in PERSON_TYPES)
            for k, v in node.items():
                if k == "birthDate" and isinstance(v, str):
                    out[k] = self(v)
                elif k == "display" and names_a_person and isinstance(v, str):
                    out[k] = self(v)
                elif k == "url" and parent == "link" and isinstance(v, str):
                    out[k] = self.query(v)  # a Bundle's self link repeats the search's values
                elif parent in PHI_PARENTS and k in PHI_KEYS and isinstance(v, str):
                    out[k] = self(v)
                elif parent in PHI_PARENTS and k in PHI_KEYS and isinstance(v, list):
                    out[k] = [self(x) if isinstance(x, str) else x for x in v]
                else:
                    out[k] = self.resource(v, k if k in PHI_PARENTS else (parent if isinstance(v, list) and parent in PHI_PARENTS else k))
            return out
        if isinstance(node, list):
            return [self.resource(v, parent) for v in node]
        return node

    def query(self, uri: str) -> str:
        parts = urlsplit(uri)
        if not parts.query:
            return uri
        pairs = [(k, self(v) if k.split(":")[0] in PHI_QUERY else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        return urlunsplit(parts._replace(query=urlencode(pairs, safe="|:/")))


def _header_get(headers: dict[str, Any], name: str) -> str:
    for k, v in headers.items():
        if k.lower() == name:
            return v[0] if isinstance(v, list) and v else v
    return ""


class Scrubber:
    """vcrpy hooks; idempotent, since vcrpy runs them again when it loads a cassette."""

    def __init__(self, secrets: SecretRegistry, pseudonymizer: Pseudonymizer | None = None) -> None:
        self.secrets = secrets
        self.pseudonymizer = pseudonymizer

    def _clean(self, body: str, content_type: str) -> str:
        cleaned = scrub_body(body, content_type, self.secrets)
        if self.pseudonymizer and "json" in content_type.lower():
            try:
                cleaned = json.dumps(self.pseudonymizer.resource(json.loads(cleaned)), ensure_ascii=False)
            except ValueError:
                pass
        return cleaned

    def request(self, request: Any) -> Any:
        for name in list(request.headers):
            if name.lower() in SECRET_HEADERS:
                del request.headers[name]
        uri = self.secrets.scrub_text(request.uri)
        request.uri = self.pseudonymizer.query(uri) if self.pseudonymizer else uri
        if request.body:
            body = request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else request.body
            request.body = self._clean(body, _header_get(dict(request.headers), "content-type")).encode("utf-8")
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        headers = response.get("headers", {})
        for name in list(headers):
            if name.lower() in SECRET_HEADERS or name.lower() in VOLATILE_RESPONSE_HEADERS:
                del headers[name]
        body = response.get("body", {}).get("string")
        if body:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            response["body"]["string"] = self._clean(text, _header_get(headers, "content-type")).encode("utf-8")
            for name in list(headers):
                if name.lower() == "content-length":
                    headers[name] = [str(len(response["body"]["string"]))]
        return response


def make_vcr(mode: Mode, secrets: SecretRegistry, pseudonymizer: Pseudonymizer | None = None) -> vcr.VCR:
    scrubber = Scrubber(secrets, pseudonymizer)
    return vcr.VCR(
        record_mode=RecordMode.ALL if mode == "record" else RecordMode.NONE,
        match_on=["method", "path", "query"],
        before_record_request=scrubber.request,
        before_record_response=scrubber.response,
        decode_compressed_response=True,
    )


def cassette_name(nodeid: str) -> str:
    """``suites/test_exercise.py::test_read[Patient.read.R4]`` → ``test_exercise/test_read[Patient.read.R4].yaml``."""
    path, _, name = nodeid.partition("::")
    module = Path(path).stem
    safe = re.sub(r"[^A-Za-z0-9_.\[\]$-]+", "_", name)[:180]
    return f"{module}/{safe}.yaml"


def is_missing_recording(exc: BaseException) -> bool:
    return exc.__class__.__name__ == "CannotOverwriteExistingCassetteException"


def missing_recording_message(exc: BaseException, directory: Path) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return (f"replay: the cassettes in {directory} hold no recorded answer for this request ({first[:160]}); "
            f"record the tenant again with --mode record")
