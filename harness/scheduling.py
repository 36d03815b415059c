"""Scheduling: Appointment.$find by visit type and named provider, and the diagnosis of the three
Scheduling Decision Support (SDS) set-up steps a customer's Epic team must finish.

1. provider-based scheduling rules in SDS (a request naming a provider is accepted and answered
   with that provider's availability);
2. visit types exposed with their serviceType codes (an organisation-specific OID);
3. validation in non-production before go-live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping

from harness.errors import ConfigError

DECISION_TREE_FAILED = "59200"
NO_PROVIDER_TEMPLATES = "59134"
NO_RESULTS = "4101"
INFORMATIONAL = "59109"


@dataclass(frozen=True)
class VisitType:
    system: str
    code: str
    display: str = ""

    def coding(self) -> dict[str, str]:
        return {k: v for k, v in (("system", self.system), ("code", self.code), ("display", self.display)) if v}


@dataclass(frozen=True)
class SchedulingData:
    visit_types: tuple[VisitType, ...]
    providers: tuple[str, ...]
    start: datetime
    end: datetime
    provider_parameter: str = "practitioner"
    location: str | None = None


def scheduling_data(test_data: Mapping[str, Any], *, file: str | None = None, today: date | None = None) -> SchedulingData | None:
    table = test_data.get("scheduling")
    if table is None:
        return None
    where = "test_data.scheduling"
    if not isinstance(table, dict):
        raise ConfigError(file, where, "must be a table")
    visit_types = []
    for i, vt in enumerate(table.get("visit_types") or []):
        if not isinstance(vt, dict) or not isinstance(vt.get("system"), str) or not isinstance(vt.get("code"), str):
            raise ConfigError(file, f"{where}.visit_types[{i}]", "needs system (the visit type OID, urn:oid:...) and code")
        visit_types.append(VisitType(vt["system"], vt["code"], str(vt.get("display", ""))))
    providers = table.get("providers") or []
    if not isinstance(providers, list) or not all(isinstance(p, str) for p in providers):
        raise ConfigError(file, f"{where}.providers", "must be a list of Practitioner FHIR ids")
    start_day = table.get("window_start") or (today or date.today()).isoformat()
    try:
        start = datetime.fromisoformat(str(start_day)).replace(tzinfo=timezone.utc)
    except ValueError:
        raise ConfigError(file, f"{where}.window_start", f"{start_day!r} is not a date (YYYY-MM-DD)") from None
    days = table.get("window_days", 14)
    if not isinstance(days, int) or days < 1 or days > 366:
        raise ConfigError(file, f"{where}.window_days", "must be a whole number of days, 1 to 366")
    return SchedulingData(tuple(visit_types), tuple(providers), start, start + timedelta(days=days),
                          str(table.get("provider_parameter", "practitioner")), table.get("location"))


def find_body(data: SchedulingData, visit_type: VisitType, *, patient: Mapping[str, Any] | None,
              provider: str | None) -> dict[str, Any]:
    """Epic's $find parameters (not Argonaut's): patient as a resource, startTime, endTime, serviceType."""
    parameters: list[dict[str, Any]] = []
    if patient:
        parameters.append({"name": "patient", "resource": dict(patient)})
    parameters += [
        {"name": "startTime", "valueDateTime": data.start.strftime("%Y-%m-%dT%H:%M:%SZ")},
        {"name": "endTime", "valueDateTime": data.end.strftime("%Y-%m-%dT%H:%M:%SZ")},
        {"name": "serviceType", "valueCodeableConcept": {"coding": [visit_type.coding()]}},
    ]
    if data.location:
        parameters.append({"name": "location-reference", "valueReference": {"reference": f"Location/{data.location}"}})
    if provider:
        parameters.append({"name": data.provider_parameter, "valueReference": {"reference": f"Practitioner/{provider}"}})
    return {"resourceType": "Parameters", "parameter": parameters}


@dataclass
class FindResult:
    appointments: list[dict[str, Any]] = field(default_factory=list)
    codes: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def code_set(self) -> set[str]:
        return {c for c, _ in self.codes}

    @property
    def decision_tree_failed(self) -> bool:
        return bool(self.code_set & {DECISION_TREE_FAILED, NO_PROVIDER_TEMPLATES})


def _ref_id(reference: str) -> str:
    return reference.rstrip("/").rsplit("/", 1)[-1]


def judge_find(resources: list[dict[str, Any]], codes: list[tuple[str, str]], data: SchedulingData,
               provider: str | None) -> FindResult:
    result = FindResult(codes=list(codes))
    for appointment in resources:
        if appointment.get("resourceType") != "Appointment":
            continue
        result.appointments.append(appointment)
        aid = appointment.get("id")
        slots = [c for c in appointment.get("contained") or [] if c.get("resourceType") == "Slot"]
        if len(slots) != 1:
            result.problems.append(f"Appointment {aid} has {len(slots)} contained Slots, Epic gives exactly one")
        start = appointment.get("start") or (slots[0].get("start") if slots else None)
        if start:
            when = datetime.fromisoformat(start.replace("Z", "+00:00"))
            if not (data.start <= when <= data.end):
                result.problems.append(f"Appointment {aid} starts {start}, outside the window asked for")
        if provider:
            actors = {_ref_id(p.get("actor", {}).get("reference", "")) for p in appointment.get("participant") or []}
            if provider not in actors:
                result.problems.append(f"Appointment {aid} is not with the provider asked for ({provider})")
    return result


@dataclass
class Step:
    number: int
    name: str
    verdict: str  # done, not done, cannot tell
    evidence: str

    def as_dict(self) -> dict[str, Any]:
        return {"step": f"{self.number}. {self.name}", "verdict": self.verdict, "evidence": self.evidence,
                "verdict_class": {"done": "passed", "not done": "failed"}.get(self.verdict, "skipped")}


STEP_NAMES = {
    1: "Provider-based scheduling rules in Scheduling Decision Support",
    2: "Visit types exposed with their serviceType codes (the organisation's OID)",
    3: "Validated in a non-production environment",
}


def diagnose(by_visit_type: dict[VisitType, FindResult], by_provider: dict[tuple[VisitType, str], FindResult],
             environment: str) -> list[Step]:
    """One verdict per SDS step, with the evidence that decided it."""
    steps: list[Step] = []
    rejected = [vt for vt, r in by_visit_type.items() if r.decision_tree_failed]
    accepted = [vt for vt, r in by_visit_type.items() if not r.decision_tree_failed]
    if not by_visit_type:
        steps.append(Step(2, STEP_NAMES[2], "cannot tell", "no visit types in test_data.scheduling.visit_types"))
    elif rejected:
        codes = ", ".join(f"{vt.system}|{vt.code}" for vt in rejected)
        steps.append(Step(2, STEP_NAMES[2], "not done",
                          f"$find without a provider fails the decision tree (Epic 59200) for {codes}: the visit "
                          f"type is not exposed, or its code or OID is not the one the customer shared"))
    else:
        steps.append(Step(2, STEP_NAMES[2], "done", f"{len(accepted)} visit type(s) accepted by $find"))

    failing = [(vt, p) for (vt, p), r in by_provider.items() if r.decision_tree_failed or
               any("not with the provider" in problem for problem in r.problems)]
    with_slots = {vt for vt, r in by_visit_type.items() if r.appointments}
    if not by_provider:
        steps.append(Step(1, STEP_NAMES[1], "cannot tell",
                          "no provider could be asked for: give test_data.scheduling.providers and a visit type "
                          "that $find accepts"))
    elif failing:
        vt, provider = failing[0]
        r = by_provider[(vt, provider)]
        why = ("the decision tree fails (Epic " + "/".join(sorted(r.code_set & {DECISION_TREE_FAILED, NO_PROVIDER_TEMPLATES})) + ")"
               if r.decision_tree_failed else "the answer holds other providers' slots")
        base = " while the same request without a provider finds slots" if vt in with_slots else ""
        steps.append(Step(1, STEP_NAMES[1], "not done",
                          f"$find naming provider {provider} for {vt.code}: {why}{base}. {len(failing)} of "
                          f"{len(by_provider)} provider requests fail"))
    else:
        found = sum(1 for r in by_provider.values() if r.appointments)
        steps.append(Step(1, STEP_NAMES[1], "done",
                          f"every request naming a provider is accepted; {found} of {len(by_provider)} found open slots"
                          + ("" if found == len(by_provider) else
                             " (the others are empty: the provider has no open slots in the window, which is not "
                             "a fault of the configuration)")))
    if environment == "production":
        steps.append(Step(3, STEP_NAMES[3], "not done", "this run is against production: validate the SDS build in "
                                                        "the customer's non-production environment first"))
    else:
        steps.append(Step(3, STEP_NAMES[3], "done", "this run is against the customer's non-production environment"))
    return sorted(steps, key=lambda s: s.number)
