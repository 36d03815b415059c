"""A fleet of simulated Epic tenants served at once, each under its own base path and one of
several loopback host names.

Tenant ``name`` lives at ``/t/<name>``: its FHIR bases are ``/t/<name>/api/FHIR/{R4,STU3,DSTU2}``
and its token endpoint ``/t/<name>/oauth2/token``. Each tenant is one sandbox (``create_app``)
served with the faults its fields stand for (``FleetTenant.faults``, see ``faults/fleet.py``): its
release in ``software.version``, ``supportedProfile`` (absent on old releases), and how its
discovery documents are served (503, an HTML page, XML whatever is asked, a hang, a delay, a
first request that fails). It is a whole tenant (token endpoint, FHIR API), not only discovery
documents. Like Epic's servers, the base path is matched without regard to case.

As in the real fleet, tenants may sit on many hosts: with ``hosts`` above 1 (the default of
``python -m harness.sandbox.fleet``), :class:`EmbeddedFleet` listens on that many loopback
addresses (127.0.0.1, 127.0.0.2, ...; all loopback on Linux) on one port, and the directory
spreads the tenants over them by name, so that a per-host rate limit applies as it would.

:func:`build_fleet` makes a :class:`FleetSpec`, deterministic from a seed, with every
:data:`VARIATIONS` entry; :class:`EmbeddedFleet` serves it on a loopback port;
:func:`endpoint_directory` writes a directory Bundle in Epic's format listing every tenant, plus
unreachable addresses (``.invalid`` host names, a closed loopback port, TLS spoken to the plain
HTTP port) and malformed ones. No address leaves loopback (an inward redirect names the cloud
metadata address, which nothing serves and no fetch may reach).

The fleet's safety tests need tenants that attack the fetcher; they are never in the default
fleet (whose figures the benchmarks keep): ``build_fleet(hostile=True)`` (or ``python -m
harness.sandbox.fleet --hostile``) adds one tenant of each :data:`HOSTILE_VARIATIONS` (a gzip bomb,
``gzip, gzip``, a body that never ends, a redirect inward, https tenants with a throwaway CA, one
whose certificate expires in 10 days, one that redirects from https to http) and an address whose
service writes an SSH banner. :class:`EmbeddedFleet` serves them on ports of their own.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import ipaddress
import json
import logging
import random
import re
import socket
import sys
import tempfile
import threading
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette

from . import negotiation
from .app import create_app
from .certs import ThrowawayCA
from .faults.fleet import (
    DOCUMENT_BEHAVIOURS,
    HOSTILE_FIELDS,
    HOSTILE_VARIATIONS,
    OLD_CAPABILITIES,
    SANDBOX_GRANT_TYPES,
    TLS_KINDS,
    TOKEN_EXCHANGE,
    VARIATION_FIELDS,
    VARIATIONS,
    tenant_faults,
)
from .hostile import HostileServer
from .server import EmbeddedSandbox, listen
from .settings import SandboxSettings, default_settings

#: Loopback host names ``python -m harness.sandbox.fleet`` spreads the tenants over by default.
SERVED_HOSTS = 32

__all__ = ["DOCUMENT_BEHAVIOURS", "HOSTILE_VARIATIONS", "OLD_CAPABILITIES", "SANDBOX_GRANT_TYPES", "TOKEN_EXCHANGE",
           "VARIATIONS"]

#: Current releases and their weight in the fleet (Epic's production fleet, 2026-05-14).
CURRENT_RELEASES = (("November 2025", 293), ("August 2025", 133), ("May 2025", 54), ("February 2026", 43),
                    ("February 2025", 24))
#: The old tenants of the real fleet: release and the resource types they lack.
OLD_TENANTS = (
    ("February 2023", ("Claim", "Contract", "Media")),
    ("February 2023", ()),
    ("May 2024", ("Claim", "Contract", "Media")),
    ("May 2024", ("Account", "Appointment", "MedicationAdministration", "Claim", "Contract", "Media")),
    ("May 2022", ("Account", "Appointment", "Claim", "Contract", "Media")),
    ("May 2022", ("Contract", "Media")),
    ("February 2024", ()),
)
#: How many tenants of each variation :func:`build_fleet` makes (the rest are "current").
VARIATION_COUNTS: dict[str, int] = {
    "old-release": len(OLD_TENANTS), "localized-release": 1, "fhir-4.0.0": 2, "fewer-resources": 4,
    "empty-grant-types": 3, "no-smart-config": 6, "no-metadata": 3, "metadata-503": 3, "down-503": 2, "html": 3,
    "not-json": 2, "forbidden": 2, "hang": 2, "flaky": 3, "dstu2": 2,
}
#: Organisations listed behind one address, for a few current tenants.
SHARED_ADDRESSES = (16, 7, 3, 2)

_PLACES = ("Cedar", "Maple", "Harbor", "Summit", "River", "Prairie", "Lakeside", "Valley", "Granite", "Willow",
           "Aspen", "Coastal", "Highland", "Pine", "Riverside", "Mesa", "Bayview", "Northfield", "Sandstone",
           "Evergreen", "Juniper", "Red Rock", "Silver Creek", "Oak Ridge", "Blue Hill", "Meadowbrook")
_KINDS = ("Health", "Medical Center", "Health System", "Clinic", "Children's Hospital", "Physicians",
          "Community Health", "Regional Medical Center", "Family Medicine", "Care Network")


@dataclass(frozen=True)
class FleetTenant:
    """One simulated tenant: where it lives, what it declares and how it serves discovery."""

    name: str  # its path segment: /t/<name>
    variation: str
    release: str  # software.version
    organizations: tuple[str, ...]
    fhir: str = "R4"  # the FHIR base the directory lists
    fhir_version: str | None = None  # fhirVersion to declare instead of the shipped one
    drop_resources: tuple[str, ...] = ()
    profiles: bool = True  # supportedProfile on resources
    rev_include: bool = True  # searchRevInclude on resources (releases before August 2025 differ here)
    grant_types: tuple[str, ...] | None = SANDBOX_GRANT_TYPES
    capabilities: tuple[str, ...] | None = None  # None: as Epic's sandbox
    code_challenge_methods: tuple[str, ...] | None = None  # None: as Epic's sandbox
    metadata: str = "ok"
    smart: str = "ok"
    delay: float = 0.0  # seconds before either document answers
    tls: str | None = None  # served over https with a certificate of this kind (TLS_KINDS); None: plain http

    def __post_init__(self) -> None:
        if self.variation not in VARIATIONS and self.variation not in HOSTILE_VARIATIONS:
            raise ValueError(f"unknown fleet variation {self.variation!r}")
        for behaviour in (self.metadata, self.smart):
            if behaviour not in DOCUMENT_BEHAVIOURS:
                raise ValueError(f"unknown document behaviour {behaviour!r}")
        if self.tls is not None and self.tls not in TLS_KINDS:
            raise ValueError(f"unknown certificate kind {self.tls!r} (known: {', '.join(TLS_KINDS)})")

    @property
    def base_path(self) -> str:
        return f"/t/{self.name}/api/FHIR/{self.fhir}"

    def faults(self, plain_origin: str | None = None) -> frozenset[str]:
        """The sandbox faults this tenant is served with (``plain_origin``: where the fleet serves
        plain http, for a tenant that redirects there from https)."""
        return tenant_faults(fhir=self.fhir, release=self.release, fhir_version=self.fhir_version,
                             drop_resources=self.drop_resources, profiles=self.profiles, rev_include=self.rev_include,
                             grant_types=self.grant_types, capabilities=self.capabilities,
                             code_challenge_methods=self.code_challenge_methods, metadata=self.metadata,
                             smart=self.smart, delay=self.delay, plain_origin=plain_origin)

    def statement_key(self) -> tuple[Any, ...]:
        """What shapes the tenant's CapabilityStatement (tenants with equal keys declare alike)."""
        return (self.fhir, self.release, self.fhir_version, tuple(sorted(self.drop_resources)), self.profiles,
                self.rev_include)


