"""What a FHIR request asks for: the interaction, the resource type and id, the operation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qsl

from .. import documents
from .request import FhirRequest


class Interaction(str, Enum):
    READ = "read"
    SEARCH = "search-type"
    CREATE = "create"
    UPDATE = "update"
    OPERATION = "operation"


#: SMART scope permission letter each interaction needs (operations are enabled by Epic
#: configuration, not by a scope).
SCOPE_LETTER: dict[Interaction, str] = {
    Interaction.READ: "r",
    Interaction.SEARCH: "s",
    Interaction.CREATE: "c",
    Interaction.UPDATE: "u",
}


@dataclass(frozen=True)
class Route:
    interaction: Interaction
    resource_type: str
    resource_id: str | None = None
    operation: str | None = None  # without the leading '$'
    params: tuple[tuple[str, str], ...] = ()


def route(request: FhirRequest) -> Route | None:
    """What ``request`` asks for, or None when Epic would not route it (IIS 404): a type the
    version's CapabilityStatement does not declare, or a path of no interaction."""
    segments = request.segments
    if not segments or segments[0] not in documents.declared_interactions(request.version):
        return None
    resource_type, rest, method = segments[0], segments[1:], request.method
    if not rest:
        if method == "GET":
            return Route(Interaction.SEARCH, resource_type, params=request.query)
        if method == "POST":
            return Route(Interaction.CREATE, resource_type)
        return None
    if len(rest) == 1 and rest[0] == "_search" and method == "POST":
        return Route(Interaction.SEARCH, resource_type, params=form_params(request))
    if rest[-1].startswith("$") and len(rest) <= 2 and method in ("GET", "POST"):
        resource_id = rest[0] if len(rest) == 2 else None
        return Route(Interaction.OPERATION, resource_type, resource_id, rest[-1][1:], request.query)
    if len(rest) == 1 and method == "GET":
        return Route(Interaction.READ, resource_type, rest[0])
    if len(rest) == 1 and method == "PUT":
        return Route(Interaction.UPDATE, resource_type, rest[0])
    return None


def form_params(request: FhirRequest) -> tuple[tuple[str, str], ...]:
    """The parameters of a ``POST _search``: with a form body, Epic ignores query-string
    parameters other than ``_format``."""
    try:
        body = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        body = []
    if not body:
        return request.query
    return tuple(body) + tuple((k, v) for k, v in request.query if k == "_format")
