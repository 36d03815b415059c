"""A fleet run: every distinct tenant's smart-configuration and CapabilityStatement, fetched
independently and concurrently, and what they say."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

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
from harness.fleet.fetch import FHIR_JSON, JSON, WRONG_DOCUMENT, Fetched, Fetcher, FetchOptions, origin_of
from harness.fleet.release import parse_release
from harness.fleet.targets import REFUSALS
from harness.fleet.text import clip
from harness.tls import EXPIRY_WARNING_DAYS, LEGACY

if TYPE_CHECKING:
    from harness.fleet.cassettes import FleetCassettes

FORMAT = "epic-harness-fleet/1"
SMART_CONFIGURATION = ".well-known/smart-configuration"

#: tenant status: both documents answered, one did, neither did, or the address is malformed
STATUSES = ("ok", "partial", "failed", "malformed-address")


@dataclass(frozen=True)
class Statement:
    """What the fleet keeps of a CapabilityStatement once it is read (the document itself is dropped)."""

    software_name: str | None
    software_version: str | None
    release_date: str | None
    fhir_version: str | None
    fingerprint: str | None
    resource_count: int | None
    supported_profiles: int | None

    @classmethod
    def of(cls, capability: dict[str, Any]) -> Statement:
        software = capability.get("software") if isinstance(capability.get("software"), dict) else {}
        fhir_version = capability.get("fhirVersion")

        def text(value: Any) -> str | None:
            return value if isinstance(value, str) else None

        return cls(text(software.get("name")), text(software.get("version")), text(software.get("releaseDate")),
                   text(fhir_version), fingerprint(capability), resource_count(capability),
                   supported_profile_count(capability))


@dataclass
class TenantResult:
    """One distinct address: what each document did, and what the fleet read from them."""

    target: Target
    metadata: Fetched | None = None
    smart: Fetched | None = None
    statement: Statement | None = None
    coverage: Coverage | None = None
    readiness: Readiness | None = None
    tls: dict[str, Any] | None = None

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
    def fhir_release(self) -> str | None:
        """R4, STU3 or DSTU2: from the address, else from the statement's fhirVersion."""
        return self.target.address.release or fhir_release(self.statement.fhir_version if self.statement else None)

    def as_dict(self) -> dict[str, Any]:
        target, st = self.target, self.statement
        release = parse_release(st.software_version) if st else None
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
            "software": {"name": st.software_name, "version": st.software_version,
                         "release_date": st.release_date} if st else None,
            "release": release.label if release else None,
            "release_sort": release.as_list() if release else None,
            "fhir_version": st.fhir_version if st else None,
            "fhir_release": self.fhir_release,
            "coverage": self.coverage.as_dict() if self.coverage else None,
            "readiness": self.readiness.as_dict() if self.readiness else None,
            "fingerprint": st.fingerprint if st else None,
            "resource_count": st.resource_count if st else None,
            "supported_profiles": st.supported_profiles if st else None,
            "tls": self.tls,
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
    paced: bool = True  # the per-host rate limit applied (not under replay)

    def tenant_dicts(self) -> list[dict[str, Any]]:
        return [t.as_dict() for t in self.tenants]

    def as_dict(self) -> dict[str, Any]:
        return report_dict(self.directory, self.requested, self.options, self.tenant_dicts(), started=self.started,
                           wall_s=self.wall_s, requests=self.requests, paced=self.paced)


def report_dict(directory: Directory, requested: RequestedApis, options: FetchOptions,
                tenants: list[dict[str, Any]], *, started: datetime, wall_s: float, requests: int,
                paced: bool = True) -> dict[str, Any]:
    """The ``fleet.json`` object of a run from its tenant objects (in directory order)."""
    return {
        "format": FORMAT,
        "generated": started.isoformat(timespec="seconds"),
        "directory": directory.summary(),
        "apis": {
            "set": requested.name,
            "requested": [{"name": a.name, "version": a.version, "fhir": a.is_fhir} for a in requested.apis],
        },
        "options": options.as_dict(),
        "stats": stats(tenants, wall_s=wall_s, entries=len(directory.entries), requests=requests,
                       per_host_rps=options.per_host_rps if paced else None),
        "tenants": tenants,
    }


def tls_stats(tenants: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the https tenants' TLS facts add up to."""
    https = [t for t in tenants if (t.get("url") or "").lower().startswith("https://")]
    seen = [t["tls"] for t in https if t.get("tls")]
    out: dict[str, Any] = {
        "https_tenants": len(https),
        "handshakes": len(seen),
        "versions": dict(Counter(f.get("version") or "unknown" for f in seen).most_common()),
    }
    for field_name, _ in LEGACY:
        out[field_name] = dict(Counter(f.get(field_name) or "not probed" for f in seen).most_common())
    out["expiring_certificates"] = sum(1 for f in seen if (f.get("certificate") or {}).get("expires_soon"))
    out["expiry_warning_days"] = EXPIRY_WARNING_DAYS
    out["certificate_failures"] = sum(1 for t in https if t.get("failure") == "tls-certificate")
    return out


def rate_limit_stats(tenants: Sequence[dict[str, Any]], per_host_rps: float | None, wall_s: float) -> dict[str, Any]:
    """Whether the per-host rate limit set the pace: the busiest host's requests, and the least
    time they take at the limit."""
    load: Counter[str] = Counter()
    for t in tenants:
        if t.get("url"):
            load[origin_of(t["url"])] += sum((t.get(d) or {}).get("attempts") or 0
                                             for d in ("metadata", "smart_configuration"))
    host, count = load.most_common(1)[0] if load else (None, 0)
    floor = (count - 1) / per_host_rps if per_host_rps and count > 1 else 0.0
    return {
        "per_host_rps": per_host_rps,
        "busiest_host": host,
        "busiest_host_requests": count,
        "floor_s": round(floor, 3),
        # the limit, not the tenants, decided the run's length
        "bound": bool(per_host_rps) and floor >= 1.0 and floor >= 0.5 * wall_s,
    }


def stats(tenants: Sequence[dict[str, Any]], *, wall_s: float, entries: int, requests: int,
          per_host_rps: float | None = None) -> dict[str, Any]:
    """Run statistics from the tenant objects of a run (``per_host_rps``: the limit that paced it)."""
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
        "refused": dict(Counter(t["failure"] for t in tenants if t["failure"] in REFUSALS).most_common()),
        "tls": tls_stats(tenants),
        "rate_limit": rate_limit_stats(tenants, per_host_rps, wall_s),
        "requests": requests,
        "wall_s": round(wall_s, 3),
        "sum_tenant_s": round(total, 3),
        "parallelism": round(total / wall_s, 2) if wall_s > 0 else None,
    }