@dataclass(frozen=True)
class OffFleetAddress:
    """An address listed in the directory that no tenant answers."""

    name: str
    kind: str  # "dns" (.invalid host), "connect" (closed loopback port), "tls" (TLS to the plain HTTP port),
    #            "banner" (a service that is not HTTP: it writes an SSH banner; hostile fleets only)
    organization: str


@dataclass(frozen=True)
class FleetSpec:
    seed: int
    tenants: tuple[FleetTenant, ...]
    unreachable: tuple[OffFleetAddress, ...] = ()
    malformed: tuple[tuple[str, str | None], ...] = ()  # (address, with {origin} for the loopback origin; name)
    _index: dict[str, FleetTenant] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [t.name.lower() for t in self.tenants]
        if len(names) != len(set(names)):
            raise ValueError("tenant names must be unique (case-insensitively)")
        self._index.update({t.name.lower(): t for t in self.tenants})

    def tenant(self, name: str) -> FleetTenant:
        return self._index[name.lower()]

    def get(self, name: str) -> FleetTenant | None:
        return self._index.get(name.lower())

    def of_variation(self, variation: str) -> list[FleetTenant]:
        return [t for t in self.tenants if t.variation == variation]

    def replace(self, name: str, **changes: Any) -> FleetSpec:
        """A copy with tenant ``name`` changed (``FleetTenant`` fields)."""
        tenants = tuple(dataclasses.replace(t, **changes) if t.name == name else t for t in self.tenants)
        return FleetSpec(self.seed, tenants, self.unreachable, self.malformed)


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def build_fleet(seed: int = 7, size: int = 420, *, slow: int = 0, slow_delay: float = 0.5,
                hostile: bool = False) -> FleetSpec:
    """A fleet of ``size`` served tenants with every variation, deterministic from ``seed``.

    ``slow`` tenants answer after ``slow_delay`` seconds (for benchmarks). Besides the served
    tenants the directory lists 4 ``.invalid`` hosts, 3 addresses on a closed loopback port, 2 that
    get TLS on the plain HTTP port, and 10 malformed addresses. With ``hostile``, one tenant of each
    :data:`HOSTILE_VARIATIONS` is added after them (named ``hostile-<variation>``), and an address
    whose service writes an SSH banner; the other tenants are the same as without.
    """
    fixed = sum(VARIATION_COUNTS.values()) + slow
    if size < fixed + len(SHARED_ADDRESSES):
        raise ValueError(f"a fleet needs at least {fixed + len(SHARED_ADDRESSES)} tenants")
    rng = random.Random(seed)
    plan = [v for v, n in VARIATION_COUNTS.items() for _ in range(n)] + ["slow"] * slow
    plan += ["current"] * (size - len(plan))
    rng.shuffle(plan)
    used: set[str] = set()
    old = iter(OLD_TENANTS)
    tenants = []
    for index, variation in enumerate(plan):
        org = f"{rng.choice(_PLACES)} {rng.choice(_KINDS)}"
        slug = re.sub(r"[^a-z0-9]+", "-", org.lower()).strip("-")
        name = f"{slug}-{index:03d}"
        used.add(name)
        release = _weighted(rng, CURRENT_RELEASES)
        kwargs: dict[str, Any] = {"name": name, "variation": variation, "release": release, "organizations": (org,)}
        if release in ("February 2025", "May 2025"):
            kwargs["rev_include"] = False
        if release == "February 2026":
            kwargs["grant_types"] = SANDBOX_GRANT_TYPES + (TOKEN_EXCHANGE,)
        fields = dict(VARIATION_FIELDS[variation])
        if variation == "old-release":
            fields["release"], fields["drop_resources"] = next(old)
        elif variation == "slow":
            fields["delay"] = slow_delay
        kwargs.update(fields)
        tenants.append(FleetTenant(**kwargs))
    current = [i for i, t in enumerate(tenants) if t.variation == "current"]
    for count, index in zip(SHARED_ADDRESSES, rng.sample(current, len(SHARED_ADDRESSES))):
        first = tenants[index].organizations[0]
        extra = tuple(f"{rng.choice(_PLACES)} {rng.choice(_KINDS)} ({first})" for _ in range(count - 1))
        tenants[index] = dataclasses.replace(tenants[index], organizations=(first,) + extra)
    unreachable = tuple(
        [OffFleetAddress(f"epicproxy-et{rng.randint(1000, 9999)}-{i}", "dns", f"Unresolvable Health {i}")
         for i in range(4)]
        + [OffFleetAddress(f"gone-{i}", "connect", f"Closed Port Clinic {i}") for i in range(3)]
        + [OffFleetAddress(f"tls-{i}", "tls", f"Handshake Medical {i}") for i in range(2)]
    )
    malformed: tuple[tuple[str, str | None], ...] = (
        ("{origin}/t/broken-1/FHIRProxy?api/FHIR/R4/", "FHIR URL"),
        ("{origin}/t/broken-2/FHIRProxy/api.FHIR/R4/", "FHIR URL"),
        ("{origin}/t/broken-3/FHIRProxy/api/FHIR/Rpr4/", None),
        ("{origin}/t/broken-4/FHIRProxy/api/FH/IR/R4/", "FHIR URL"),
        ("{origin}/t/broken-5/FHIRProxy//api/FHIR/R4/", "FHIR URL"),
        ("https://epicproxy=pub.et1089.invalid/FHIRProxy/api/FHIR/R4/", "FHIR URL"),
        ("https://epicproxy.et0927.invalid", None),
        ("ftp://127.0.0.1/FHIRProxy/api/FHIR/R4/", "FHIR URL"),
        ("http://epicproxy.et0965.invalid/FHIRProxy/api/FHIR/R4/", "FHIR URL"),
        ("{origin}/t/broken-6/FHIRProxy/api/FHIR/DSTU2/https://epicproxy.invalid", None),
    )
    if hostile:
        tenants += [FleetTenant(name=f"hostile-{variation}", variation=variation, release="November 2025",
                                organizations=(f"Hostile {variation.replace('-', ' ').title()} Clinic",),
                                **HOSTILE_FIELDS[variation])
                    for variation in HOSTILE_VARIATIONS]
        unreachable += (OffFleetAddress("banner-0", "banner", "Banner Service Clinic"),)
    return FleetSpec(seed, tuple(tenants), unreachable, malformed)


