"""Appointment ``$find`` and ``$book`` (STU3), as Epic's scheduling operations answer them.

``$find`` takes a ``Parameters`` body with Epic's parameter names (``patient`` as a resource,
``startTime``, ``endTime``, ``serviceType``, ``location-reference``; ``indications``,
``specialties`` and ``time-of-day`` are accepted and do not narrow the sandbox's simple rules) and
answers a searchset of *proposed* Appointments, one per free Slot in the window: each has a new id
on every call, one contained Slot, ``slot`` pointing at it, the visit type and absolute participant
references. A visit type the rules do not know gives Epic's 59200 with 4101 (HTTP 200); the
Argonaut spelling ``service-type`` adds Epic's informational 59109. The scheduling policy says
which Decision Support set-up steps are done (hook point of the ``sds-*`` faults).

``$book`` takes ``patient`` and ``appointment`` as identifiers (the appointment id from ``$find``)
and ``appointmentNote``; it books the proposal (the Slot becomes busy, the Appointment is stored and
readable) and answers a searchset with the booked Appointment. An id that is no proposal is Epic's
59144 ``invalid appointment ID``.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

from .. import outcomes
from ..faults.policies import SchedulingPolicy
from ..fhir.present import Presenter
from ..fhir.request import FhirRequest
from ..fhir.search import searchset
from ..fhir.store import ResourceStore
from ..outcomes import FhirError
from ..population import APPOINTMENT_SERVICE_CATEGORY
from ..population.versions import relative_reference
from .base import first_value, parameters_of, resource_of

VISIT_TYPE_SYSTEM_SUFFIX = ".7.3.808267.11"


class Proposals:
    """Appointments proposed by ``$find`` and not booked yet: id -> (appointment, slot id). Only
    the most recent ``capacity`` proposals are kept, as Epic keeps them only for a while."""

    def __init__(self, capacity: int = 2000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[dict[str, Any], str]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, appointment: dict[str, Any], slot_id: str) -> None:
        with self._lock:
            self._items[appointment["id"]] = (appointment, slot_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def take(self, appointment_id: str) -> tuple[dict[str, Any], str] | None:
        with self._lock:
            return self._items.pop(appointment_id, None)


def _parameters(request: FhirRequest) -> list[dict[str, Any]]:
    body = resource_of(request)
    assert body is not None
    if body.get("resourceType") != "Parameters":
        raise FhirError(400, outcomes.structure("The body must be a Parameters resource."))
    return parameters_of(body)


def _visit_types(store: ResourceStore, request: FhirRequest) -> tuple[set[str], set[str]]:
    """The visit type codes and names the slots are built for."""
    codes, names = set(), set()
    for slot in store.of_type(request.version, "Slot"):
        for concept in slot.get("serviceType", ()):
            names.add(str(concept.get("text", "")).casefold())
            for coding in concept.get("coding", ()):
                codes.add(str(coding.get("code", "")))
                names.add(str(coding.get("display", "")).casefold())
    return codes, names


def _known_visit_type(wanted: Any, known: tuple[set[str], set[str]]) -> bool:
    """Can the rules tell the visit type? Codes count in Epic's visit type system (any
    organisation's) or with no system; a concept with text only is matched by name."""
    if wanted is None:
        return True
    if not isinstance(wanted, dict):
        return False
    codes, names = known
    for coding in wanted.get("coding") or ():
        system = str(coding.get("system") or "")
        if str(coding.get("code", "")) in codes and (not system or system.endswith(VISIT_TYPE_SYSTEM_SUFFIX)):
            return True
    return not wanted.get("coding") and str(wanted.get("text", "")).casefold() in names


def _schedule_actors(store: ResourceStore, request: FhirRequest, slot: dict[str, Any]) -> list[dict[str, Any]]:
    schedule_ref = relative_reference(slot["schedule"]["reference"])
    schedule = store.get(request.version, "Schedule", schedule_ref.split("/", 1)[1])
    return list(schedule.get("actor", ())) if schedule else []


def _patient_reference(store: ResourceStore, request: FhirRequest, patient: Any) -> dict[str, Any] | None:
    """The stored patient a ``patient`` parameter (a Patient resource) names, if any."""
    if not isinstance(patient, dict):
        return None
    candidates = [str(patient["id"])] if patient.get("id") else []
    candidates += [str(i["value"]) for i in patient.get("identifier") or () if isinstance(i, dict) and i.get("value")]
    for candidate in candidates:
        found = store.get(request.version, "Patient", candidate) or next(
            (p for p in store.of_type(request.version, "Patient")
             if any(i.get("value") == candidate for i in p.get("identifier", ()))), None)
        if found is not None:
            return {"reference": f"Patient/{found['id']}", "display": found["name"][0].get("text", "")}
    return None


def _reference_id(found: Any) -> str | None:
    if isinstance(found, dict) and isinstance(found.get("reference"), str):
        return found["reference"].rstrip("/").rsplit("/", 1)[-1]
    return None


def _decision_tree_failure(self_url: str, code: str, display: str, diagnostics: str) -> dict[str, Any]:
    issue = outcomes.epic_issue("warning", "not-found", code, display, diagnostics)
    return searchset(self_url, [], issue, outcomes.no_results())


