"""Content negotiation as Epic does it, and rendering resources as FHIR JSON or FHIR XML."""

from __future__ import annotations

import json
import re
from typing import Any
from xml.sax.saxutils import quoteattr

from starlette.responses import Response

from . import outcomes

JSON = "application/json"
JSON_UTF8 = "application/json; charset=utf-8"
FHIR_JSON_UTF8 = "application/fhir+json; charset=utf-8"
FHIR_XML_UTF8 = "application/fhir+xml; charset=utf-8"
XML = "application/xml"
HTML = "text/html"

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
_FORMAT_PARAM = {"json": FHIR_JSON_UTF8, "xml": XML, **_JSON_TYPES, **_XML_TYPES}


def negotiate(accept: str | None, format_param: str | None = None) -> str:
    """The Content-Type Epic answers with: JSON only when asked for, otherwise XML."""
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


def render(resource: dict[str, Any], content_type: str, status_code: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    """``resource`` as JSON or FHIR XML, with exactly ``content_type``."""
    if is_json(content_type):
        body = json.dumps(resource, ensure_ascii=False).encode("utf-8")
    else:
        body = to_fhir_xml(resource).encode("utf-8")
    return Response(body, status_code=status_code, headers={**(headers or {}), "content-type": content_type})


def json_response(document: Any, status_code: int = 200, content_type: str = JSON,
                  prefix: bytes = b"") -> Response:
    body = prefix + json.dumps(document, ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status_code, headers={"content-type": content_type})


def html(page: str, status_code: int | None = None) -> Response:
    """One of Epic's HTML pages (``outcomes.PAGES``), with its usual status unless told."""
    status = status_code if status_code is not None else outcomes.PAGE_STATUS[page]
    return Response(outcomes.page(page), status_code=status, media_type=HTML)


# --- FHIR XML ---------------------------------------------------------------------------------

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


#: Characters XML 1.0 cannot carry at all (C0 controls but tab, line feed, carriage return).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _primitive(value: Any) -> str:
    """A primitive's text; characters XML cannot carry become U+FFFD, so the document stays
    well-formed (JSON carries them as they are)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


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
