"""Resources as one request sees them: absolute references outside R4, URLs under the request's
root, searchset entries, and (by the FHIR policy of their type) elements left out or resources
that break the schema."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .. import urls
from ..faults.policies import FhirPolicy
from ..population.versions import absolute_references
from .request import FhirRequest


class Presenter:
    """Presents resources for one request. ``policy(type)`` is the type's FHIR policy: whether its
    resources are to break the FHIR schema, and the edits (elements left out) made to each."""

    def __init__(self, request: FhirRequest, policy: Callable[[str], FhirPolicy]) -> None:
        self.request = request
        self.policy = policy

    def present(self, resource: dict[str, Any]) -> dict[str, Any]:
        shown = copy.deepcopy(resource)
        if self.request.version != "R4":
            shown = absolute_references(shown, self.request.base_url)
        shown = urls.rewrite(shown, self.request.root)
        policy = self.policy(str(shown.get("resourceType", "")))
        for edit in policy.edits:
            edit(shown)
        if policy.invalid:
            break_schema(shown)
        return shown

    def full_url(self, resource: dict[str, Any]) -> str:
        return f"{self.request.base_url}/{resource['resourceType']}/{resource['id']}"

    def entry(self, resource: dict[str, Any], mode: str = "match") -> dict[str, Any]:
        full_url = self.full_url(resource)
        return {
            "link": [{"relation": "self", "url": full_url}],
            "fullUrl": full_url,
            "resource": self.present(resource),
            "search": {"mode": mode},
        }


def break_schema(resource: dict[str, Any]) -> None:
    """Wrong JSON types and an element FHIR does not define (the ``fhir-invalid`` fault)."""
    resource["language"] = 1033  # a Windows locale id where a code (a string) belongs
    resource["epicInternalId"] = {"value": resource.get("id")}
    if isinstance(resource.get("birthDate"), str):
        resource["birthDate"] = int(resource["birthDate"].replace("-", ""))
