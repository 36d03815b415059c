"""Epic's non-FHIR web services in the requested list (GetWaitTimes, UpdateUserDemographics, ...).

They are in no CapabilityStatement and need no OAuth scope; they can only be called when the tenant
file gives their endpoint, under ``[test_data.web_services]``.
"""

from __future__ import annotations

import pytest

from harness.catalog import Api
from harness.checks import TOKEN, CheckContext, CheckFailed, check
from harness.client import TenantClient
from harness.config import Tenant


@check("exercise.web-service", title="Epic web service answers at its configured endpoint",
       why="These services are outside FHIR: only a call shows the customer enabled them for the app.",
       source="Epic web services listed with the app's APIs (open.epic, Interface Type FHIR page)",
       source_url="https://open.epic.com/Interface/FHIR", group="exercise", exercises=True, needs=(TOKEN,),
       severity="normal", applies_to=lambda api: api.kind == "web-service")
def test_web_service(api: Api, tenant: Tenant, client: TenantClient, verdict: CheckContext) -> None:
    services = tenant.test_data.get("web_services") or {}
    url = services.get(api.name) if isinstance(services, dict) else None
    if not url:
        pytest.skip(f"not checkable through FHIR: {api.name} is an Epic web service; give its URL as "
                    f"test_data.web_services.{api.name} to call it")
    if not client.is_own(url):
        raise CheckFailed(f"{url} is not one of the tenant's own origins; the token is not sent there",
                          category="tenant-configuration")
    response = client.get(url)
    if response.status_code >= 400:
        raise CheckFailed(f"GET {url}: HTTP {response.status_code}", category="tenant-fault")
    verdict.note(f"HTTP {response.status_code}, {response.headers.get('content-type', 'no content type')}")