def appointment_find(request: FhirRequest, store: ResourceStore, present: Presenter, proposals: Proposals,
                     scheduling: SchedulingPolicy) -> dict[str, Any]:
    parameters = _parameters(request)
    start = str(first_value(parameters, "startTime") or "")
    end = str(first_value(parameters, "endTime") or "")
    location = first_value(parameters, "location-reference")
    location_ref = relative_reference(location["reference"]) if _reference_id(location) else None
    provider_id = _reference_id(first_value(parameters, "practitioner"))
    self_url = f"{request.base_url}/Appointment/$find"
    if not scheduling.visit_types_exposed or \
            not _known_visit_type(first_value(parameters, "serviceType"), _visit_types(store, request)):
        return _decision_tree_failure(
            self_url, "59200", "The Cadence Decision Tree was unable to determine a Visit Type based on the supplied "
            "parameters. Check the request parameters and decision tree build.",
            "Unable to determine a Visit Type to use for scheduling.")
    if provider_id and not scheduling.provider_rules:
        return _decision_tree_failure(self_url, "59134", "Not enough providers with templates for the visit type.",
                                      "No provider-based scheduling rule accepts a request naming a provider.")
    if not scheduling.provider_honoured:
        provider_id = None  # the provider asked for is ignored: every provider's slots come back
    patient = _patient_reference(store, request, first_value(parameters, "patient"))
    entries = []
    for slot in store.of_type(request.version, "Slot") if scheduling.open_slots else ():
        if slot.get("status") != "free" or not _within(slot["start"], start, end):
            continue
        actors = _schedule_actors(store, request, slot)
        refs = {relative_reference(a.get("reference", "")) for a in actors}
        if provider_id and f"Practitioner/{provider_id}" not in refs:
            continue
        if location_ref and location_ref not in refs:
            continue
        appointment = _proposal(store.new_id(), slot, actors, patient)
        proposals.add(appointment, slot["id"])
        entries.append(present.entry(appointment))
    issues = []
    if any(p.get("name") == "service-type" for p in parameters):
        issues.append(outcomes.epic_issue("information", "informational", "59109", "Optional service-type invalid",
                                          "Unknown parameter service-type; did you mean serviceType?"))
    if not entries:
        issues.append(outcomes.no_results())
    return searchset(self_url, entries, *issues)


def _proposal(appointment_id: str, slot: dict[str, Any], actors: list[dict[str, Any]],
              patient: dict[str, Any] | None) -> dict[str, Any]:
    contained_slot = {k: copy.deepcopy(v) for k, v in slot.items() if k != "id"}
    contained_slot["id"] = slot["id"]
    participants = [{"actor": copy.deepcopy(actor), "required": "required", "status": "needs-action"}
                    for actor in actors]
    if patient:
        participants.insert(0, {"actor": dict(patient), "required": "required", "status": "needs-action"})
    return {
        "resourceType": "Appointment",
        "id": appointment_id,
        "contained": [contained_slot],
        "status": "proposed",
        "serviceCategory": {"coding": [{"system": APPOINTMENT_SERVICE_CATEGORY, "code": "appointment",
                                        "display": "Appointment"}], "text": "Appointment"},
        "serviceType": copy.deepcopy(slot.get("serviceType", [])),
        "start": slot["start"],
        "end": slot["end"],
        "minutesDuration": 30,
        "slot": [{"reference": f"#{slot['id']}"}],
        "participant": participants,
    }


def _within(instant: str, start: str, end: str) -> bool:
    """Is ``instant`` in [start, end], each bound compared at its own precision?"""
    return (not start or instant[: len(start)] >= start) and (not end or instant[: len(end)] <= end)


def _identifier_value(found: Any) -> str:
    return str((found.get("value") if isinstance(found, dict) else found) or "")


def appointment_book(request: FhirRequest, store: ResourceStore, present: Presenter,
                     proposals: Proposals) -> dict[str, Any]:
    parameters = _parameters(request)
    patient = store.get(request.version, "Patient", _identifier_value(first_value(parameters, "patient")))
    if patient is None:
        raise FhirError(400, outcomes.reference_not_found("patient", "invalid patient ID"))
    taken = proposals.take(_identifier_value(first_value(parameters, "appointment")))
    if taken is None:
        raise FhirError(400, outcomes.reference_not_found("appointment", "invalid appointment ID"))
    proposal, slot_id = taken
    slot = store.get(request.version, "Slot", slot_id)
    if slot is None or slot.get("status") != "free":
        raise FhirError(400, outcomes.business_rule("The slot of this appointment is no longer available."))
    store.put(request.version, {**slot, "status": "busy"})
    booked = copy.deepcopy(proposal)
    booked.pop("contained", None)
    booked["status"] = "booked"
    booked["slot"] = [{"reference": f"Slot/{slot_id}"}]
    booked["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    participants = [p for p in booked["participant"] if not p["actor"].get("reference", "").startswith("Patient/")]
    participants.insert(0, {"actor": {"reference": f"Patient/{patient['id']}",
                                      "display": patient["name"][0].get("text", "")}})
    for participant in participants:
        participant["required"] = "required"
        participant["status"] = "accepted"
    booked["participant"] = participants
    note = first_value(parameters, "appointmentNote")
    if isinstance(note, str) and note:
        booked["comment"] = note
    stored = store.put(request.version, booked)
    if request.version == "STU3":  # one Epic appointment, readable through R4 as well
        r4 = copy.deepcopy(booked)
        if isinstance(r4.get("serviceCategory"), dict):
            r4["serviceCategory"] = [r4["serviceCategory"]]
        if "reason" in r4:
            r4["reasonCode"] = r4.pop("reason")
        store.put("R4", r4)
    return searchset(f"{request.base_url}/Appointment/$book", [present.entry(stored)])