# --- serving ------------------------------------------------------------------------------------

_TENANT_PATH = re.compile(r"^/t/([^/]+)(/.*)?$", re.IGNORECASE)
_FHIR_PREFIX = re.compile(r"^/api/fhir/(r4|stu3|dstu2)(?=/|$)", re.IGNORECASE)


class FleetApp:
    """The ASGI application serving every tenant of a :class:`FleetSpec`: it routes each request
    to its tenant's sandbox by path. ``load()`` swaps the spec (and serves every tenant afresh).
    ``plain_origin`` is where it is served over plain http (for tenants that redirect there)."""

    def __init__(self, spec: FleetSpec, plain_origin: str | None = None) -> None:
        self.plain_origin = plain_origin
        self.load(spec)

    def load(self, spec: FleetSpec) -> None:
        self.spec = spec
        self._apps: dict[str, Starlette] = {}
        self.requests = 0

    def tenant_app(self, tenant: FleetTenant) -> Starlette:
        faults = tenant.faults(self.plain_origin)
        key = f"{tenant.name}|{sorted(faults)}"
        app = self._apps.get(key)
        if app is None:
            app = self._apps[key] = create_app(SandboxSettings(faults=faults))
        return app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.requests += 1
        root_path = str(scope.get("root_path", "")).rstrip("/")
        path = scope["path"]
        route = path[len(root_path):] if root_path and path.startswith(root_path + "/") else path
        match = _TENANT_PATH.match(route)
        tenant = self.spec.get(match.group(1)) if match else None
        if tenant is None or match is None:
            await negotiation.html("iis-404")(scope, receive, send)
            return
        rest = _FHIR_PREFIX.sub(lambda m: f"/api/FHIR/{m.group(1).upper()}", match.group(2) or "")
        tenant_root = f"{root_path}/t/{tenant.name}"
        child = dict(scope, root_path=tenant_root, path=tenant_root + rest,
                     raw_path=(tenant_root + rest).encode("utf-8"))
        await self.tenant_app(tenant)(child, receive, send)


