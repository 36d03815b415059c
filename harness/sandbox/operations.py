"""The FHIR operations the sandbox answers, each a function of (service, request, route).

Appointment ``$find`` and ``$book`` (STU3) live in ``scheduling.py``; the R4 ones are here:

- ``Patient/$match`` (Epic api 10423): a ``Parameters`` body with ``resource`` (a partial Patient),
  ``count`` and ``onlyCertainMatches``. A certain match (an identifier, or family name, given name
  and birth date together) comes back as a searchset with ``search.score`` 1 and the ``match-grade``
  extension ``certain``; with ``onlyCertainMatches`` and only possible matches, Epic's 59013
  OperationOutcome; no match at all is a total of 0 with the 4101 outcome.
- ``Questionnaire/$next-question`` (SDC / Da Vinci DTR): a QuestionnaireResponse with a contained
  Questionnaire in (as the ``questionnaire-response`` parameter, or as the body itself); the same
  QuestionnaireResponse out, with the next question added to the contained Questionnaire and, still
  unanswered, to its items; ``completed`` once every question is answered.
- ``Questionnaire/$questionnaire-package`` (DTR): a ``Parameters`` with one ``packagebundle``
  (a collection Bundle: the Questionnaire and a draft QuestionnaireResponse) per questionnaire asked
  for, or for every active questionnaire when none is named.
- ``Questionnaire/$log-questionnaire-errors`` (DTR): takes the questionnaire and an
  OperationOutcome, answers 200 with an informational OperationOutcome.

Questionnaires are named by canonical URL (``url|version``) or by reference (``Questionnaire/<id>``).
"""

from __future__ import annotations

import copy
import json
import unicodedata
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from . import documents
from .scheduling import appointment_book, appointment_find
from .versions import relative_reference

if TYPE_CHECKING:
    from .fhir import FhirRequest, FhirService, Route

MATCH_GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"


class OperationError(Exception):
    def __init__(self, status: int, issue: dict[str, Any]) -> None:
        super().__init__(issue.get("diagnostics", ""))
        self.status = status
        self.issue = issue


def _body(request: FhirRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body.decode("utf-8")) if request.body else None
    except (UnicodeDecodeError, ValueError) as exc:
        raise OperationError(400, documents.structure_issue(f"The body is not JSON: {exc}")) from None
    if not isinstance(body, dict) or "resourceType" not in body:
        raise OperationError(400, documents.structure_issue("The body must be a FHIR resource."))
    return body


def _parameters(body: dict[str, Any]) -> list[dict[str, Any]]:
    if body.get("resourceType") != "Parameters":
        raise OperationError(
            400, documents.structure_issue(f"Expected a Parameters resource, got {body['resourceType']!r}.")
        )
    parameters = body.get("parameter") or []
    return [p for p in parameters if isinstance(p, dict)]


def _value(parameter: dict[str, Any]) -> Any:
    for key, value in parameter.items():
        if key.startswith("value"):
            return value
    return None


