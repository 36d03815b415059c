"""Parsers of fault arguments, each checking against what the sandbox really has.

A resource type must be one the sandbox serves (declared by one of its CapabilityStatements), a
version one it answers, a rule one its token endpoint checks. A parser raises FaultError naming
what is wrong and, where there is one, the nearest valid value.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from .. import documents
from .core import Arg, FaultError, did_you_mean

FHIR_VERSIONS: tuple[str, ...] = ("R4", "STU3", "DSTU2")
#: The discovery documents a fault can name.
DOCUMENTS: tuple[str, ...] = ("smart-configuration", "metadata")

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ELEMENT = re.compile(r"^[a-z_][A-Za-z0-9_]*(\[x\])?(\.[a-z_][A-Za-z0-9_]*(\[x\])?)*$")


@lru_cache(maxsize=None)
def served_types(version: str | None = None) -> tuple[str, ...]:
    """Resource types the sandbox serves: those its CapabilityStatement (of ``version``, or of
    any version) declares."""
    versions = (version,) if version else FHIR_VERSIONS
    return tuple(sorted({t for v in versions for t in documents.declared_interactions(v)}))


@lru_cache(maxsize=None)
def declared_params() -> tuple[str, ...]:
    """Search parameter names any of the sandbox's CapabilityStatements declares."""
    return tuple(sorted({name for v in FHIR_VERSIONS for names in documents.declared_search_params(v).values()
                         for name in names}))


def search_param(text: str) -> str:
    known = declared_params()
    if text not in known:
        raise FaultError(f"{text!r} is not a search parameter the sandbox declares{did_you_mean(text, known)}")
    return text


def resource_type(text: str) -> str:
    known = served_types()
    if text not in known:
        raise FaultError(f"{text!r} is not a resource type the sandbox serves{did_you_mean(text, known)}")
    return text


def version(text: str) -> str:
    if text not in FHIR_VERSIONS:
        raise FaultError(f"{text!r} is not one of {', '.join(FHIR_VERSIONS)}{did_you_mean(text, FHIR_VERSIONS)}")
    return text


def document(text: str) -> str:
    if text not in DOCUMENTS:
        raise FaultError(f"{text!r} is not one of {', '.join(DOCUMENTS)}{did_you_mean(text, DOCUMENTS)}")
    return text


def field_name(text: str) -> str:
    if not _FIELD.match(text):
        raise FaultError(f"{text!r} is not a field name")
    return text


def dotted_path(text: str) -> str:
    if not _PATH.match(text):
        raise FaultError(f"{text!r} is not a dotted element path such as software.version")
    return text


def element_path(text: str) -> str:
    """A FHIR element path below the resource (``class``, ``name.family``, ``occurrence[x]``); a
    leading resource type (``Coverage.class``) is left out."""
    head, dot, rest = text.partition(".")
    path = rest if dot and head[:1].isupper() else text
    if not _ELEMENT.match(path):
        raise FaultError(f"{text!r} is not an element path such as class, name.family or occurrence[x]")
    return path


def json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaultError(f"{text!r} is not a JSON value: {exc.msg}") from None


def text_value(text: str) -> str:
    """A JSON string (for newlines and escapes: ``"a\\nb"``), or the text as it is."""
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FaultError(f"{text!r} starts with a quote but is not a JSON string: {exc.msg}") from None
        if not isinstance(value, str):
            raise FaultError(f"{text!r} is not a JSON string")
        return value
    if not text:
        raise FaultError("the text is empty")
    return text


def media_type(text: str) -> str:
    if "/" not in text:
        raise FaultError(f"{text!r} is not a media type")
    return text


def status(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise FaultError(f"{text!r} is not an HTTP status code") from None
    if not 200 <= value <= 599:
        raise FaultError(f"{value} is not an HTTP status code between 200 and 599")
    return value


def positive(what: str, minimum: int = 1, maximum: int = 10_000_000) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise FaultError(f"{text!r} is not a whole number of {what}") from None
        if not minimum <= value <= maximum:
            raise FaultError(f"the number of {what} must be from {minimum} to {maximum}")
        return value

    return parse


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 600:
        raise FaultError("the delay must be more than 0 and at most 600 seconds")
    return value


def origin(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        raise FaultError(f"{text!r} is not an origin such as https://elsewhere.example")
    return text.rstrip("/")


def redirect_target(text: str) -> str:
    """An absolute http(s) URL to redirect to; ``{host}`` stands for the request's Host and
    ``{path}`` for its path and query (``http://{host}{path}``: the same URL over plain http)."""
    sample = text.replace("{host}", "sandbox.example:1").replace("{path}", "/p")
    parts = urlsplit(sample)
    if parts.scheme not in ("http", "https") or not parts.hostname or "{" in sample or "}" in sample:
        raise FaultError(f"{text!r} is not an http(s) URL (with {{host}} and {{path}} where wanted), such as "
                         "http://169.254.169.254/latest/meta-data/ or http://{host}{path}")
    return text


def pages_by_size(text: str) -> tuple[int, int]:
    """``PAGESxMB``, e.g. ``4x8``: four pages of about 8 MB each."""
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match:
        raise FaultError(f"{text!r} is not PAGESxMB, e.g. 4x8 for four pages of about 8 MB")
    pages, megabytes = int(match[1]), int(match[2])
    if not 1 <= pages <= 100 or not 1 <= megabytes <= 512:
        raise FaultError("PAGESxMB takes 1 to 100 pages of 1 to 512 MB")
    return pages, megabytes


def rule_list(rules: tuple[str, ...]) -> Any:
    """A comma-separated list of token rules."""
    def parse(text: str) -> tuple[str, ...]:
        chosen = tuple(part.strip() for part in text.split(","))
        for rule in chosen:
            if rule not in rules:
                raise FaultError(f"{rule!r} is not a token rule{did_you_mean(rule, rules)} (known: {', '.join(rules)})")
        if len(set(chosen)) != len(chosen):
            raise FaultError(f"{text!r} names a rule twice")
        return chosen

    return parse


TYPE = Arg("TYPE", resource_type)
VERSION = Arg("VERSION", version)
DOCUMENT = Arg("DOCUMENT", document)
