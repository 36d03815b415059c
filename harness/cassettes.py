"""Cassettes: record a tenant once, replay it offline, with no secret (and optionally no patient data) in them.

Session-wide requests (discovery documents, the run's token) go to ``_session.yaml``; every check
gets its own cassette. Requests match on method, path and query: never on host or port (a
recording of an embedded sandbox replays anywhere), never on the body (every client assertion is
unique), and repeated identical requests play back in recorded order, so opaque ``next`` links and
temporary ids replay as they were recorded.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Literal

import vcr
from vcr.record_mode import RecordMode

from harness.decoding import BodyRefused, decode_bounded
from harness.pseudonyms import Pseudonymizer
from harness.scrub import SECRET_HEADERS, STRUCTURED_LIMIT, SecretRegistry, looks_like_json, parse_json_body, scrub_body

__all__ = ["MODES", "SESSION_CASSETTE", "Mode", "Pseudonymizer", "Scrubber", "cassette_name", "is_missing_recording",
           "make_vcr", "missing_recording_message", "recorded_origins"]

Mode = Literal["live", "record", "replay"]
MODES: tuple[Mode, ...] = ("live", "record", "replay")
SESSION_CASSETTE = "_session.yaml"
VOLATILE_RESPONSE_HEADERS = frozenset({"date", "set-cookie", "server", "x-request-id"})
MAX_RECORDED_BODY = 50_000_000  # decoded bytes of one recorded body
NOT_RECORDED = "[{what} not recorded: {why}]"


def _header_get(headers: dict[str, Any], name: str) -> str:
    for k, v in headers.items():
        if k.lower() == name:
            return v[0] if isinstance(v, list) and v else v
    return ""


def _html_placeholder(content_type: str, size: int) -> str:
    note = f"[{size:,} characters of {content_type.split(';')[0] or 'a body'} not recorded: patient-data scrubbing keeps FHIR JSON only]"
    if "html" in content_type.lower():
        return f"<!DOCTYPE html><html><body>{note}</body></html>"
    return note


class Scrubber:
    """vcrpy hooks; idempotent, since vcrpy runs them again when it loads a cassette.

    Bodies are decoded here (never by vcrpy, which inflates without a bound), at most one content
    encoding and at most ``max_body`` decoded bytes; then secrets are removed, and with a
    pseudonymizer, patient data by allow-list: FHIR JSON is pseudonymised, any other body except a
    form (token requests) is replaced by a note saying what it was."""

    def __init__(self, secrets: SecretRegistry, pseudonymizer: Pseudonymizer | None = None, *,
                 max_body: int = MAX_RECORDED_BODY) -> None:
        self.secrets = secrets
        self.pseudonymizer = pseudonymizer
        self.max_body = max_body

    def _clean(self, body: str, content_type: str) -> str:
        pseudo = self.pseudonymizer
        if pseudo is not None and "x-www-form-urlencoded" not in content_type.lower():
            if looks_like_json(body, content_type) and len(body) <= STRUCTURED_LIMIT * 10:
                try:
                    body = json.dumps(pseudo.resource(parse_json_body(body)), ensure_ascii=False)
                except ValueError:
                    body = _html_placeholder(content_type, len(body))
            else:
                body = _html_placeholder(content_type, len(body))
        return scrub_body(body, content_type, self.secrets)

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

    def response(self, response: dict[str, Any], *, clean_body: bool = True) -> dict[str, Any]:
        headers = response.get("headers", {})
        for name in list(headers):
            if name.lower() in SECRET_HEADERS or name.lower() in VOLATILE_RESPONSE_HEADERS:
                del headers[name]
        body = response.get("body", {}).get("string")
        encoding = _header_get(headers, "content-encoding")
        if encoding:
            for name in list(headers):
                if name.lower() == "content-encoding":
                    del headers[name]
            if body:
                raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape")
                try:
                    body = decode_bounded(raw, encoding, self.max_body)
                except BodyRefused as exc:
                    body = NOT_RECORDED.format(what=f"a {len(raw):,}-byte {encoding} body", why=exc).encode()
        if body and (clean_body or encoding):
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            response["body"]["string"] = self._clean(text, _header_get(headers, "content-type")).encode("utf-8")
        for name in list(headers):
            if name.lower() == "content-length":
                headers[name] = [str(len(response["body"]["string"]))]
        return response


def make_vcr(mode: Mode, secrets: SecretRegistry, pseudonymizer: Pseudonymizer | None = None, *,
             max_body: int = MAX_RECORDED_BODY) -> vcr.VCR:
    """vcrpy runs ``before_record_response`` on every interaction it loads, too. A replay writes
    nothing and its cassettes were cleaned when they were recorded, so it only strips headers and
    decodes (with the bound) a body still encoded; cleaning every body again cost 15% of a replay."""
    scrubber = Scrubber(secrets, pseudonymizer, max_body=max_body)
    recording = mode == "record"
    return vcr.VCR(
        record_mode=RecordMode.ALL if recording else RecordMode.NONE,
        match_on=["method", "path", "query"],
        before_record_request=scrubber.request,
        before_record_response=scrubber.response if recording else functools.partial(scrubber.response, clean_body=False),
        decode_compressed_response=False,  # decoded by Scrubber.response, with a bound
    )


def recorded_origins(directory: str | Path) -> frozenset[str]:
    """The origins a recording was made against (from its ``_session.yaml``). A replay against
    another base URL gives them to the client as bearer origins (``TenantClient(bearer_origins=...)``):
    the recording's own next links point there, and in replay nothing leaves the process."""
    import yaml

    from harness.origins import origin_of

    path = Path(directory) / SESSION_CASSETTE
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return frozenset()
    uris = [i.get("request", {}).get("uri") for i in data.get("interactions") or [] if isinstance(i, dict)]
    return frozenset(origin_of(u) for u in uris if isinstance(u, str) and u.startswith(("http://", "https://")))


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