def _named(parameters: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [p for p in parameters if p.get("name") == name]


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _guarded(
    handler: Callable[[FhirService, FhirRequest, Route], Response],
) -> Callable[[FhirService, FhirRequest, Route], Response]:
    def run(service: FhirService, request: FhirRequest, route: Route) -> Response:
        try:
            return handler(service, request, route)
        except OperationError as error:
            return service.outcome(request, error.status, error.issue)

    return run


# --- Patient/$match -------------------------------------------------------------------------


def _fold(text: Any) -> str:
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def _names(patient: dict[str, Any]) -> tuple[set[str], set[str]]:
    families, givens = set(), set()
    for name in patient.get("name") or ():
        if not isinstance(name, dict):
            continue
        family = name.get("family")
        for item in family if isinstance(family, list) else [family]:
            if item:
                families.add(_fold(item))
        for given in name.get("given") or ():
            givens.add(_fold(given))
    return families, givens


def _identifier_match(wanted: dict[str, Any], candidate: dict[str, Any]) -> bool:
    have = {(i.get("system"), str(i.get("value", "")).strip()) for i in candidate.get("identifier") or ()}
    for identifier in wanted.get("identifier") or ():
        value = str(identifier.get("value", "")).strip()
        if not value:
            continue
        system = identifier.get("system")
        if any(value == v and (system is None or system == s) for s, v in have):
            return True
    return False


def match_score(wanted: dict[str, Any], candidate: dict[str, Any]) -> float:
    """1.0 for a certain match, 0.8 probable, 0.6 possible, 0 for no match."""
    if _identifier_match(wanted, candidate):
        return 1.0
    want_families, want_givens = _names(wanted)
    have_families, have_givens = _names(candidate)
    family = bool(want_families & have_families)
    given = bool(want_givens & have_givens)
    birth = bool(wanted.get("birthDate")) and wanted.get("birthDate") == candidate.get("birthDate")
    gender_clash = bool(wanted.get("gender")) and wanted.get("gender") != candidate.get("gender")
    if family and given and birth:
        return 0.8 if gender_clash else 1.0
    if sum((family, given, birth)) == 2 and not gender_clash:
        return 0.6
    return 0.0


def _grade(score: float) -> str:
    return "certain" if score >= 1.0 else "probable" if score >= 0.8 else "possible"


@_guarded
def patient_match(service: FhirService, request: FhirRequest, route: Route) -> Response:
    parameters = _parameters(_body(request))
    resources = [p.get("resource") for p in _named(parameters, "resource")]
    wanted = next((r for r in resources if isinstance(r, dict) and r.get("resourceType") == "Patient"), None)
    if wanted is None:
        raise OperationError(400, documents.required_issue("resource"))
    count_values = [_value(p) for p in _named(parameters, "count")]
    try:
        count = int(count_values[0]) if count_values else 10
    except (TypeError, ValueError):
        raise OperationError(400, documents.invalid_issue("count must be a whole number")) from None
    only_certain = any(_flag(_value(p)) for p in _named(parameters, "onlyCertainMatches"))

    scored = [
        (match_score(wanted, candidate), candidate)
        for candidate in service.store.of_type(request.version, "Patient")
    ]
    scored = sorted(((s, c) for s, c in scored if s > 0), key=lambda pair: -pair[0])
    certain = [(s, c) for s, c in scored if s >= 1.0]
    if only_certain:
        if not certain and scored:
            return service.outcome(request, 400, documents.no_certain_match_issue())
        scored = certain
    scored = scored[: max(count, 1)]

    entries = []
    for score, candidate in scored:
        entry = service.entry(request, candidate)
        entry["search"] = {
            "extension": [{"url": MATCH_GRADE_URL, "valueCode": _grade(score)}],
            "mode": "match",
            "score": score,
        }
        entries.append(entry)
    issues = [] if entries else [documents.no_results_issue()]
    bundle = documents.searchset(f"{request.base_url}/Patient/$match", entries, *issues)
    return documents.render(bundle, request.content_type)


# --- Questionnaire operations ----------------------------------------------------------------


def _questionnaires(service: FhirService, request: FhirRequest) -> list[dict[str, Any]]:
    return service.store.of_type(request.version, "Questionnaire")


def _by_canonical(service: FhirService, request: FhirRequest, canonical: str) -> dict[str, Any] | None:
    """The Questionnaire a canonical URL names, or a reference to one (``Questionnaire/<id>``,
    relative or absolute)."""
    url, _, version = canonical.partition("|")
    for questionnaire in _questionnaires(service, request):
        if questionnaire.get("url") == url and (not version or questionnaire.get("version") == version):
            return questionnaire
    reference = relative_reference(url)
    if reference.startswith("Questionnaire/"):
        return service.store.get(request.version, "Questionnaire", reference.split("/", 1)[1])
    return None


def _source_questionnaire(
    service: FhirService, request: FhirRequest, response: dict[str, Any], contained: dict[str, Any] | None
) -> dict[str, Any] | None:
    candidates: list[str] = []
    if contained:
        candidates += [contained.get("url") or ""] + list(contained.get("derivedFrom") or ())
    candidates.append(response.get("questionnaire") or "")
    for canonical in candidates:
        if canonical and not canonical.startswith("#"):
            found = _by_canonical(service, request, canonical)
            if found:
                return found
    if contained and contained.get("name"):
        for questionnaire in _questionnaires(service, request):
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


@_guarded
def next_question(service: FhirService, request: FhirRequest, route: Route) -> Response:
    body = _body(request)
    if body["resourceType"] == "QuestionnaireResponse":
        response = body
    else:
        parameters = _parameters(body)
        response = next(
            (
                p["resource"]
                for p in parameters
                if isinstance(p.get("resource"), dict)
                and p["resource"].get("resourceType") == "QuestionnaireResponse"
            ),
            None,
        )
        if response is None:
            raise OperationError(400, documents.required_issue("questionnaire-response"))
    response = copy.deepcopy(response)
    contained_list = response.setdefault("contained", [])
    contained = next((r for r in contained_list if r.get("resourceType") == "Questionnaire"), None)
    source = _source_questionnaire(service, request, response, contained)
    if source is None and route.resource_id:
        source = service.store.get(request.version, "Questionnaire", route.resource_id)
    if source is None:
        raise OperationError(
            400,
            documents.invalid_issue(
                "The QuestionnaireResponse does not name a questionnaire this tenant knows "
                "(questionnaire, or the contained Questionnaire's url or derivedFrom)."
            ),
        )
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
                items = response.setdefault("item", [])
                items.append({"linkId": following["linkId"], "text": following.get("text", "")})
    if not presented:
        contained.pop("item")
    if not response.get("item"):
        response.pop("item", None)
    return documents.render(response, request.content_type)


@_guarded
def questionnaire_package(service: FhirService, request: FhirRequest, route: Route) -> Response:
    parameters = _parameters(_body(request)) if request.body else []
    asked = [str(_value(p)) for p in _named(parameters, "questionnaire") if _value(p)]
    coverage = next(
        (p.get("resource") for p in _named(parameters, "coverage") if isinstance(p.get("resource"), dict)),
        None,
    )
    issues: list[dict[str, Any]] = []
    if route.resource_id:
        one = service.store.get(request.version, "Questionnaire", route.resource_id)
        if one is None:
            return service.not_found(request)
        chosen = [one]
    elif asked:
        chosen = []
        for canonical in asked:
            found = _by_canonical(service, request, canonical)
            if found is None:
                issues.append({"severity": "warning", "code": "not-found",
                               "diagnostics": f"No questionnaire {canonical} on this tenant."})
            elif found not in chosen:
                chosen.append(found)
    else:
        chosen = [q for q in _questionnaires(service, request) if q.get("status") == "active"]

    output: list[dict[str, Any]] = []
    for questionnaire in chosen:
        shown = service.present(request, questionnaire)
        full_url = f"{request.base_url}/Questionnaire/{questionnaire['id']}"
        draft: dict[str, Any] = {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": f"{questionnaire.get('url')}|{questionnaire.get('version', '1')}",
            "status": "in-progress",
        }
        beneficiary = (coverage or {}).get("beneficiary")
        if isinstance(beneficiary, dict) and beneficiary.get("reference"):
            draft["subject"] = {"reference": beneficiary["reference"]}
        output.append({
            "name": "packagebundle",
            "resource": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"fullUrl": full_url, "resource": shown},
                    {"fullUrl": f"urn:uuid:{_uuid(questionnaire['id'])}", "resource": draft},
                ],
            },
        })
    if issues:
        output.append({"name": "outcome", "resource": documents.operation_outcome(*issues)})
    return documents.render({"resourceType": "Parameters", "parameter": output}, request.content_type)


