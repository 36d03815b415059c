"""The read, create and update interactions.

- **read** ``GET {Type}/{id}``: the resource, or 404 with Epic's 59008 OperationOutcome.
- **create** ``POST {Type}``: 201 with ``Location`` and the stored resource (``meta.security``
  marks it patient reported / uncertain reliability, as Epic does).
- **update** ``PUT {Type}/{id}``: 200 with the stored resource; 404 (59008) for an unknown id.
"""

from __future__ import annotations

import json
from typing import Any

from .. import outcomes
from ..outcomes import FhirError
from .present import Presenter
from .request import Answer, FhirRequest
from .routing import Route
from .store import ResourceStore

#: Security labels Epic puts on resources created through the API.
CREATED_SECURITY = [
    {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "PATRPT",
     "display": "patient reported"},
    {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "UNCERTREL",
     "display": "uncertain reliability"},
]


def read(request: FhirRequest, route: Route, store: ResourceStore, present: Presenter) -> Answer:
    assert route.resource_id is not None
    resource = store.get(request.version, route.resource_type, route.resource_id)
    if resource is None:
        raise FhirError(404, *outcomes.not_found())
    return Answer(present.present(resource))


def create(request: FhirRequest, route: Route, store: ResourceStore, present: Presenter) -> Answer:
    resource = dict(resource_body(request, route.resource_type))
    resource["id"] = store.new_id()
    meta = dict(resource.get("meta") or {})
    meta["security"] = CREATED_SECURITY + [label for label in meta.get("security", ()) if label not in CREATED_SECURITY]
    resource["meta"] = meta
    stored = store.put(request.version, resource)
    return Answer(present.present(stored), 201,
                  {"location": f"{request.base_url}/{route.resource_type}/{stored['id']}"})


def update(request: FhirRequest, route: Route, store: ResourceStore, present: Presenter) -> Answer:
    assert route.resource_id is not None
    if store.get(request.version, route.resource_type, route.resource_id) is None:
        raise FhirError(404, *outcomes.not_found())
    body = resource_body(request, route.resource_type)
    if body.get("id") != route.resource_id:
        raise FhirError(400, outcomes.invalid(
            f"The resource id in the body ({body.get('id')!r}) must be the id in the URL ({route.resource_id!r})."))
    return Answer(present.present(store.put(request.version, body)))


def json_body(request: FhirRequest) -> Any:
    """The request body as JSON (400, Epic's 59105, when it is not)."""
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FhirError(400, outcomes.structure(f"The body is not JSON: {exc}")) from None


def resource_body(request: FhirRequest, resource_type: str) -> dict[str, Any]:
    """The JSON resource of a create or update (400 when it is not a ``resource_type``)."""
    body = json_body(request)
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        got = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        raise FhirError(400, outcomes.structure(f"Expected a {resource_type} resource, got {got!r}."))
    return body
