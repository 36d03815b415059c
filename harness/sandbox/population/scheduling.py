"""Booked appointments, and the schedules and slots $find proposes from."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from .base import (
    APPOINTMENT_SERVICE_CATEGORY, Builder, EPIC_OID, MAIN_SCHEDULE, MAIN_SLOT, PATIENTS,
    VISIT_TYPE_SYSTEM, concept, epic_id, instant, patient_ref, practitioner_display,
    practitioner_id, ref,
)
from .directory import LOCATIONS

def appointments(b: Builder) -> None:
    for index, person in enumerate(PATIENTS):
        rows: list[tuple[str, str, str, int]] = [("appointment", "Appointment", "booked", 0)]
        if index == 0:
            rows += [("appointment", "Appointment", "fulfilled", 1), ("surgery", "Surgery", "booked", 2),
                     ("appointment", "Appointment", "booked", 3)]
        for number, (category, category_display, status, slot_number) in enumerate(rows):
            day = date(2026, 5, 4) + timedelta(days=number * 7 + index) if status == "booked" \
                else date(2026, 2, 2)
            hour = 9 + number
            prac = 1 if category == "surgery" else 0
            loc_id, loc_name = (LOCATIONS[2] if category == "surgery" else LOCATIONS[0])[:2]
            appointment: dict[str, Any] = {
                "resourceType": "Appointment",
                "id": epic_id(f"appointment-{person.key}-{number}"),
                "identifier": [{"use": "usual", "system": f"{EPIC_OID}.3.698084.8",
                                "value": str(31000 + index * 10 + number)}],
                "status": status,
                "serviceCategory": [concept(APPOINTMENT_SERVICE_CATEGORY, category, category_display)],
                "serviceType": [concept(VISIT_TYPE_SYSTEM, "1004" if category == "appointment"
                                        else "2010", "Office Visit" if category == "appointment" else "Surgery")],
                "description": "Office Visit" if category == "appointment" else "Knee arthroscopy",
                "start": instant(day, hour),
                "end": instant(day, hour, 30),
                "minutesDuration": 30,
                "created": "2026-01-15T10:00:00Z",
                "participant": [
                    {"actor": patient_ref(person), "required": "required", "status": "accepted"},
                    {"actor": ref("Practitioner", practitioner_id(prac), practitioner_display(prac)),
                     "required": "required", "status": "accepted"},
                    {"actor": ref("Location", loc_id, loc_name), "required": "required", "status": "accepted"},
                ],
            }
            appointment["comment"] = "Prior authorization pending for follow-up imaging." \
                if index == 0 and slot_number == 3 else "Please arrive 15 minutes early to check in."
            b.add(appointment)


def schedules_and_slots(b: Builder) -> None:
    schedules = (
        (MAIN_SCHEDULE, 0, LOCATIONS[0]),
        (epic_id("schedule-surgery"), 1, LOCATIONS[2]),
        (epic_id("schedule-cardiology"), 2, LOCATIONS[3]),
    )
    for sched_index, (sched_id, prac, location) in enumerate(schedules):
        b.add({
            "resourceType": "Schedule",
            "id": sched_id,
            "active": True,
            "serviceCategory": concept(APPOINTMENT_SERVICE_CATEGORY, "appointment", "Appointment"),
            "actor": [ref("Practitioner", practitioner_id(prac), practitioner_display(prac)),
                      ref("Location", location[0], location[1])],
            "planningHorizon": {"start": "2026-05-01T00:00:00Z", "end": "2026-07-31T00:00:00Z"},
        }, stu3_only=True)
        for number in range(6 if sched_index == 0 else 3):
            day = date(2026, 5, 11) + timedelta(days=number // 2)
            hour = 9 + (number % 2) * 2
            slot_id = MAIN_SLOT if sched_index == 0 and number == 0 else epic_id(f"slot-{sched_index}-{number}")
            b.add({
                "resourceType": "Slot",
                "id": slot_id,
                "serviceType": [concept(VISIT_TYPE_SYSTEM, "1004", "Office Visit")],
                "schedule": ref("Schedule", sched_id),
                "status": "busy" if number == 5 else "free",
                "start": instant(day, hour),
                "end": instant(day, hour, 30),
            }, stu3_only=True)


