"""FHIR requests that passed the bearer-token guard: route, check scopes, apply the type's FHIR
policy, dispatch to an interaction or operation, render.

The FHIR hook point: each request reads the :class:`FhirPolicy` of its resource type (statuses,
pages, echoed headers, content types, broken resources, search results, outcome text) and hands
the parts that concern them to search and presentation. Handlers answer with an
:class:`~harness.sandbox.fhir.request.Answer` or raise
:class:`~harness.sandbox.outcomes.FhirError`; this module renders both, in the request's
version and content type.

R4 references are relative; STU3 and DSTU2 references are absolute, built like every other URL
from the request's root.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .. import negotiation, outcomes
from ..faults import ActiveFaults, Hook
from ..faults.policies import FhirPolicy, SchedulingPolicy
from ..operations import OPERATIONS, Proposals
from ..operations.base import invoke
from ..outcomes import FhirError
from ..population import Population
from ..token.scopes import permits
from . import interactions, search
from .paging import Pager
from .present import Presenter
from .request import Answer, FhirRequest
from .routing import SCOPE_LETTER, Interaction, Route, route
from .sessions import SearchSessions
from .store import ResourceStore

INSUFFICIENT_SCOPE = (
    'Bearer error="insufficient_scope", '
    'error_description="The access token provided is valid, but is not authorized for this service"'
)
#: Scope letters of the interactions that write.
WRITE_LETTERS = frozenset("cud")


def insufficient_scope() -> Response:
    """Epic's answer to a valid token whose scopes do not cover the request: 403, no body."""
    return Response(status_code=403, headers={"www-authenticate": INSUFFICIENT_SCOPE})


class FhirService:
    """Answers authorised FHIR requests from the tenant's resources."""

    def __init__(self, faults: ActiveFaults, population: Population | None = None) -> None:
        self.faults = faults
        self.store = ResourceStore(population)
        self.sessions = SearchSessions()
        self.pager = Pager(faults, self.sessions)
        self.proposals = Proposals()

    def policy(self, resource_type: str) -> FhirPolicy:
        return self.faults.policy(Hook.FHIR, FhirPolicy, resource_type)

    async def handle(self, request: FhirRequest) -> Response:
        found = route(request)
        if found is None or self.policy(found.resource_type).not_served:
            return negotiation.html("iis-404")
        policy = self.policy(found.resource_type)
        letter = SCOPE_LETTER.get(found.interaction)
        if letter and not permits(request.scopes, found.resource_type, letter) \
                and not (policy.unscoped_writes and letter in WRITE_LETTERS):
            return insufficient_scope()
        if found.interaction is Interaction.READ and found.resource_id is not None:
            allowed = search.scope_filter(request.scopes, found.resource_type, "r")
            resource = self.store.get(request.version, found.resource_type, found.resource_id)
            if allowed is not None and resource is not None and not allowed(resource):
                return insufficient_scope()  # outside the categories the token is narrowed to
        try:
            answer = self._answer(request, found, policy)
        except FhirError as error:
            if error.page is not None:
                return negotiation.html(error.page, error.status)
            answer = Answer(outcomes.operation_outcome(*error.issues), error.status, error.headers)
        response = negotiation.render(self._finish(answer.body, request.version, policy), request.content_type,
                                      answer.status, answer.headers)
        if policy.content_type is not None:
            response.headers["content-type"] = policy.content_type
        return response

    def _answer(self, request: FhirRequest, found: Route, policy: FhirPolicy) -> Answer:
        if policy.page is not None:
            raise FhirError(outcomes.PAGE_STATUS[policy.page], page=policy.page)
        if policy.echo_authorization:
            raise FhirError(500, outcomes.plain_issue(
                "fatal", "exception", f"The request could not be processed. Request headers: "
                f"Authorization: {request.header('authorization', '')}"))
        if policy.status is not None:
            raise FhirError(policy.status, outcomes.plain_issue(
                "fatal" if policy.status >= 400 else "information",
                "exception" if policy.status >= 500 else "processing",
                f"{found.resource_type} requests cannot be processed right now (HTTP {policy.status})."))
        present = Presenter(request, self.policy)
        if found.interaction is Interaction.READ:
            return interactions.read(request, found, self.store, present)
        if found.interaction is Interaction.SEARCH:
            return search.search(request, found, self.store, self.pager, policy, present)
        if found.interaction is Interaction.CREATE:
            return interactions.create(request, found, self.store, present)
        if found.interaction is Interaction.UPDATE:
            return interactions.update(request, found, self.store, present)
        return self._operation(request, found, present)

    def _operation(self, request: FhirRequest, found: Route, present: Presenter) -> Answer:
        handler = OPERATIONS.get((request.version, found.resource_type, found.operation or ""))
        if handler is None:
            raise FhirError(501, outcomes.not_supported(f"{found.resource_type} ${found.operation}"))
        if request.method != "POST":
            raise FhirError(405, outcomes.invalid(f"${found.operation} must be invoked with POST."),
                            headers={"allow": "POST"})
        return invoke(handler, {
            "request": request, "route": found, "store": self.store, "present": present,
            "proposals": self.proposals,
            "scheduling": self.faults.policy(Hook.OPERATION, SchedulingPolicy),
        })

    @staticmethod
    def _finish(body: dict[str, Any], version: str, policy: FhirPolicy) -> dict[str, Any]:
        """Every OperationOutcome in ``body`` (itself, or a searchset entry) as ``version`` allows
        it, with the policy's diagnostics."""
        found = [body] if body.get("resourceType") == "OperationOutcome" else [
            entry["resource"] for entry in body.get("entry", ())
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
            and entry["resource"].get("resourceType") == "OperationOutcome"]
        for outcome in found:
            outcomes.for_version(outcome, version)
            if policy.diagnostics is not None:
                for issue in outcome.get("issue", ()):
                    issue["diagnostics"] = policy.diagnostics
        return body