def _uuid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"questionnaire-package/{seed}"))


@_guarded
def log_questionnaire_errors(service: FhirService, request: FhirRequest, route: Route) -> Response:
    parameters = _parameters(_body(request))
    canonical = next(
        (_value(p) for p in parameters if str(p.get("name", "")).lower() == "questionnaire" and _value(p)), None
    )
    outcome = next(
        (
            p["resource"]
            for p in parameters
            if isinstance(p.get("resource"), dict) and p["resource"].get("resourceType") == "OperationOutcome"
        ),
        None,
    )
    if not canonical:
        raise OperationError(400, documents.required_issue("Questionnaire"))
    if outcome is None:
        raise OperationError(400, documents.required_issue("OperationOutcome"))
    count = len(outcome.get("issue") or [])
    logged = {
        "severity": "information",
        "code": "informational",
        "diagnostics": f"Logged {count} issue(s) for questionnaire {canonical}.",
    }
    return service.outcome(request, 200, logged)


OPERATIONS: dict[tuple[str, str, str], Callable[[FhirService, FhirRequest, Route], Response]] = {
    ("R4", "Patient", "match"): patient_match,
    ("R4", "Questionnaire", "next-question"): next_question,
    ("R4", "Questionnaire", "questionnaire-package"): questionnaire_package,
    ("R4", "Questionnaire", "log-questionnaire-errors"): log_questionnaire_errors,
    ("STU3", "Appointment", "find"): appointment_find,
    ("STU3", "Appointment", "book"): appointment_book,
}
