"""Appointment ``$find`` and ``$book`` (STU3), as Epic's scheduling operations answer them.

``$find`` takes a ``Parameters`` body with Epic's parameter names (``patient`` as a resource,
``startTime``, ``endTime``, ``serviceType``, ``location-reference``; ``indications``,
``specialties`` and ``time-of-day`` are accepted and do not narrow the sandbox's simple rules) and
answers a searchset of *proposed* Appointments, one per free Slot in the window: each has a new id
on every call, one contained Slot, ``slot`` pointing at it, the visit type and absolute participant
references. A visit type the rules do not know gives Epic's 59200 with 4101 (HTTP 200); the
Argonaut spelling ``service-type`` adds Epic's informational 59109.

``$book`` takes ``patient`` and ``appointment`` as identifiers (the appointment id from ``$find``)
and ``appointmentNote``; it books the proposal (the Slot becomes busy, the Appointment is stored and
readable) and answers a searchset with the booked Appointment. An id that is no proposal is Epic's
59144 ``invalid appointment ID``.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from . import documents
from .population import APPOINTMENT_SERVICE_CATEGORY
from .versions import relative_reference

if TYPE_CHECKING:
    from .fhir import FhirRequest, FhirService, Route

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


def _parameters(service: FhirService, request: FhirRequest) -> list[dict[str, Any]] | Response:
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return service.outcome(request, 400, documents.structure_issue(f"The body is not JSON: {exc}"))
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return service.outcome(request, 400, documents.structure_issue("The body must be a Parameters resource."))
    return [p for p in body.get("parameter") or [] if isinstance(p, dict)]


def _value(parameters: list[dict[str, Any]], name: str) -> Any:
    for parameter in parameters:
        if parameter.get("name") == name:
            for key, value in parameter.items():
                if key.startswith("value") or key == "resource":
                    return value
    return None


def _visit_types(service: FhirService, request: FhirRequest) -> tuple[set[str], set[str]]:
    """The visit type codes and names the slots are built for."""
    codes, names = set(), set()
    for slot in service.store.of_type(request.version, "Slot"):
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


def _schedule_actors(service: FhirService, request: FhirRequest, slot: dict[str, Any]) -> list[dict[str, Any]]:
    schedule_ref = relative_reference(slot["schedule"]["reference"])
    schedule = service.store.get(request.version, "Schedule", schedule_ref.split("/", 1)[1])
    return list(schedule.get("actor", ())) if schedule else []


def _patient_reference(service: FhirService, request: FhirRequest, patient: Any) -> dict[str, Any] | None:
    """The stored patient a ``patient`` parameter (a Patient resource) names, if any."""
    if not isinstance(patient, dict):
        return None
    candidates = []
    if patient.get("id"):
        candidates.append(str(patient["id"]))
    for identifier in patient.get("identifier") or ():
        if isinstance(identifier, dict) and identifier.get("value"):
            candidates.append(str(identifier["value"]))
    for candidate in candidates:
        found = service.store.get(request.version, "Patient", candidate)
        if found is not None:
            return {"reference": f"Patient/{found['id']}", "display": found["name"][0].get("text", "")}
        for stored in service.store.of_type(request.version, "Patient"):
            if any(i.get("value") == candidate for i in stored.get("identifier", ())):
                return {"reference": f"Patient/{stored['id']}", "display": stored["name"][0].get("text", "")}
    return None


def appointment_find(service: FhirService, request: FhirRequest, route: Route) -> Response:
    parameters = _parameters(service, request)
    if isinstance(parameters, Response):
        return parameters
    start = str(_value(parameters, "startTime") or "")
    end = str(_value(parameters, "endTime") or "")
    service_type = _value(parameters, "serviceType")
    location = _value(parameters, "location-reference")
    location_ref = relative_reference(location["reference"]) if isinstance(location, dict) and \
        isinstance(location.get("reference"), str) else None
    outcome: list[dict[str, Any]] = []
    self_url = f"{request.base_url}/Appointment/$find"

    provider = _value(parameters, "practitioner")
    provider_id = provider["reference"].rstrip("/").rsplit("/", 1)[-1] if isinstance(provider, dict) and \
        isinstance(provider.get("reference"), str) else None
    if service.faults.on("sds-undone", "visit-types") or \
            not _known_visit_type(service_type, _visit_types(service, request)):
        issue = documents.epic_issue(
            "warning", "not-found", "59200",
            "The Cadence Decision Tree was unable to determine a Visit Type based on the supplied parameters. "
            "Check the request parameters and decision tree build.",
            "Unable to determine a Visit Type to use for scheduling.",
        )
        bundle = documents.searchset(self_url, [], issue, documents.no_results_issue())
        return documents.render(bundle, request.content_type)

    if provider_id and service.faults.on("sds-undone", "provider-rules"):
        issue = documents.epic_issue(
            "warning", "not-found", "59134",
            "Not enough providers with templates for the visit type.",
            "No provider-based scheduling rule accepts a request naming a provider.",
        )
        bundle = documents.searchset(self_url, [], issue, documents.no_results_issue())
        return documents.render(bundle, request.content_type)

    patient = _patient_reference(service, request, _value(parameters, "patient"))
    proposals = service.proposals
    entries = []
    for slot in service.store.of_type(request.version, "Slot"):
        if slot.get("status") != "free" or not _within(slot["start"], start, end) or \
                service.faults.on("sds-no-open-slots"):
            continue
        actors = _schedule_actors(service, request, slot)
        if provider_id and not any(relative_reference(a.get("reference", "")) == f"Practitioner/{provider_id}"
                                   for a in actors):
            continue
        if location_ref and not any(relative_reference(a.get("reference", "")) == location_ref for a in actors):
            continue
        appointment_id = service.store.new_id()
        contained_slot = {k: copy.deepcopy(v) for k, v in slot.items() if k != "id"}
        contained_slot["id"] = slot["id"]
        participants = [{"actor": copy.deepcopy(actor), "required": "required", "status": "needs-action"}
                        for actor in actors]
        if patient:
            participants.insert(0, {"actor": dict(patient), "required": "required", "status": "needs-action"})
        appointment = {
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
        proposals.add(appointment, slot["id"])
        entries.append(service.entry(request, appointment))
    if any(p.get("name") == "service-type" for p in parameters):
        outcome.append(documents.epic_issue(
            "information", "informational", "59109", "Optional service-type invalid",
            "Unknown parameter service-type; did you mean serviceType?",
        ))
    if not entries:
        outcome.append(documents.no_results_issue())
    bundle = documents.searchset(self_url, entries, *outcome)
    return documents.render(bundle, request.content_type)


def _within(instant: str, start: str, end: str) -> bool:
    """Is ``instant`` in [start, end], each bound compared at its own precision?"""
    return (not start or instant[: len(start)] >= start) and (not end or instant[: len(end)] <= end)


def _not_found(service: FhirService, request: FhirRequest, element: str, why: str) -> Response:
    issue = documents.epic_issue("fatal", "not-found", "59144", "The reference provided was not found.", why)
    issue["location"] = [f"/f:{element}"]
    issue["expression"] = [element]
    return service.outcome(request, 400, issue)


def appointment_book(service: FhirService, request: FhirRequest, route: Route) -> Response:
    parameters = _parameters(service, request)
    if isinstance(parameters, Response):
        return parameters
    appointment_param = _value(parameters, "appointment")
    patient_param = _value(parameters, "patient")
    appointment_id = appointment_param.get("value") if isinstance(appointment_param, dict) else appointment_param
    patient_id = patient_param.get("value") if isinstance(patient_param, dict) else patient_param
    patient = service.store.get(request.version, "Patient", str(patient_id or ""))
    if patient is None:
        return _not_found(service, request, "patient", "invalid patient ID")
    taken = service.proposals.take(str(appointment_id or ""))
    if taken is None:
        return _not_found(service, request, "appointment", "invalid appointment ID")
    proposal, slot_id = taken
    slot = service.store.get(request.version, "Slot", slot_id)
    if slot is None or slot.get("status") != "free":
        issue = documents.epic_issue(
            "fatal", "business-rule", "59159",
            "The content/operation failed to pass a business rule, and so could not proceed.",
            "The slot of this appointment is no longer available.",
        )
        return service.outcome(request, 400, issue)
    service.store.put(request.version, {**slot, "status": "busy"})
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
    note = _value(parameters, "appointmentNote")
    if isinstance(note, str) and note:
        booked["comment"] = note
    stored = service.store.put(request.version, booked)
    if request.version == "STU3":  # one Epic appointment, readable through R4 as well
        r4 = copy.deepcopy(booked)
        if isinstance(r4.get("serviceCategory"), dict):
            r4["serviceCategory"] = [r4["serviceCategory"]]
        if "reason" in r4:
            r4["reasonCode"] = r4.pop("reason")
        service.store.put("R4", r4)
    bundle = documents.searchset(f"{request.base_url}/Appointment/$book", [service.entry(request, stored)])
    return documents.render(bundle, request.content_type)
