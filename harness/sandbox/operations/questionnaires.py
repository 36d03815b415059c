"""The questionnaire operations (R4, SDC / Da Vinci DTR).

- ``Questionnaire/$next-question``: a QuestionnaireResponse with a contained Questionnaire in (as
  the ``questionnaire-response`` parameter, or as the body itself); the same QuestionnaireResponse
  out, with the next question added to the contained Questionnaire and, still unanswered, to its
  items; ``completed`` once every question is answered.
- ``Questionnaire/$questionnaire-package``: a ``Parameters`` with one ``packagebundle`` (a
  collection Bundle: the Questionnaire and a draft QuestionnaireResponse) per questionnaire asked
  for, or for every active questionnaire when none is named.
- ``Questionnaire/$log-questionnaire-errors``: takes the questionnaire and an OperationOutcome,
  answers 200 with an informational OperationOutcome.

Questionnaires are named by canonical URL (``url|version``) or by reference (``Questionnaire/<id>``).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from .. import outcomes
from ..fhir.present import Presenter
from ..fhir.request import FhirRequest
from ..fhir.routing import Route
from ..fhir.store import ResourceStore
from ..outcomes import FhirError
from ..population.versions import relative_reference
from .base import named, parameters_of, resource_of, value


def _questionnaires(store: ResourceStore, request: FhirRequest) -> list[dict[str, Any]]:
    return store.of_type(request.version, "Questionnaire")


def _by_canonical(store: ResourceStore, request: FhirRequest, canonical: str) -> dict[str, Any] | None:
    """The Questionnaire a canonical URL names, or a reference to one (``Questionnaire/<id>``,
    relative or absolute)."""
    url, _, version = canonical.partition("|")
    for questionnaire in _questionnaires(store, request):
        if questionnaire.get("url") == url and (not version or questionnaire.get("version") == version):
            return questionnaire
    reference = relative_reference(url)
    if reference.startswith("Questionnaire/"):
        return store.get(request.version, "Questionnaire", reference.split("/", 1)[1])
    return None


def _source_questionnaire(store: ResourceStore, request: FhirRequest, response: dict[str, Any],
                          contained: dict[str, Any] | None) -> dict[str, Any] | None:
    candidates: list[str] = []
    if contained:
        candidates += [contained.get("url") or ""] + list(contained.get("derivedFrom") or ())
    candidates.append(response.get("questionnaire") or "")
    for canonical in candidates:
        if canonical and not canonical.startswith("#"):
            found = _by_canonical(store, request, canonical)
            if found:
                return found
    if contained and contained.get("name"):
        for questionnaire in _questionnaires(store, request):
            if questionnaire.get("name") == contained["name"]:
                return questionnaire
    return None


def _answered(items: list[dict[str, Any]]) -> set[str]:
    done: set[str] = set()
    for item in items:
        if item.get("answer"):
            done.add(str(item.get("linkId")))
        done |= _answered(item.get("item") or [])
    return done


def _response_in(body: dict[str, Any]) -> dict[str, Any]:
    if body["resourceType"] == "QuestionnaireResponse":
        return body
    for parameter in parameters_of(body):
        resource = parameter.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") == "QuestionnaireResponse":
            return resource
    raise FhirError(400, outcomes.required("questionnaire-response"))


def next_question(request: FhirRequest, route: Route, store: ResourceStore) -> dict[str, Any]:
    body = resource_of(request)
    assert body is not None
    response = copy.deepcopy(_response_in(body))
    contained_list = response.setdefault("contained", [])
    contained = next((r for r in contained_list if r.get("resourceType") == "Questionnaire"), None)
    source = _source_questionnaire(store, request, response, contained)
    if source is None and route.resource_id:
        source = store.get(request.version, "Questionnaire", route.resource_id)
    if source is None:
        raise FhirError(400, outcomes.invalid(
            "The QuestionnaireResponse does not name a questionnaire this tenant knows "
            "(questionnaire, or the contained Questionnaire's url or derivedFrom)."))
    if contained is None:
        contained = {"resourceType": "Questionnaire", "id": "adaptive", "status": "active"}
        contained_list.append(contained)
    contained.setdefault("id", "adaptive")
    contained.setdefault("status", "active")
    contained.setdefault("url", source.get("url"))
    contained.setdefault("title", source.get("title"))
    if source.get("url") and not contained.get("derivedFrom"):
        contained["derivedFrom"] = [f"{source['url']}|{source.get('version', '1')}"]
    response["questionnaire"] = f"#{contained['id']}"

    presented = contained.setdefault("item", [])
    asked = {str(item.get("linkId")) for item in presented}
    answered = _answered(response.get("item") or [])
    waiting = [item for item in presented if str(item.get("linkId")) not in answered]
    remaining = [item for item in source.get("item", ()) if str(item.get("linkId")) not in answered]
    if not remaining:
        response["status"] = "completed"
    else:
        response["status"] = "in-progress"
        if not waiting:
            following = next((item for item in remaining if str(item.get("linkId")) not in asked), None)
            if following is not None:
                presented.append(copy.deepcopy(following))
                # the question also appears, unanswered, among the response's items
                response.setdefault("item", []).append({"linkId": following["linkId"],
                                                        "text": following.get("text", "")})
    if not presented:
        contained.pop("item")
    if not response.get("item"):
        response.pop("item", None)
    return response


def questionnaire_package(request: FhirRequest, route: Route, store: ResourceStore,
                          present: Presenter) -> dict[str, Any]:
    body = resource_of(request, optional=True)
    parameters = parameters_of(body) if body else []
    asked = [str(value(p)) for p in named(parameters, "questionnaire") if value(p)]
    coverage = next((p.get("resource") for p in named(parameters, "coverage") if isinstance(p.get("resource"), dict)),
                    None)
    issues: list[dict[str, Any]] = []
    if route.resource_id:
        one = store.get(request.version, "Questionnaire", route.resource_id)
        if one is None:
            raise FhirError(404, *outcomes.not_found())
        chosen = [one]
    elif asked:
        chosen = []
        for canonical in asked:
            found = _by_canonical(store, request, canonical)
            if found is None:
                issues.append(outcomes.plain_issue("warning", "not-found", f"No questionnaire {canonical} on this tenant."))
            elif found not in chosen:
                chosen.append(found)
    else:
        chosen = [q for q in _questionnaires(store, request) if q.get("status") == "active"]
    output = [_package(request, present, questionnaire, coverage) for questionnaire in chosen]
    if issues:
        output.append({"name": "outcome", "resource": outcomes.operation_outcome(*issues)})
    return {"resourceType": "Parameters", "parameter": output}


def _package(request: FhirRequest, present: Presenter, questionnaire: dict[str, Any],
             coverage: dict[str, Any] | None) -> dict[str, Any]:
    draft: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{questionnaire.get('url')}|{questionnaire.get('version', '1')}",
        "status": "in-progress",
    }
    beneficiary = (coverage or {}).get("beneficiary")
    if isinstance(beneficiary, dict) and beneficiary.get("reference"):
        draft["subject"] = {"reference": beneficiary["reference"]}
    seed = str(uuid.uuid5(uuid.NAMESPACE_URL, f"questionnaire-package/{questionnaire['id']}"))
    return {"name": "packagebundle", "resource": {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": present.full_url(questionnaire), "resource": present.present(questionnaire)},
                  {"fullUrl": f"urn:uuid:{seed}", "resource": draft}],
    }}


def log_questionnaire_errors(request: FhirRequest) -> dict[str, Any]:
    body = resource_of(request)
    assert body is not None
    parameters = parameters_of(body)
    canonical = next((value(p) for p in parameters if str(p.get("name", "")).lower() == "questionnaire"
                      and isinstance(value(p), str) and value(p)), None)
    outcome = next((p["resource"] for p in parameters if isinstance(p.get("resource"), dict)
                    and p["resource"].get("resourceType") == "OperationOutcome"), None)
    if not canonical:
        raise FhirError(400, outcomes.required("Questionnaire"))
    if outcome is None:
        raise FhirError(400, outcomes.required("OperationOutcome"))
    count = len(outcome.get("issue") or [])
    return outcomes.operation_outcome(outcomes.plain_issue(
        "information", "informational", f"Logged {count} issue(s) for questionnaire {canonical}."))
