"""What every operation handler shares: reading its ``Parameters``, and being called with only
what it asks for.

A handler is a plain function whose parameter names say what it needs, from
:data:`AVAILABLE`: ``request`` (the FhirRequest), ``route``, ``store`` (the tenant's resources),
``present`` (a Presenter for this request), ``proposals`` ($find's proposed appointments),
``scheduling`` (the SchedulingPolicy). It returns the resource to answer with (or an Answer) and
refuses by raising :class:`~harness.sandbox.outcomes.FhirError`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .. import outcomes
from ..fhir.interactions import json_body
from ..fhir.request import Answer, FhirRequest
from ..outcomes import FhirError

#: The names a handler may ask for.
AVAILABLE = ("request", "route", "store", "present", "proposals", "scheduling")

Handler = Callable[..., "dict[str, Any] | Answer"]


def invoke(handler: Handler, available: Mapping[str, Any]) -> Answer:
    """Call ``handler`` with the dependencies it names; its answer as an Answer."""
    wanted = inspect.signature(handler).parameters
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise TypeError(f"operation handler {handler.__name__} asks for {unknown}; it may ask for {AVAILABLE}")
    result = handler(**{name: available[name] for name in wanted})
    return result if isinstance(result, Answer) else Answer(result)


def resource_of(request: FhirRequest, optional: bool = False) -> dict[str, Any] | None:
    """The FHIR resource in the body (None for an empty body when ``optional``)."""
    if optional and not request.body:
        return None
    body = json_body(request) if request.body else None
    if not isinstance(body, dict) or "resourceType" not in body:
        raise FhirError(400, outcomes.structure("The body must be a FHIR resource."))
    return body


def parameters_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``parameter`` list of a Parameters resource (400 for any other resource)."""
    if body.get("resourceType") != "Parameters":
        raise FhirError(400, outcomes.structure(f"Expected a Parameters resource, got {body['resourceType']!r}."))
    return [p for p in body.get("parameter") or [] if isinstance(p, dict)]


def value(parameter: dict[str, Any]) -> Any:
    """A parameter's ``value[x]``, or its ``resource``."""
    for key, found in parameter.items():
        if key.startswith("value"):
            return found
    return parameter.get("resource")


def named(parameters: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [p for p in parameters if p.get("name") == name]


def first_value(parameters: list[dict[str, Any]], name: str) -> Any:
    """The value of the first parameter called ``name``, or None."""
    found = named(parameters, name)
    return value(found[0]) if found else None


def flag(found: Any) -> bool:
    if isinstance(found, str):
        return found.strip().lower() == "true"
    return bool(found)
