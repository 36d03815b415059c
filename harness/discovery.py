"""Discovery documents: smart-configuration and the CapabilityStatement of each FHIR version, fetched once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from harness.catalog import FHIR_VERSIONS
from harness.client import TenantClient
from harness.config import Tenant
from harness.errors import AuthError, TenantError

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SMART_CONFIGURATION = ".well-known/smart-configuration"


@dataclass(frozen=True)
class FetchedDocument:
    """One discovery document as fetched: what came back, or why nothing usable did."""

    name: str
    url: str
    status: int | None
    content_type: str
    body: dict[str, Any] | None
    error: str | None
    head: str = ""

    @property
    def ok(self) -> bool:
        return self.body is not None

    def require(self) -> dict[str, Any]:
        if self.body is None:
            raise TenantError(f"{self.name} is not usable: {self.error}")
        return self.body


def fetch_json_document(client: TenantClient, name: str, url: str, *, accept: str,
                        headers: dict[str, str] | None = None) -> FetchedDocument:
    try:
        response = client.get(url, auth=False, accept=accept, headers=headers)
    except TenantError as exc:
        return FetchedDocument(name, url, None, "", None, str(exc))
    ctype = response.headers.get("content-type", "")
    head = response.text[:200]
    if response.status_code != 200:
        return FetchedDocument(name, url, response.status_code, ctype, None,
                               f"HTTP {response.status_code} from {url}", head)
    try:
        body = json.loads(response.content)
    except ValueError:
        return FetchedDocument(name, url, 200, ctype, None,
                               f"the body is not JSON (Content-Type {ctype or 'missing'}; starts {head[:60]!r})", head)
    if not isinstance(body, dict):
        return FetchedDocument(name, url, 200, ctype, None, "the body is JSON but not an object", head)
    return FetchedDocument(name, url, 200, ctype, body, None, head)


def oauth_uris(capability: dict[str, Any] | None) -> dict[str, str]:
    """The ``oauth-uris`` extension of a CapabilityStatement's REST security: {'token': ..., 'authorize': ...}."""
    if not capability:
        return {}
    for rest in capability.get("rest") or []:
        for ext in ((rest.get("security") or {}).get("extension") or []):
            if ext.get("url") == OAUTH_URIS:
                return {e.get("url"): e.get("valueUri") for e in ext.get("extension") or [] if e.get("valueUri")}
    return {}


def resource_entries(capability: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not capability:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for rest in capability.get("rest") or []:
        if rest.get("mode", "server") != "server":
            continue
        for res in rest.get("resource") or []:
            if isinstance(res, dict) and isinstance(res.get("type"), str):
                out[res["type"]] = res
    return out


class Discovery:
    """The tenant's discovery documents, each fetched at most once per run."""

    def __init__(self, client: TenantClient, tenant: Tenant) -> None:
        self.client = client
        self.tenant = tenant
        self._capabilities: dict[str, FetchedDocument] = {}

    @cached_property
    def versions(self) -> tuple[str, ...]:
        wanted = {api.version for api in self.tenant.requested.apis if api.version}
        return tuple(v for v in FHIR_VERSIONS if v in wanted) or ("R4",)

    @property
    def primary_version(self) -> str:
        return self.versions[0]

    @cached_property
    def smart_configuration(self) -> FetchedDocument:
        base = self.tenant.fhir_base(self.primary_version)
        doc = fetch_json_document(self.client, "smart-configuration", f"{base}/{SMART_CONFIGURATION}",
                                  accept="application/json")
        return doc

    def capability(self, version: str) -> FetchedDocument:
        if version not in self._capabilities:
            base = self.tenant.fhir_base(version)
            self._capabilities[version] = fetch_json_document(
                self.client, f"{version} CapabilityStatement", f"{base}/metadata", accept="application/fhir+json",
                headers={"Epic-Client-ID": self.tenant.auth.client_id},
            )
        return self._capabilities[version]

    def fetched(self, version: str) -> FetchedDocument | None:
        """The CapabilityStatement of ``version`` if this run fetched it, without fetching it."""
        return self._capabilities.get(version)

    def token_endpoint(self) -> str:
        if self.tenant.auth.token_endpoint:
            return self.tenant.auth.token_endpoint
        smart = self.smart_configuration.body or {}
        if isinstance(smart.get("token_endpoint"), str):
            return smart["token_endpoint"]
        token = oauth_uris(self.capability(self.primary_version).body).get("token")
        if token:
            return token
        smart_doc = self.smart_configuration
        why = (f"the smart-configuration could not be read ({smart_doc.error})" if smart_doc.body is None
               else "the smart-configuration has no token_endpoint")
        cap = self.capability(self.primary_version)
        cap_why = (f"the CapabilityStatement could not be read ({cap.error})" if cap.body is None
                   else "the CapabilityStatement has no oauth-uris token")
        raise AuthError(f"no token endpoint: {why} and {cap_why}; set auth.token_endpoint in the tenant file "
                        f"if the tenant does not publish it", category="tenant-configuration")

    @property
    def software_version(self) -> str | None:
        for version in self.versions:
            doc = self._capabilities.get(version)
            software = (doc.body or {}).get("software") if doc else None
            if isinstance(software, dict) and software.get("version"):
                return str(software["version"])
        return None