class _QuietTlsProbes(logging.Filter):
    """Drops uvicorn's warning for the TLS handshakes the fleet's "tls" addresses send on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Invalid HTTP request received."


_QUIET = _QuietTlsProbes()


def host_aliases(host: str, count: int) -> tuple[str, ...]:
    """``host`` and the loopback addresses after it, ``count`` in all (127.0.0.1, 127.0.0.2, ...);
    a host that is no IPv4 loopback address has no aliases."""
    try:
        first = ipaddress.IPv4Address(host)
    except ValueError:
        return (host,)
    if not first.is_loopback:
        return (host,)
    return tuple(str(first + n) for n in range(max(1, count)) if (first + n).is_loopback)


def host_of(name: str, hosts: tuple[str, ...] | list[str]) -> str:
    """The host tenant ``name`` lives on: fixed by its name, so it stays when the fleet changes."""
    return hosts[zlib.crc32(name.lower().encode("utf-8")) % len(hosts)]


def _with_host(base_url: str, host: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"


class EmbeddedFleet(EmbeddedSandbox):
    """A :class:`FleetApp` on one loopback port of ``hosts`` loopback addresses, in a background
    thread. ``load()`` swaps the fleet.

    A hostile fleet (``build_fleet(hostile=True)``) needs more than one port: its https tenants are
    served by the same application on one https port per kind of certificate (signed by a throwaway
    CA whose PEM is ``ca_file``), and its banner address by a raw socket server; ``start()`` starts
    them when the spec has such tenants, ``stop()`` stops them."""

    def __init__(self, spec: FleetSpec, host: str = "127.0.0.1", port: int = 0, hosts: int = 1) -> None:
        super().__init__(default_settings(), host=host, port=port)
        self.fleet = FleetApp(spec)
        self.app = self.fleet
        self.hosts = host_aliases(host, hosts)
        #: the https servers of the hostile tenants, by certificate kind; the banner server
        self.tls_servers: dict[str, EmbeddedSandbox] = {}
        self.banner: HostileServer | None = None
        self._hostile_folder: tempfile.TemporaryDirectory[str] | None = None

    def _bind(self) -> list[socket.socket]:
        for _ in range(20):  # another program may hold the first free port on an alias
            first = listen(self.host, self.port)
            port, sockets = first.getsockname()[1], [first]
            try:
                sockets += [listen(alias, port) for alias in self.hosts[1:]]
                return sockets
            except OSError:
                for sock in sockets:
                    sock.close()
                if self.port:
                    raise
        raise OSError(f"no port is free on every one of {len(self.hosts)} loopback addresses")

    def start(self) -> EmbeddedFleet:
        logger = logging.getLogger("uvicorn.error")
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
        if self.running:
            return self
        super().start()
        self.fleet.plain_origin = self.base_url
        try:
            self._start_hostile()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_hostile(self) -> None:
        kinds = sorted({t.tls for t in self.spec.tenants if t.tls})
        if kinds:
            self._hostile_folder = tempfile.TemporaryDirectory(prefix="epic-fleet-tls-")
            authority = ThrowawayCA(Path(self._hostile_folder.name), "Sandbox Fleet Throwaway CA")
            self.ca_file = authority.ca_file
            for kind in kinds:
                server = EmbeddedSandbox(default_settings(), host=self.host, tls=True, cert_days=TLS_KINDS[kind],
                                         certificate_authority=authority)
                server.app = self.fleet
                self.tls_servers[kind] = server.start()
        if any(address.kind == "banner" for address in self.spec.unreachable):
            self.banner = HostileServer("banner", host=self.host, lifetime=3600, max_connections=100_000).start()

    def stop(self) -> None:
        for server in self.tls_servers.values():
            server.stop()
        self.tls_servers = {}
        if self.banner is not None:
            self.banner.stop()
            self.banner = None
        super().stop()
        if self._hostile_folder is not None:
            self._hostile_folder.cleanup()
            self._hostile_folder = None

    @property
    def spec(self) -> FleetSpec:
        return self.fleet.spec

    def load(self, spec: FleetSpec) -> None:
        self.fleet.load(spec)

    def tenant_origin(self, name: str) -> str:
        """The origin (one of the fleet's host names, or an https port) the directory lists tenant ``name`` under."""
        tenant = self.spec.tenant(name)
        if tenant.tls and tenant.tls in self.tls_servers:
            return self.tls_servers[tenant.tls].base_url
        return _with_host(self.base_url, host_of(tenant.name, self.hosts))

    def tenant_base(self, name: str) -> str:
        return self.tenant_origin(name) + self.spec.tenant(name).base_path

    def _hostile_options(self) -> dict[str, Any]:
        return {"tls_origins": {kind: server.base_url for kind, server in self.tls_servers.items()},
                "banner_port": self.banner.port if self.banner else None}

    def directory(self, **options: Any) -> dict[str, Any]:
        return endpoint_directory(self.spec, self.base_url, hosts=self.hosts, **self._hostile_options(), **options)

    def write_directory(self, path: str | Path, **options: Any) -> Path:
        return write_endpoint_directory(self.spec, self.base_url, path, hosts=self.hosts, **self._hostile_options(),
                                        **options)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedFleet({self.base_url}, {state}, {len(self.spec.tenants)} tenants on {len(self.hosts)} hosts)"


# --- the endpoint directory ---------------------------------------------------------------------

_CONNECTION_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"}
_PAYLOAD_NA = [{"coding": [{"system": "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/EndpointPayloadTypeCS",
                            "code": "NA"}]}]
_PAYLOAD_ANY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type",
                             "code": "any"}]}]
