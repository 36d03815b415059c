"""The resources one sandbox serves: the shipped population plus what clients created or updated.

Writes stay in the sandbox that received them (in memory, per FHIR version) and never change the
shared population.
"""

from __future__ import annotations

import copy
import secrets
import threading
from typing import Any

from ..population import Population, default_population, epic_id


class ResourceStore:
    def __init__(self, population: Population | None = None) -> None:
        self.population = population if population is not None else default_population()
        self._written: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def get(self, version: str, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        written = self._written.get(version, {}).get(resource_type, {})
        if resource_id in written:
            return written[resource_id]
        return self.population.get(version, resource_type, resource_id)

    def of_type(self, version: str, resource_type: str) -> list[dict[str, Any]]:
        """Every resource of ``resource_type``: the population's in order (updated ones as
        updated), then the created ones in creation order."""
        written = self._written.get(version, {}).get(resource_type, {})
        shipped = self.population.of_type(version, resource_type)
        shipped_ids = {resource["id"] for resource in shipped}
        result = [written.get(resource["id"], resource) for resource in shipped]
        result += [resource for rid, resource in written.items() if rid not in shipped_ids]
        return result

    def new_id(self) -> str:
        return epic_id(f"created-{secrets.token_hex(12)}")

    def put(self, version: str, resource: dict[str, Any]) -> dict[str, Any]:
        """Store ``resource`` (which has its id) and return the stored copy."""
        stored = copy.deepcopy(resource)
        with self._lock:
            by_type = self._written.setdefault(version, {}).setdefault(stored["resourceType"], {})
            by_type[stored["id"]] = stored
        return stored
