"""A fleet run: every distinct tenant's smart-configuration and CapabilityStatement, fetched
independently and concurrently, and what they say."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx

from harness.catalog import RequestedApis
from harness.fleet.analyse import (
    Coverage,
    Readiness,
    coverage,
    fhir_release,
    fingerprint,
    is_capability_statement,
    readiness,
    resource_count,
    supported_profile_count,
)
from harness.fleet.directory import Directory, Target
from harness.fleet.fetch import FHIR_JSON, JSON, FetchOptions, Fetched, Fetcher
from harness.fleet.release import parse_release

FORMAT = "epic-harness-fleet/1"
SMART_CONFIGURATION = ".well-known/smart-configuration"
WRONG_DOCUMENT = "wrong-document"

#: tenant status: both documents answered, one did, neither did, or the address is malformed
STATUSES = ("ok", "partial", "failed", "malformed-address")


@dataclass
class TenantResult:
    target: Target
    metadata: Fetched | None = None
    smart: Fetched | None = None
    coverage: Coverage | None = None
    readiness: Readiness | None = None

    @property
    def status(self) -> str:
        if self.target.address.malformed:
            return "malformed-address"
        answered = [doc is not None and doc.ok for doc in (self.metadata, self.smart)]
        if all(answered):
            return "ok"
        return "partial" if any(answered) else "failed"

    @property
    def answered(self) -> bool:
        return self.status in ("ok", "partial")

    @property
    def failure(self) -> str | None:
        """The tenant's first failure class: the address's, else the metadata's, else the smart-configuration's."""
        if self.target.address.malformed:
            return "malformed-address"
        for doc in (self.metadata, self.smart):
            if doc is not None and not doc.ok:
                return doc.outcome
        return None

    @property
    def capability(self) -> dict[str, Any] | None:
        return self.metadata.body if self.metadata is not None and self.metadata.ok else None

    def as_dict(self) -> dict[str, Any]:
        target, capability = self.target, self.capability
        software = capability.get("software") if capability and isinstance(capability.get("software"), dict) else {}
        version = software.get("version") if isinstance(software.get("version"), str) else None
        release = parse_release(version)
        fhir_version = capability.get("fhirVersion") if capability else None
        unanswered = {"url": None, "outcome": "malformed-address", "http_status": None, "content_type": None,
                      "detail": target.address.problem, "attempts": 0, "elapsed_s": 0.0}
        elapsed = sum(d.elapsed_s for d in (self.metadata, self.smart) if d is not None)
        return {
            "key": target.key,
            "name": target.name,
            "url": target.address.url,
            "address": target.address.raw,
            "addresses": list(target.addresses),
            "address_problem": target.address.problem,
            "address_notes": list(target.address.notes),
            "organizations": [o.as_dict() for o in target.organizations],
            "entries": target.entries,
            "status": self.status,
            "answered": self.answered,
            "failure": self.failure,
            "metadata": self.metadata.as_dict() if self.metadata else dict(unanswered),
            "smart_configuration": self.smart.as_dict() if self.smart else dict(unanswered),
            "software": {
                "name": software.get("name"),
                "version": version,
                "release_date": software.get("releaseDate"),
            } if capability else None,
            "release": release.label if release else None,
            "release_sort": release.as_list() if release else None,
            "fhir_version": fhir_version if isinstance(fhir_version, str) else None,
            "fhir_release": target.address.release or fhir_release(fhir_version if isinstance(fhir_version, str)
                                                                   else None),
            "coverage": self.coverage.as_dict() if self.coverage else None,
            "readiness": self.readiness.as_dict() if self.readiness else None,
            "fingerprint": fingerprint(capability),
            "resource_count": resource_count(capability),
            "supported_profiles": supported_profile_count(capability),
            "elapsed_s": round(elapsed, 4),
        }


@dataclass
class FleetRun:
    directory: Directory
    requested: RequestedApis
    options: FetchOptions
    tenants: list[TenantResult] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    wall_s: float = 0.0
    requests: int = 0

    def tenant_dicts(self) -> list[dict[str, Any]]:
        return [t.as_dict() for t in self.tenants]

    def as_dict(self) -> dict[str, Any]:
        tenants = self.tenant_dicts()
        return {
            "format": FORMAT,
            "generated": self.started.isoformat(timespec="seconds"),
            "directory": self.directory.summary(),
            "apis": {
                "set": self.requested.name,
                "requested": [{"name": a.name, "version": a.version, "fhir": a.is_fhir} for a in self.requested.apis],
            },
            "options": self.options.as_dict(),
            "stats": stats(tenants, wall_s=self.wall_s, entries=len(self.directory.entries), requests=self.requests),
            "tenants": tenants,
        }


def stats(tenants: Sequence[dict[str, Any]], *, wall_s: float, entries: int, requests: int) -> dict[str, Any]:
    """Run statistics from the tenant objects of a run."""
    fetched = [t for t in tenants if t["status"] != "malformed-address"]
    by_release = Counter(t["release"] or "unknown" for t in fetched if t["metadata"]["outcome"] == "ok")
    release_order = {t["release"]: tuple(t["release_sort"]) for t in fetched if t["release"]}
    total = sum(t["elapsed_s"] for t in tenants)
    return {
        "entries": entries,
        "tenants": len(tenants),
        "fetched": len(fetched),
        "malformed": len(tenants) - len(fetched),
        "answered": sum(1 for t in tenants if t["answered"]),
        "by_status": {s: sum(1 for t in tenants if t["status"] == s) for s in STATUSES},
        "metadata": dict(Counter(t["metadata"]["outcome"] for t in fetched).most_common()),
        "smart_configuration": dict(Counter(t["smart_configuration"]["outcome"] for t in fetched).most_common()),
        "by_release": dict(sorted(by_release.items(), key=lambda kv: release_order.get(kv[0], (0, 0)),
                                  reverse=True)),
        "fhir_versions": dict(Counter(t["fhir_version"] for t in fetched if t["fhir_version"]).most_common()),
        "ready": sum(1 for t in tenants if (t["readiness"] or {}).get("ready") is True),
        "not_ready": sum(1 for t in tenants if (t["readiness"] or {}).get("ready") is False),
        "full_coverage": sum(1 for t in tenants if (t["coverage"] or {}).get("full")),
        "shapes": len({t["fingerprint"] for t in tenants if t["fingerprint"]}),
        "requests": requests,
        "wall_s": round(wall_s, 3),
        "sum_tenant_s": round(total, 3),
        "parallelism": round(total / wall_s, 2) if wall_s > 0 else None,
    }


def _base_url(url: str, document: str) -> str:
    return f"{url}/{document}"


async def _fetch_tenant(fetcher: Fetcher, target: Target, requested: RequestedApis) -> TenantResult:
    result = TenantResult(target)
    if target.address.malformed or target.address.url is None:
        return result
    url = target.address.url
    metadata, smart = await asyncio.gather(
        fetcher.get_json("metadata", _base_url(url, "metadata"), FHIR_JSON),
        fetcher.get_json("smart-configuration", _base_url(url, SMART_CONFIGURATION), JSON),
    )
    if metadata.ok and not is_capability_statement(metadata.body):
        kind = (metadata.body or {}).get("resourceType")
        metadata = Fetched(metadata.name, metadata.url, WRONG_DOCUMENT, metadata.http_status, metadata.content_type,
                           f"a JSON {kind or 'object without resourceType'} where a CapabilityStatement was expected",
                           metadata.attempts, metadata.elapsed_s)
    result.metadata, result.smart = metadata, smart
    release = target.address.release
    if release is None and metadata.ok:
        fhir_version = metadata.body.get("fhirVersion") if metadata.body else None
        release = fhir_release(fhir_version if isinstance(fhir_version, str) else None)
    result.coverage = coverage(requested, release, metadata.body if metadata.ok else None)
    result.readiness = readiness(smart.body if smart.ok else None)
    return result


async def run_fleet_async(
    directory: Directory,
    targets: Sequence[Target],
    requested: RequestedApis,
    options: FetchOptions | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: Callable[[TenantResult], None] | None = None,
) -> FleetRun:
    options = options or FetchOptions()
    run = FleetRun(directory=directory, requested=requested, options=options)
    started = time.monotonic()
    async with Fetcher(options, transport=transport) as fetcher:
        async def one(index: int, target: Target) -> tuple[int, TenantResult]:
            result = await _fetch_tenant(fetcher, target, requested)
            if progress is not None:
                progress(result)
            return index, result

        done = await asyncio.gather(*(one(i, t) for i, t in enumerate(targets)))
        run.requests = fetcher.requests
    run.tenants = [r for _, r in sorted(done, key=lambda pair: pair[0])]
    run.wall_s = time.monotonic() - started
    return run


def run_fleet(directory: Directory, targets: Sequence[Target], requested: RequestedApis,
              options: FetchOptions | None = None, *, transport: httpx.AsyncBaseTransport | None = None,
              progress: Callable[[TenantResult], None] | None = None) -> FleetRun:
    """:func:`run_fleet_async` in its own event loop."""
    return asyncio.run(run_fleet_async(directory, targets, requested, options, transport=transport,
                                       progress=progress))