_MIME_TYPES = ["application/fhir+json", "application/json+fhir", "application/xml+fhir", "application/fhir+xml"]
_DISCOVERY_SOURCE = "https://github.com/mock-health/the-map/discovery-source"


def _org_id(name: str) -> str:
    """A contained Organization id as Epic writes them: 44 characters of base64, not a FHIR id."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    text = base64.b64encode(digest).decode("ascii")
    return text if any(c in text for c in "+/") else text[:-2] + "/="


def _epic_entry(rng: random.Random, address: str, organization: str, start: str) -> dict[str, Any]:
    org_id = _org_id(organization)
    return {"resource": {
        "resourceType": "Endpoint",
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=1)),
        "contained": [{"resourceType": "Organization", "id": org_id, "name": organization}],
        "status": "active",
        "connectionType": dict(_CONNECTION_TYPE),
        "name": organization,
        "managingOrganization": {"reference": org_id},
        "period": {"start": start},
        "payloadType": copy.deepcopy(_PAYLOAD_NA),
        "payloadMimeType": list(_MIME_TYPES),
        "address": address,
    }}


def _npd_entry(rng: random.Random, address: str, name: str | None) -> dict[str, Any]:
    endpoint_id = f"Endpoint-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    resource: dict[str, Any] = {
        "resourceType": "Endpoint",
        "id": f"npd-{endpoint_id}",
        "status": "active",
        "connectionType": dict(_CONNECTION_TYPE),
        "name": name,
        "address": address,
        "payloadType": copy.deepcopy(_PAYLOAD_ANY),
        "extension": [{"url": _DISCOVERY_SOURCE, "valueCode": "npd-2026-05-07"},
                      {"url": f"{_DISCOVERY_SOURCE}/npd-endpoint-id", "valueString": endpoint_id}],
    }
    if name is None:
        resource.pop("name")
    return {"resource": resource}


def _variants(address: str) -> Iterable[str]:
    """Other spellings of one address, as directories write them: no trailing slash, lower-case path."""
    yield address.rstrip("/")
    yield address.replace("/api/FHIR/", "/api/fhir/").replace("/R4/", "/r4/")
    while True:
        yield address


def off_fleet_address(entry: OffFleetAddress, base_url: str, closed_port: int, banner_port: int | None = None) -> str:
    parts = urlsplit(base_url)
    if entry.kind == "dns":
        return f"https://{entry.name}.epichosted.invalid/FHIRProxy/api/FHIR/R4/"
    if entry.kind == "connect" or (entry.kind == "banner" and banner_port is None):
        return f"http://{parts.hostname}:{closed_port}/t/{entry.name}/api/FHIR/R4/"
    if entry.kind == "banner":
        return f"http://{parts.hostname}:{banner_port}/t/{entry.name}/api/FHIR/R4/"
    if entry.kind == "tls":
        return f"https://{parts.netloc}/t/{entry.name}/api/FHIR/R4/"
    raise ValueError(f"unknown kind {entry.kind!r}")


def endpoint_directory(spec: FleetSpec, base_url: str, *, closed_port: int = 1, timestamp: str | None = None,
                       hosts: Iterable[str] = (), tls_origins: dict[str, str] | None = None,
                       banner_port: int | None = None) -> dict[str, Any]:
    """A Bundle in the shape of Epic's published directory listing every tenant of ``spec`` at
    ``base_url`` (spread over ``hosts``, host names of the same port, when given; an https tenant at
    the origin ``tls_origins`` gives for its kind of certificate): one Endpoint per organisation
    (shared addresses repeat, in other spellings), then the unreachable addresses (the banner one
    on ``banner_port``), then the malformed ones (NPD-style entries, without ``contained``)."""
    origin = base_url.rstrip("/")
    aliases = list(hosts)
    secure = tls_origins or {}
    rng = random.Random(spec.seed * 7919 + 1)
    entries = []
    for tenant in spec.tenants:
        if tenant.tls:
            tenant_origin = secure.get(tenant.tls) or f"https://{urlsplit(origin).netloc}"
        else:
            tenant_origin = _with_host(origin, host_of(tenant.name, aliases)) if aliases else origin
        address = f"{tenant_origin}{tenant.base_path}/"
        spellings = _variants(address)
        for i, organization in enumerate(tenant.organizations):
            start = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00-06:00"
            entries.append(_epic_entry(rng, address if i == 0 else next(spellings), organization, start))
    for entry in spec.unreachable:
        entries.append(_epic_entry(rng, off_fleet_address(entry, origin, closed_port, banner_port),
                                   entry.organization, "2024-11-08T00:00:00-06:00"))
    for template, name in spec.malformed:
        entries.append(_npd_entry(rng, template.replace("{origin}", origin), name))
    stamp = timestamp or f"2026-04-27T16:09:30.{rng.randint(0, 9_999_999):07d}-05:00"
    return {"resourceType": "Bundle", "type": "collection", "timestamp": stamp, "total": len(entries),
            "entry": entries}


def write_endpoint_directory(spec: FleetSpec, base_url: str, path: str | Path, **options: Any) -> Path:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    bundle = endpoint_directory(spec, base_url, **options)
    file.write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return file


def serve_fleet(sockets: list[socket.socket], spec: FleetSpec) -> None:
    """Serve the fleet on ``sockets`` (see :func:`listen_fleet`) until interrupted."""
    import uvicorn

    logging.getLogger("uvicorn.error").addFilter(_QUIET)
    config = uvicorn.Config(FleetApp(spec), access_log=False, log_level="info", lifespan="off", server_header=False)
    uvicorn.Server(config).run(sockets=sockets)


def listen_fleet(host: str, port: int, hosts: int = SERVED_HOSTS) -> list[socket.socket]:
    """Listening sockets on ``port`` of ``host`` and its loopback aliases (OSError if one is taken)."""
    sockets: list[socket.socket] = []
    try:
        for alias in host_aliases(host, hosts):
            sockets.append(listen(alias, port))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.sandbox.fleet``: write the directory, then serve the fleet."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness.sandbox.fleet", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", type=int, default=420)
    parser.add_argument("--slow", type=int, default=0)
    parser.add_argument("--hosts", type=int, default=SERVED_HOSTS,
                        help=f"loopback host names to spread the tenants over (default {SERVED_HOSTS})")
    parser.add_argument("--directory", default="fleet-endpoints.json", help="where to write the endpoint directory")
    parser.add_argument("--hostile", action="store_true",
                        help="add the hostile tenants (gzip bombs, an endless body, redirects inward and to http, "
                             "https tenants with a throwaway CA, one expiring soon, an SSH banner); they take more "
                             "ports, chosen free, and the CA's PEM is printed")
    args = parser.parse_args(argv)
    spec = build_fleet(seed=args.seed, size=args.size, slow=args.slow, hostile=args.hostile)
    host = f"[{args.host}]" if ":" in args.host else args.host
    aliases = host_aliases(args.host, args.hosts)
    if args.hostile:
        return _serve_hostile(spec, args.host, args.port, args.hosts, args.directory)
    try:
        sockets = listen_fleet(args.host, args.port, args.hosts)
    except OSError as exc:
        print(f"python -m harness.sandbox.fleet: cannot listen on port {args.port} of {args.host} and its "
              f"loopback aliases: {exc.strerror or exc}", file=sys.stderr)
        return 2
    path = write_endpoint_directory(spec, f"http://{host}:{args.port}", args.directory, hosts=aliases)
    print(f"sandbox fleet: {len(spec.tenants)} tenants at http://{host}:{args.port}/t/<name> and on "
          f"{len(aliases) - 1} other loopback addresses; directory {path}")
    serve_fleet(sockets, spec)
    return 0


def _serve_hostile(spec: FleetSpec, host: str, port: int, hosts: int, directory: str) -> int:
    """Serve a hostile fleet (several ports) from background threads until interrupted (Ctrl-C or
    SIGTERM; its throwaway CA's folder is removed then)."""
    import signal

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    fleet = EmbeddedFleet(spec, host=host, port=port, hosts=hosts)
    try:
        fleet.start()
    except OSError as exc:
        print(f"python -m harness.sandbox.fleet: cannot listen on port {port} of {host} and its loopback aliases: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        path = fleet.write_directory(directory)
        origins = ", ".join(f"{kind} {server.base_url}" for kind, server in fleet.tls_servers.items())
        print(f"sandbox fleet: {len(spec.tenants)} tenants at {fleet.base_url}/t/<name> and on {len(fleet.hosts) - 1} "
              f"other loopback addresses; https tenants at {origins} (test CA {fleet.ca_file}); banner on port "
              f"{fleet.banner.port if fleet.banner else '-'}; directory {path}")
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
