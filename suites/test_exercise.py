"""Exercise every requested API: read, search, create and update, driven by the catalog and the probe data.

Each requested API gets one check of its interaction; what differs per API (search parameters,
ids) is data in ``harness/catalog/data/probes.toml``. Groups are selected with their markers
(``-m directory``) and appear as features in the report. Operations live in their group's module.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.catalog import Api
from harness.checks import DECLARED, TOKEN, CheckContext, CheckFailed, check
from harness.client import TenantClient
from harness.config import Tenant
from harness.fhir.responses import expect_fhir
from suites.exercise import (
    HARNESS_TAG, SearchCache, SeenResources, id_to_read, judge_search, probe_params, validate, validate_all,
)
from suites.sources import EPIC_API_CATALOG, FHIR_HTTP_URL

def _is(interaction: str):
    return lambda api: api.kind == "rest" and api.version is not None and api.interaction == interaction


@check("exercise.read", title="the API reads a resource by id", why="The app reads resources by the ids other answers give it.",
       source=f"{EPIC_API_CATALOG}; FHIR RESTful read", source_url=FHIR_HTTP_URL, group="exercise",
       applies_to=_is("read"), exercises=True, needs=(TOKEN, DECLARED))
def test_read(api: Api, tenant: Tenant, client: TenantClient, search_cache: SearchCache, seen: SeenResources,
              verdict: CheckContext) -> None:
    rid = id_to_read(api, tenant, client, search_cache)
    what = f"GET {api.version}/{api.resource}/{rid}"
    body = expect_fhir(client.get(client.url(str(api.version), f"{api.resource}/{rid}")), what)
    if not isinstance(body, dict) or body.get("resourceType") != api.resource or body.get("id") != rid:
        got = (body.get("resourceType"), body.get("id")) if isinstance(body, dict) else type(body).__name__
        raise CheckFailed(f"{what} answered {got}, not {api.resource}/{rid}", category="tenant-fault")
    seen.add(api, [body])
    validate(body, str(api.version), what)
    verdict.record_shape([body])
    verdict.note(f"read {api.resource}/{rid}")


@check("exercise.search", title="the API searches, every page is followed and validated",
       why="The app pages through results with Epic's opaque next links; a broken page loses data silently.",
       source=f"{EPIC_API_CATALOG}; FHIR RESTful search and paging", source_url=FHIR_HTTP_URL, group="exercise",
       applies_to=_is("search"), exercises=True, needs=(TOKEN, DECLARED))
def test_search(api: Api, tenant: Tenant, client: TenantClient, search_cache: SearchCache, seen: SeenResources,
                verdict: CheckContext) -> None:
    result = search_cache.search(client, api, probe_params(api, tenant))
    judge_search(api, result, verdict, tenant.requested.apis)
    verdict.record_shape(result.resources)
    seen.add(api, result.resources)
    try:
        validate_all(result.resources, str(api.version), f"{api.resource} search", verdict)
    finally:
        search_cache.trim()


def tagged(resource: dict[str, Any]) -> dict[str, Any]:
    """Mark a resource the harness writes, so that a tester can find it."""
    out = copy.deepcopy(resource)
    meta = out.setdefault("meta", {})
    meta["tag"] = [t for t in meta.get("tag", []) if t.get("system") != HARNESS_TAG["system"]] + [HARNESS_TAG]
    return out


@check("exercise.create", title="the API creates a resource", why="The app writes these resources back to Epic.",
       source=f"{EPIC_API_CATALOG}; FHIR RESTful create", source_url=FHIR_HTTP_URL, group="exercise",
       applies_to=_is("create"), exercises=True, severity="critical", needs=(TOKEN, DECLARED), writes=True)
def test_create(api: Api, tenant: Tenant, client: TenantClient, verdict: CheckContext) -> None:
    from harness.catalog.writes import MissingTestData, template

    try:
        body = tagged(template(api, tenant.test_data))
    except MissingTestData as exc:
        pytest.skip(str(exc))
    what = f"POST {api.version}/{api.resource}"
    response = client.post(client.url(str(api.version), str(api.resource)), json=body,
                           headers={"Content-Type": "application/fhir+json"})
    created = expect_fhir(response, what, status=(200, 201))
    location = response.headers.get("location")
    if response.status_code == 201 and not location:
        verdict.warn("201 Created without a Location header")
    if isinstance(created, dict) and created.get("resourceType") == api.resource:
        validate(created, str(api.version), what)
    verdict.note(f"created {location or api.resource}, tagged {HARNESS_TAG['code']}")


@check("exercise.update", title="the API updates a resource", why="The app updates these resources in Epic.",
       source=f"{EPIC_API_CATALOG}; FHIR RESTful update", source_url=FHIR_HTTP_URL, group="exercise",
       applies_to=_is("update"), exercises=True, severity="critical", needs=(TOKEN, DECLARED), writes=True)
def test_update(api: Api, tenant: Tenant, client: TenantClient, search_cache: SearchCache, verdict: CheckContext) -> None:
    rid = id_to_read(api, tenant, client, search_cache)
    url = client.url(str(api.version), f"{api.resource}/{rid}")
    current = expect_fhir(client.get(url), f"GET {api.resource}/{rid}")
    what = f"PUT {api.version}/{api.resource}/{rid}"
    updated = expect_fhir(client.request("PUT", url, json=tagged(current),
                                         headers={"Content-Type": "application/fhir+json"}), what, status=(200, 201))
    if isinstance(updated, dict) and updated.get("resourceType") == api.resource:
        validate(updated, str(api.version), what)
    verdict.note(f"updated {api.resource}/{rid}, tagged {HARNESS_TAG['code']}")
