"""FHIR requests that passed the bearer-token guard.

:class:`FhirService` classifies a request (read, search, create, update, operation), refuses
interactions the token's scopes do not allow (403 ``insufficient_scope``, no body), applies the
per-type faults, and answers from the tenant's resources (``store.py`` over ``population.py``) the
way Epic does:

- **read** ``GET {Type}/{id}``: the resource, or 404 with Epic's 59008 OperationOutcome.
- **search** ``GET {Type}?...`` or ``POST {Type}/_search`` (form body): a ``searchset`` Bundle whose
  ``total`` counts the entries of this page (Epic's quirk), entries with ``fullUrl`` and
  ``search.mode: match``, links ``next`` (opaque ``{base}/{Type}?sessionID=...``, see
  ``paging.py``) and ``self``; when nothing matches, a total of 0 and one ``search.mode: outcome``
  entry with Epic's 4101. Pages hold 1000 entries unless ``_count`` says otherwise. Unknown
  parameters are ignored, except on Patient and Observation (400, 59100); parameters the
  CapabilityStatement lists are never unknown. A Patient search needs demographics, ``_id`` or
  ``identifier`` (400, 59159). A date that is no date is refused (400, 4100).
- **create** ``POST {Type}``: 201 with ``Location`` and the stored resource (``meta.security``
  marks it patient reported / uncertain reliability, as Epic does).
- **update** ``PUT {Type}/{id}``: 200 with the stored resource; 404 (59008) for an unknown id.
- **operations**: ``Patient/$match``, ``Questionnaire/$next-question``,
  ``Questionnaire/$questionnaire-package``, ``Questionnaire/$log-questionnaire-errors`` (R4,
  ``operations.py``) and ``Appointment/$find``, ``Appointment/$book`` (STU3, ``scheduling.py``);
  others are answered 501.

R4 references are relative; STU3 and DSTU2 references are absolute, built like every other URL
from the request's root.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.responses import Response

from . import documents, search, urls
from .faults import ActiveFaults
from .oauth import permits
from .paging import SearchSession, SearchSessions
from .population import Population
from .scheduling import Proposals
from .settings import SandboxSettings
from .store import ResourceStore
from .versions import absolute_references

INSUFFICIENT_SCOPE = (
    'Bearer error="insufficient_scope", '
    'error_description="The access token provided is valid, but is not authorized for this service"'
)

#: Entries per page when the search has no ``_count``.
DEFAULT_PAGE_SIZE = 1000
#: Resource types whose searches refuse unknown parameters (400, 59100) instead of ignoring them.
STRICT_PARAMETER_TYPES = frozenset({"Patient", "Observation"})
#: What a Patient search must carry one of (otherwise 400, 59159).
PATIENT_SEARCH_ANCHORS = frozenset({
    "_id", "identifier", "family", "given", "name", "own-name", "birthdate", "telecom", "phone",
    "email", "address", "address-city", "address-state", "address-postalcode",
})
#: Security labels Epic puts on resources created through the API.
CREATED_SECURITY = [
    {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "PATRPT",
     "display": "patient reported"},
    {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "UNCERTREL",
     "display": "uncertain reliability"},
]
#: Search parameters whose value names the API context of a search (for 59204's diagnostics).
CONTEXT_PARAMS = ("category", "code", "service-category")


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

    @property
    def root(self) -> str:
        """The Interconnect root this request came in under."""
        return self.base_url.rsplit("/api/FHIR/", 1)[0]


@dataclass(frozen=True)
class Route:
    interaction: Interaction
    resource_type: str
    resource_id: str | None = None
    operation: str | None = None  # without the leading '$'
    params: tuple[tuple[str, str], ...] = ()


class FhirService:
    """Answers authorised FHIR requests from the tenant's population."""

    def __init__(
        self, settings: SandboxSettings, faults: ActiveFaults, population: Population | None = None
    ) -> None:
        self.settings = settings
        self.faults = faults
        self.store = ResourceStore(population)
        self.sessions = SearchSessions()
        self.proposals = Proposals()

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
        broken = self.broken_type(request, route.resource_type)
        if broken is not None:
            return broken
        if route.interaction is Interaction.READ:
            response = await self.read(request, route)
        elif route.interaction is Interaction.SEARCH:
            response = await self.search(request, route)
        elif route.interaction is Interaction.CREATE:
            response = await self.create(request, route)
        elif route.interaction is Interaction.UPDATE:
            response = await self.update(request, route)
        else:
            response = await self.operation(request, route)
        content_type = self.faults.value_for("fhir-content-type", route.resource_type)
        if content_type is not None:
            response.headers["content-type"] = content_type
        return response

    def broken_type(self, request: FhirRequest, resource_type: str) -> Response | None:
        """The answer of a type switched to an error status by a fault, if it is."""
        if self.faults.on("fhir-html-500", resource_type):
            return documents.html_500()
        status = self.faults.value_for("fhir-status", resource_type)
        if status is None:
            return None
        issue = {
            "severity": "fatal" if status >= 400 else "information",
            "code": "exception" if status >= 500 else "processing",
            "diagnostics": f"{resource_type} requests cannot be processed right now (HTTP {status}).",
        }
        return self.outcome(request, status, issue)

    # -- interactions --

    async def read(self, request: FhirRequest, route: Route) -> Response:
        assert route.resource_id is not None
        resource = self.store.get(request.version, route.resource_type, route.resource_id)
        if resource is None:
            return self.not_found(request)
        return documents.render(self.present(request, resource), request.content_type)

    async def search(self, request: FhirRequest, route: Route) -> Response:
        params = route.params
        session_id = next((value for name, value in params if name == "sessionID"), None)
        if session_id is not None:
            return self.next_page(request, route, session_id)
        declared = documents.declared_search_params(request.version).get(route.resource_type, frozenset())
        query = search.parse(route.resource_type, params, declared)
        if query.invalid and self.faults.on("fhir-500-on-malformed", route.resource_type):
            return documents.html_500()  # a tenant that crashes on a value it cannot parse
        issues = [documents.invalid_parameter_issue(name, value) for name, value in query.invalid]
        if route.resource_type in STRICT_PARAMETER_TYPES:
            issues += [documents.unknown_parameter_issue(name) for name in query.unknown]
        if route.resource_type == "Patient" and not (query.names & PATIENT_SEARCH_ANCHORS):
            issues.append(documents.demographics_required_issue())
        if issues:
            return self.outcome(request, 400, *issues)

        resource_type = route.resource_type
        if self.faults.on("fhir-empty", resource_type):
            found: list[dict[str, Any]] = []
        else:
            found = [
                resource
                for resource in self.store.of_type(request.version, resource_type)
                if search.matches(resource, query)
            ]
        outcome: list[dict[str, Any]] = []
        if self.faults.on("fhir-not-authorized", resource_type):
            found = []
            outcome.append(documents.not_authorized_issue(resource_type, self._context(params)))
        if not found:
            outcome.append(documents.no_results_issue())

        self_url = self.self_link(request, route)
        if _param(params, "_summary") == "count":
            bundle = documents.searchset(self_url, [])
            bundle["total"] = len(found)
            bundle.pop("entry")
            return documents.render(bundle, request.content_type)

        page_size = _page_size(params)
        keys = [(resource["resourceType"], resource["id"]) for resource in found]
        session = self._open_session(request, resource_type, keys, page_size)
        entries = [self.entry(request, resource) for resource in found[:page_size]]
        bundle = documents.searchset(
            self_url, entries, *outcome, next_url=self._next_url(request, resource_type, session, 0)
        )
        return documents.render(self._outcomes_for_version(bundle, request.version), request.content_type)

    async def create(self, request: FhirRequest, route: Route) -> Response:
        body = self.read_body(request, route.resource_type)
        if isinstance(body, Response):
            return body
        resource = dict(body)
        resource["id"] = self.store.new_id()
        meta = dict(resource.get("meta") or {})
        security = [label for label in meta.get("security", ()) if label not in CREATED_SECURITY]
        meta["security"] = CREATED_SECURITY + security
        resource["meta"] = meta
        stored = self.store.put(request.version, resource)
        response = documents.render(self.present(request, stored), request.content_type, 201)
        response.headers["location"] = f"{request.base_url}/{route.resource_type}/{stored['id']}"
        return response

    async def update(self, request: FhirRequest, route: Route) -> Response:
        assert route.resource_id is not None
        if self.store.get(request.version, route.resource_type, route.resource_id) is None:
            return self.not_found(request)
        body = self.read_body(request, route.resource_type)
        if isinstance(body, Response):
            return body
        if body.get("id") != route.resource_id:
            return self.outcome(
                request,
                400,
                documents.invalid_issue(
                    f"The resource id in the body ({body.get('id')!r}) must be the id in the URL "
                    f"({route.resource_id!r})."
                ),
            )
        stored = self.store.put(request.version, body)
        return documents.render(self.present(request, stored), request.content_type)

    async def operation(self, request: FhirRequest, route: Route) -> Response:
        from .operations import OPERATIONS

        handler = OPERATIONS.get((request.version, route.resource_type, route.operation or ""))
        if handler is None:
            return self.not_supported(request, route)
        if request.method != "POST":
            response = self.outcome(
                request,
                405,
                documents.invalid_issue(f"${route.operation} must be invoked with POST."),
            )
            response.headers["allow"] = "POST"
            return response
        return handler(self, request, route)

    # -- paging --

    def _open_session(
        self, request: FhirRequest, resource_type: str, keys: list[tuple[str, str]], page_size: int
    ) -> SearchSession | None:
        if not keys:
            return None
        faulty = any(
            self.faults.on(name, resource_type)
            for name in ("fhir-looping-next", "fhir-missing-page", "fhir-duplicate-entries")
        )
        if self.faults.on("fhir-duplicate-entries", resource_type):
            # page 2 repeats page 1, even when everything fits on one page
            page_size = min(page_size, len(keys))
            keys = keys[:page_size] + keys
        if len(keys) <= page_size and not faulty:
            return None
        return self.sessions.open(request.version, resource_type, keys, page_size)

    def _next_url(
        self, request: FhirRequest, resource_type: str, session: SearchSession | None, offset: int
    ) -> str | None:
        if session is None:
            return None
        if self.faults.on("fhir-looping-next", resource_type):
            token = self.sessions.token(session, 0)
        elif self.faults.on("fhir-missing-page", resource_type):
            token = self.sessions.dead_token()
        elif session.has_more(offset):
            token = self.sessions.token(session, offset + session.page_size)
        else:
            return None
        return self.session_url(request, resource_type, token)

    @staticmethod
    def session_url(request: FhirRequest, resource_type: str, token: str) -> str:
        return f"{request.base_url}/{resource_type}?sessionID={token}"

    def next_page(self, request: FhirRequest, route: Route, token: str) -> Response:
        found = self.sessions.lookup(token)
        if found is None:
            return self.outcome(request, 404, documents.session_expired_issue())
        session, offset = found
        if session.resource_type != route.resource_type or session.version != request.version:
            return self.outcome(request, 404, documents.session_expired_issue())
        entries = []
        for resource_type, resource_id in session.page(offset):
            resource = self.store.get(session.version, resource_type, resource_id)
            if resource is not None:
                entries.append(self.entry(request, resource))
        bundle = documents.searchset(
            self.session_url(request, route.resource_type, token),
            entries,
            next_url=self._next_url(request, route.resource_type, session, offset),
        )
        return documents.render(bundle, request.content_type)

    # -- presenting resources --

    def present(self, request: FhirRequest, resource: dict[str, Any]) -> dict[str, Any]:
        """``resource`` as this request sees it: absolute references outside R4, URLs under the
        request's root, and the ``fhir-invalid`` fault applied."""
        shown = copy.deepcopy(resource)
        if request.version != "R4":
            shown = absolute_references(shown, request.base_url)
        shown = urls.rewrite(shown, request.root)
        if self.faults.on("fhir-invalid", shown.get("resourceType", "")):
            _break_schema(shown)
        return shown

    def entry(self, request: FhirRequest, resource: dict[str, Any]) -> dict[str, Any]:
        full_url = f"{request.base_url}/{resource['resourceType']}/{resource['id']}"
        return {
            "link": [{"relation": "self", "url": full_url}],
            "fullUrl": full_url,
            "resource": self.present(request, resource),
            "search": {"mode": "match"},
        }

    # -- helpers --

    def read_body(self, request: FhirRequest, resource_type: str) -> dict[str, Any] | Response:
        """The JSON resource of a create or update, or the 400 answer saying why not."""
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return self.outcome(request, 400, documents.structure_issue(f"The body is not JSON: {exc}"))
        if not isinstance(body, dict) or body.get("resourceType") != resource_type:
            got = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
            return self.outcome(
                request,
                400,
                documents.structure_issue(f"Expected a {resource_type} resource, got {got!r}."),
            )
        return body

    def outcome(self, request: FhirRequest, status: int, *issues: dict[str, Any]) -> Response:
        body = documents.for_version(documents.operation_outcome(*issues), request.version)
        return documents.render(body, request.content_type, status)

    def not_found(self, request: FhirRequest) -> Response:
        body = documents.for_version(documents.not_found_outcome(), request.version)
        return documents.render(body, request.content_type, 404)

    @staticmethod
    def _outcomes_for_version(bundle: dict[str, Any], version: str) -> dict[str, Any]:
        for entry in bundle.get("entry", ()):
            if entry["resource"].get("resourceType") == "OperationOutcome":
                documents.for_version(entry["resource"], version)
        return bundle

    @staticmethod
    def _context(params: tuple[tuple[str, str], ...]) -> str:
        for name in CONTEXT_PARAMS:
            value = _param(params, name)
            if value:
                code = value.split("|")[-1]
                return " ".join(part.capitalize() for part in code.replace("_", "-").split("-"))
        return "Outside Record"

    @staticmethod
    def self_link(request: FhirRequest, route: Route) -> str:
        """Epic's ``self`` link: the search parameters sorted by their upper-cased names."""
        url = f"{request.base_url}/{route.resource_type}"
        params = sorted(route.params, key=lambda pair: pair[0].upper())
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

    def not_supported(self, request: FhirRequest, route: Route) -> Response:
        what = route.operation and f"${route.operation}" or route.interaction.value
        issue = {
            "severity": "fatal",
            "code": "not-supported",
            "diagnostics": f"{route.resource_type} {what} is not available on this tenant.",
        }
        return self.outcome(request, 501, issue)


def _param(params: tuple[tuple[str, str], ...], name: str) -> str | None:
    return next((value for key, value in params if key == name), None)


def _page_size(params: tuple[tuple[str, str], ...]) -> int:
    raw = _param(params, "_count")
    try:
        size = int(raw) if raw is not None else DEFAULT_PAGE_SIZE
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size > 0 else DEFAULT_PAGE_SIZE


def _break_schema(resource: dict[str, Any]) -> None:
    """What ``fhir-invalid`` does: wrong JSON types and an element FHIR does not define."""
    resource["language"] = 1033  # a Windows locale id where a code (a string) belongs
    resource["epicInternalId"] = {"value": resource.get("id")}
    if isinstance(resource.get("birthDate"), str):
        resource["birthDate"] = int(resource["birthDate"].replace("-", ""))
