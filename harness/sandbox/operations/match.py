"""``Patient/$match`` (Epic api 10423).

A ``Parameters`` body with ``resource`` (a partial Patient), ``count`` and ``onlyCertainMatches``.
A certain match (an identifier, or family name, given name and birth date together) comes back as
a searchset with ``search.score`` 1 and the ``match-grade`` extension ``certain``; with
``onlyCertainMatches`` and only possible matches, Epic's 59013 OperationOutcome; no match at all is
a total of 0 with the 4101 outcome.
"""

from __future__ import annotations

from typing import Any

from .. import outcomes
from ..fhir.params import fold
from ..fhir.present import Presenter
from ..fhir.request import FhirRequest
from ..fhir.search import searchset
from ..fhir.store import ResourceStore
from ..outcomes import FhirError
from .base import flag, named, parameters_of, resource_of, value

MATCH_GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"


def _name_key(text: Any) -> str:
    return fold(str(text)).strip()


def _names(patient: dict[str, Any]) -> tuple[set[str], set[str]]:
    families, givens = set(), set()
    for name in patient.get("name") or ():
        if not isinstance(name, dict):
            continue
        family = name.get("family")
        for item in family if isinstance(family, list) else [family]:
            if item:
                families.add(_name_key(item))
        for given in name.get("given") or ():
            givens.add(_name_key(given))
    return families, givens


def _identifier_match(wanted: dict[str, Any], candidate: dict[str, Any]) -> bool:
    have = {(i.get("system"), str(i.get("value", "")).strip()) for i in candidate.get("identifier") or ()}
    for identifier in wanted.get("identifier") or ():
        text = str(identifier.get("value", "")).strip()
        if not text:
            continue
        system = identifier.get("system")
        if any(text == v and (system is None or system == s) for s, v in have):
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


def patient_match(request: FhirRequest, store: ResourceStore, present: Presenter) -> dict[str, Any]:
    body = resource_of(request)
    assert body is not None
    parameters = parameters_of(body)
    resources = [p.get("resource") for p in named(parameters, "resource")]
    wanted = next((r for r in resources if isinstance(r, dict) and r.get("resourceType") == "Patient"), None)
    if wanted is None:
        raise FhirError(400, outcomes.required("resource"))
    counts = [value(p) for p in named(parameters, "count")]
    try:
        count = int(counts[0]) if counts else 10
    except (TypeError, ValueError):
        raise FhirError(400, outcomes.invalid("count must be a whole number")) from None
    only_certain = any(flag(value(p)) for p in named(parameters, "onlyCertainMatches"))

    scored = [(match_score(wanted, candidate), candidate) for candidate in store.of_type(request.version, "Patient")]
    scored = sorted(((s, c) for s, c in scored if s > 0), key=lambda pair: -pair[0])
    certain = [(s, c) for s, c in scored if s >= 1.0]
    if only_certain:
        if not certain and scored:
            raise FhirError(400, outcomes.no_certain_match())
        scored = certain
    entries = []
    for score, candidate in scored[: max(count, 1)]:
        entry = present.entry(candidate)
        entry["search"] = {"extension": [{"url": MATCH_GRADE_URL, "valueCode": _grade(score)}], "mode": "match",
                           "score": score}
        entries.append(entry)
    issues = [] if entries else [outcomes.no_results()]
    return searchset(f"{request.base_url}/Patient/$match", entries, *issues)
