"""Coverage: every requested API declared by the tenant's CapabilityStatement and granted by its token."""

from __future__ import annotations

import pytest

from harness.catalog import Api
from harness.checks import CAPABILITY, TOKEN, CheckContext, CheckFailed, check
from harness.coverage import declared, granted
from harness.discovery import Discovery
from harness.scopes import Grants
from suites.sources import EPIC_API_CATALOG, EPIC_OAUTH, EPIC_OAUTH_URL, FHIR_CAPABILITY_URL


@check("coverage.declared", title="requested API is declared in the CapabilityStatement",
       why="A resource or interaction the tenant does not declare is one the app cannot rely on.",
       source=f"{EPIC_API_CATALOG}; FHIR CapabilityStatement.rest.resource", source_url=FHIR_CAPABILITY_URL,
       group="coverage", needs=(CAPABILITY,), applies_to=lambda api: api.kind == "rest" and api.version is not None)
def test_declared(api: Api, discovery: Discovery, verdict: CheckContext) -> None:
    doc = discovery.capability(str(api.version))
    finding = declared(api, doc.body)
    if finding.value is False:
        raise CheckFailed(f"not offered: {finding.detail}")
    if finding.value is None:
        pytest.skip(finding.detail)
    verdict.note(finding.detail)


@check("coverage.granted", title="requested API is granted by the access token's scopes",
       why="Epic grants the APIs activated for the client; a missing one answers 403 at run time.",
       source=EPIC_OAUTH, source_url=EPIC_OAUTH_URL, group="coverage", needs=(TOKEN,),
       applies_to=lambda api: api.kind == "rest" and api.version is not None)
def test_granted(api: Api, grants: Grants, verdict: CheckContext) -> None:
    finding = granted(api, grants)
    if finding.value is False:
        raise CheckFailed(f"{finding.detail}: the customer's Epic team must activate {api.name} for the client")
    if "only" in finding.detail:
        verdict.note(finding.detail)
