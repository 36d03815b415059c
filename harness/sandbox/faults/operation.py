"""Faults of Appointment $find: which Scheduling Decision Support set-up step is undone.

Hook point: ``operations.scheduling`` reads the :class:`SchedulingPolicy`.
"""

from __future__ import annotations

from .core import FaultKind, Hook, choice, sets
from .policies import SchedulingPolicy

SDS_STEPS: dict[str, str] = {
    "provider-rules": "no provider-based rules: a $find naming a provider fails the decision tree (Epic 59134)",
    "visit-types": "visit types not exposed: $find fails the decision tree for every serviceType (Epic 59200)",
}


def _undone(policy: SchedulingPolicy, step: str) -> None:
    if step == "provider-rules":
        policy.provider_rules = False
    else:
        policy.visit_types_exposed = False


KINDS: tuple[FaultKind, ...] = (
    FaultKind("sds-undone", Hook.OPERATION, "one Scheduling Decision Support set-up step is left undone",
              (choice("STEP", SDS_STEPS, "Scheduling Decision Support step"),), effect=_undone,
              choices={step: f"SDS step undone: {what}" for step, what in SDS_STEPS.items()}),
    FaultKind("sds-no-open-slots", Hook.OPERATION, "SDS is configured, but no provider has an open slot: $find "
              "finds nothing (4101)", effect=sets("open_slots", False)),
    FaultKind("sds-provider-ignored", Hook.OPERATION, "$find ignores the provider it is asked for and answers "
              "every provider's slots (other providers' included)", effect=sets("provider_honoured", False)),
)