class _Analyser:
    """Reads each document the moment it arrives and keeps only what it says, so that at most one
    parsed document is alive at a time; coverage is computed once per shape."""

    def __init__(self, requested: RequestedApis) -> None:
        self.requested = requested
        self._coverage: dict[tuple[str | None, str | None], Coverage | None] = {}

    def metadata(self, result: TenantResult, metadata: Fetched) -> Fetched:
        capability = metadata.body if metadata.ok else None
        if capability is not None and not is_capability_statement(capability):
            kind = capability.get("resourceType")
            shown = clip(kind, 60) if isinstance(kind, str) else None
            return dataclasses.replace(
                metadata, outcome=WRONG_DOCUMENT, body=None,
                detail=f"a JSON {shown or 'object without resourceType'} where a CapabilityStatement was expected")
        if capability is not None:
            try:
                statement = Statement.of(capability)
                release = result.target.address.release or fhir_release(statement.fhir_version)
                key = (statement.fingerprint, release)
                if key not in self._coverage:  # the shape holds everything coverage reads
                    self._coverage[key] = coverage(self.requested, release, capability)
            except Exception as exc:  # a statement whose content is not FHIR's shape
                return dataclasses.replace(
                    metadata, outcome=WRONG_DOCUMENT, body=None,
                    detail=f"a CapabilityStatement the fleet cannot read ({type(exc).__name__})")
            result.statement, result.coverage = statement, self._coverage[key]
        # keep what was read, not the document: a fleet's statements are hundreds of megabytes parsed
        return dataclasses.replace(metadata, body=None)

    def smart(self, result: TenantResult, smart: Fetched) -> Fetched:
        try:
            result.readiness = readiness(smart.body if smart.ok else None)
        except Exception as exc:
            result.readiness = readiness(None)
            return dataclasses.replace(smart, outcome=WRONG_DOCUMENT, body=None,
                                       detail=f"a smart-configuration the fleet cannot read ({type(exc).__name__})")
        return dataclasses.replace(smart, body=None)


async def _fetch_tenant(fetcher: Fetcher, target: Target, analyse: _Analyser) -> TenantResult:
    result = TenantResult(target)
    if target.address.malformed or target.address.url is None:
        return result
    url = target.address.url

    async def metadata() -> None:
        result.metadata = analyse.metadata(result, await fetcher.get_json("metadata", f"{url}/metadata", FHIR_JSON))

    async def smart() -> None:
        result.smart = analyse.smart(result, await fetcher.get_json(
            "smart-configuration", f"{url}/{SMART_CONFIGURATION}", JSON))

    # under record or replay, the tenant's own cassette answers for both documents (and their retries)
    tape = fetcher.cassettes.tenant(target) if fetcher.cassettes is not None else contextlib.nullcontext()
    async with tape:
        await asyncio.gather(metadata(), smart())
        result.tls = await fetcher.tls(url)
    return result


async def run_fleet_async(
    directory: Directory,
    targets: Sequence[Target],
    requested: RequestedApis,
    options: FetchOptions | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: Callable[[TenantResult], None] | None = None,
    cassettes: FleetCassettes | None = None,
) -> FleetRun:
    """Fetch and read every target. With ``cassettes`` (record or replay) each tenant's requests
    go through its own cassette; a ``transport`` cannot be combined with them."""
    options = options or FetchOptions()
    if cassettes is not None and transport is not None:
        raise ValueError("cassettes record the network transport; they cannot be combined with a transport")
    run = FleetRun(directory=directory, requested=requested, options=options,
                   paced=not (cassettes is not None and cassettes.replaying))
    started = time.monotonic()
    analyse = _Analyser(requested)
    patched = cassettes.patched() if cassettes is not None else contextlib.nullcontext()
    with patched:
        async with Fetcher(options, transport=transport, cassettes=cassettes) as fetcher:
            async def one(index: int, target: Target) -> tuple[int, TenantResult]:
                result = await _fetch_tenant(fetcher, target, analyse)
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
              progress: Callable[[TenantResult], None] | None = None,
              cassettes: FleetCassettes | None = None) -> FleetRun:
    """:func:`run_fleet_async` in its own event loop."""
    return asyncio.run(run_fleet_async(directory, targets, requested, options, transport=transport,
                                       progress=progress, cassettes=cassettes))
