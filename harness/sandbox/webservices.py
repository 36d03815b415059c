"""Epic's non-FHIR web services of the requested set: GetWaitTimes, GetDepartmentWaitTimes,
GetProviderWaitTimes and UpdateUserDemographics.

They live under ``{root}/api/epic/...`` as Epic's REST web services do, need the same bearer token
as the FHIR API, take their parameters from the query string or a JSON body (GET or POST), and
answer JSON shaped as Epic's .NET services answer (PascalCase members; errors as ``Message`` and
``ExceptionMessage``). UpdateUserDemographics' path follows Epic's Common web services
(``api/epic/2011/Common/User/UPDATEUSERDEMOGRAPHICS/...``); no public source gives the paths of the
wait-time services, so theirs follow the same pattern under Scheduling.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from .population.base import MAIN_PRACTITIONER, PRACTITIONER_NAMES, practitioner_display, practitioner_id
from .population.directory import LOCATIONS

#: Service name -> its path below the Interconnect root.
PATHS: dict[str, str] = {
    "GetWaitTimes": "/api/epic/2017/Scheduling/External/GETWAITTIMES/GetWaitTimes",
    "GetDepartmentWaitTimes": "/api/epic/2017/Scheduling/Department/GETDEPARTMENTWAITTIMES/GetDepartmentWaitTimes",
    "GetProviderWaitTimes": "/api/epic/2017/Scheduling/Provider/GETPROVIDERWAITTIMES/GetProviderWaitTimes",
    "UpdateUserDemographics": "/api/epic/2011/Common/User/UPDATEUSERDEMOGRAPHICS/UpdateUserDemographics",
}


class ServiceError(Exception):
    """A refused call: HTTP status and the .NET-style message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"Message": "An error has occurred.", "ExceptionMessage": self.message,
                "ExceptionType": "Epic.ServiceModel.Internal.ServiceCommandException", "StackTrace": None}


def _as_of() -> str:
    return datetime.now(timezone.utc).replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minutes(seed: str) -> int:
    return 5 + sum(seed.encode()) % 40


def _departments(wanted: str | None) -> list[dict[str, Any]]:
    rows = []
    for index, (loc_id, name, _, _, _) in enumerate(LOCATIONS):
        department_id = str(10500 + index)
        if wanted and wanted not in (department_id, loc_id):
            continue
        rows.append({"DepartmentID": department_id, "DepartmentName": name, "WaitTimeMinutes": _minutes(name),
                     "AsOf": _as_of()})
    return rows


def _providers(wanted: str | None) -> list[dict[str, Any]]:
    rows = []
    for index in range(len(PRACTITIONER_NAMES)):
        provider = practitioner_id(index)
        if wanted and wanted != provider:
            continue
        rows.append({"ProviderID": provider, "ProviderName": practitioner_display(index),
                     "WaitTimeMinutes": _minutes(provider), "AsOf": _as_of()})
    return rows


def get_wait_times(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"WaitTimes": [{**row, "Type": "Department"} for row in _departments(None)]}


def get_department_wait_times(params: Mapping[str, Any]) -> dict[str, Any]:
    wanted = params.get("DepartmentID") or params.get("departmentID")
    rows = _departments(str(wanted) if wanted else None)
    if wanted and not rows:
        raise ServiceError(400, f"Department {wanted} was not found.")
    return {"Departments": rows}


def get_provider_wait_times(params: Mapping[str, Any]) -> dict[str, Any]:
    wanted = params.get("ProviderID") or params.get("providerID")
    rows = _providers(str(wanted) if wanted else None)
    if wanted and not rows:
        raise ServiceError(400, f"Provider {wanted} was not found.")
    return {"Providers": rows}


def update_user_demographics(params: Mapping[str, Any]) -> dict[str, Any]:
    user = str(params.get("UserID") or params.get("userID") or MAIN_PRACTITIONER)
    changed = sorted(k for k in params if k not in ("UserID", "userID", "UserIDType"))
    return {"Success": True, "UserID": user, "UpdatedFields": changed}


SERVICES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "GetWaitTimes": get_wait_times,
    "GetDepartmentWaitTimes": get_department_wait_times,
    "GetProviderWaitTimes": get_provider_wait_times,
    "UpdateUserDemographics": update_user_demographics,
}


def call(name: str, query: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of one call of service ``name``."""
    params: dict[str, Any] = dict(query)
    if body:
        try:
            found = json.loads(body)
        except ValueError:
            return 400, ServiceError(400, "The request body is not valid JSON.").body()
        if not isinstance(found, dict):
            return 400, ServiceError(400, "The request body must be a JSON object.").body()
        params.update(found)
    try:
        return 200, SERVICES[name](params)
    except ServiceError as error:
        return error.status, error.body()
