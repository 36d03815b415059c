"""Every fault the sandbox knows, from every hook's declarations."""

from __future__ import annotations

from . import discovery, fhir, fleet, operation, paging, token, transport
from .core import ActiveFaults, Catalog, FaultKind

KINDS: tuple[FaultKind, ...] = (
    *token.KINDS, *fhir.KINDS, *paging.KINDS, *operation.KINDS, *transport.KINDS, *discovery.KINDS,
    *fleet.KINDS,
)
CATALOG = Catalog(KINDS)

#: Every fault as written (``name``, ``name:ARG``, one line per choice) -> what it does.
FAULTS: dict[str, str] = {name: description for name, (_, description, _) in CATALOG.listing().items()}


def active(faults: object = ()) -> ActiveFaults:
    """The faults ``faults`` (names) parsed against the catalog."""
    return ActiveFaults(faults, CATALOG)  # type: ignore[arg-type]


def validate_faults(faults: object) -> frozenset[str]:
    """Every fault name and argument checked (FaultError names the nearest); a frozenset."""
    return CATALOG.validate(faults)  # type: ignore[arg-type]
