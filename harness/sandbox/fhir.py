"""FHIR requests that passed the bearer-token guard.

:class:`FhirService` is the extension point: it classifies a request (read, search, create,
update, operation), refuses interactions the token's scopes do not allow, and calls one method
per interaction. The tenant shipped here is empty: every read is Epic's 404 (59008), every search
an empty searchset with Epic's 4101 outcome. A populated tenant overrides ``read``, ``search``,
``create``, ``update`` and ``operation``; each receives the :class:`FhirRequest` (version, path,
query, method, body, granted scopes) and returns a Starlette response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.responses import Response

from . import documents
from .faults import ActiveFaults
from .oauth import permits
from .settings import SandboxSettings

INSUFFICIENT_SCOPE = (
    'Bearer error="insufficient_scope", '
    'error_description="The access token provided is valid, but is not authorized for this service"'
)


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
class FhirRequest:
    """One FHIR request below ``{root}/api/FHIR/{version}/``."""

    version: str
    path: str  # below the version base, e.g. "Patient/abc", "Patient", "Appointment/$find"
    query: tuple[tuple[str, str], ...]
    method: str
    body: bytes
    scopes: tuple[str, ...]
    base_url: str  # absolute, e.g. "http://127.0.0.1:53211/api/FHIR/R4"
    headers: Mapping[str, str] = field(default_factory=dict)
    client_id: str | None = None

    @property
    def segments(self) -> list[str]:
        return [segment for segment in self.path.split("/") if segment]

    def header(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return default

    @property
    def content_type(self) -> str:
        """The Content-Type to answer with, negotiated as Epic does."""
        return documents.negotiate(self.header("accept"), dict(self.query).get("_format"))


@dataclass(frozen=True)
class Route:
    interaction: Interaction
    resource_type: str
    resource_id: str | None = None
    operation: str | None = None  # without the leading '$'
    params: tuple[tuple[str, str], ...] = ()


class FhirService:
    """Answers authorised FHIR requests for an empty Epic tenant."""

    def __init__(self, settings: SandboxSettings, faults: ActiveFaults) -> None:
        self.settings = settings
        self.faults = faults

    # -- dispatch --

    def route(self, request: FhirRequest) -> Route | None:
        """What ``request`` asks for, or None when Epic would not route it (IIS 404)."""
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
            return Route(Interaction.SEARCH, resource_type, params=self._form_params(request))
        if rest[-1].startswith("$") and len(rest) <= 2 and method in ("GET", "POST"):
            resource_id = rest[0] if len(rest) == 2 else None
            return Route(Interaction.OPERATION, resource_type, resource_id, rest[-1][1:], request.query)
        if len(rest) == 1 and method == "GET":
            return Route(Interaction.READ, resource_type, rest[0])
        if len(rest) == 1 and method == "PUT":
            return Route(Interaction.UPDATE, resource_type, rest[0])
        return None

    async def handle(self, request: FhirRequest) -> Response:
        route = self.route(request)
        if route is None:
            return documents.html_404()
        letter = SCOPE_LETTER.get(route.interaction)
        if letter and not permits(request.scopes, route.resource_type, letter):
            return Response(status_code=403, headers={"www-authenticate": INSUFFICIENT_SCOPE})
        if route.interaction is Interaction.READ:
            return await self.read(request, route)
        if route.interaction is Interaction.SEARCH:
            return await self.search(request, route)
        if route.interaction is Interaction.CREATE:
            return await self.create(request, route)
        if route.interaction is Interaction.UPDATE:
            return await self.update(request, route)
        return await self.operation(request, route)

    # -- interactions: override these --

    async def read(self, request: FhirRequest, route: Route) -> Response:
        return documents.render(documents.not_found_outcome(), request.content_type, 404)

    async def search(self, request: FhirRequest, route: Route) -> Response:
        bundle = documents.searchset(
            self.self_link(request, route), [], documents.no_results_issue()
        )
        return documents.render(bundle, request.content_type)

    async def create(self, request: FhirRequest, route: Route) -> Response:
        return self.not_supported(request, route)

    async def update(self, request: FhirRequest, route: Route) -> Response:
        return self.not_supported(request, route)

    async def operation(self, request: FhirRequest, route: Route) -> Response:
        return self.not_supported(request, route)

    # -- helpers --

    @staticmethod
    def self_link(request: FhirRequest, route: Route) -> str:
        """Epic's ``self`` link: the search parameters sorted by name."""
        url = f"{request.base_url}/{route.resource_type}"
        params = sorted(route.params, key=lambda pair: pair[0])
        return f"{url}?{urlencode(params, safe=':/|,')}" if params else url

    @staticmethod
    def _form_params(request: FhirRequest) -> tuple[tuple[str, str], ...]:
        try:
            body = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            body = []
        if not body:
            return request.query
        # with a body, Epic ignores query-string parameters other than _format
        return tuple(body) + tuple((k, v) for k, v in request.query if k == "_format")

    @staticmethod
    def not_supported(request: FhirRequest, route: Route) -> Response:
        what = route.operation and f"${route.operation}" or route.interaction.value
        outcome: dict[str, Any] = documents.operation_outcome(
            {
                "severity": "fatal",
                "code": "not-supported",
                "diagnostics": f"{route.resource_type} {what} is not available on this tenant.",
            }
        )
        return documents.render(outcome, request.content_type, 501)
