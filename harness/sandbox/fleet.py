"""A fleet of simulated Epic tenants served at once, each under its own base path.

Tenant ``name`` lives at ``/t/<name>``: its FHIR bases are ``/t/<name>/api/FHIR/{R4,STU3,DSTU2}``
and its token endpoint ``/t/<name>/oauth2/token``. Each tenant is one sandbox (``create_app``)
mounted there with its own faults, so it is a whole tenant (token endpoint, FHIR API) and not
only discovery documents. On top of the faults, the fleet varies what the real fleet varies and
the faults do not: the release in ``software.version``, ``supportedProfile`` (absent on old
releases), and how the discovery documents are served (503, an HTML page, XML whatever is asked,
a hang, a delay, a first request that fails). Like Epic's servers, the base path is matched
without regard to case.

:func:`build_fleet` makes a :class:`FleetSpec`, deterministic from a seed, with every
:data:`VARIATIONS` entry; :class:`EmbeddedFleet` serves it on a loopback port;
:func:`endpoint_directory` writes a directory Bundle in Epic's format listing every tenant, plus
unreachable addresses (``.invalid`` host names, a closed loopback port, TLS spoken to the plain
HTTP port) and malformed ones. No address leaves loopback.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import hashlib
import json
import logging
import random
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.responses import Response

from . import documents, urls
from .app import create_app
from .server import EmbeddedSandbox
from .settings import SandboxSettings, default_settings

#: Every tenant variation: name -> what that tenant does.
VARIATIONS: dict[str, str] = {
    "current": "a current release (February 2025 to February 2026), as most of the fleet",
    "old-release": "an old release (February 2023/2024, May 2022/2024): no supportedProfile, 53 to 59 resource "
                   "types, empty grant_types_supported and code_challenge_methods_supported, no "
                   "client-confidential-asymmetric, permission-v1/v2 or authorize-post",
    "localized-release": "software.version 'toukokuu 2022' (Finnish), otherwise as old-release",
    "fhir-4.0.0": "a current release declaring fhirVersion 4.0.0",
    "fewer-resources": "a current release without Appointment and Claim",
    "empty-grant-types": "a current release whose grant_types_supported is []",
    "no-smart-config": "smart-configuration answers 404 (an IIS page); /metadata works",
    "no-metadata": "/metadata answers 404 (an IIS page); smart-configuration works",
    "metadata-503": "/metadata answers 503; smart-configuration works",
    "down-503": "both documents answer 503",
    "html": "both documents answer 200 with an HTML sign-in page",
    "not-json": "/metadata answers FHIR XML whatever the Accept header asks; smart-configuration works",
    "forbidden": "both documents answer 403",
    "hang": "both documents never answer",
    "flaky": "the first request for each document answers 503, the next ones work",
    "slow": "both documents answer after a delay",
    "dstu2": "a DSTU2 base on a current release",
}

#: How a discovery document is served.
DOCUMENT_BEHAVIOURS = ("ok", "404", "403", "503", "html", "xml", "hang", "flaky")

SANDBOX_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials",
                       "urn:ietf:params:oauth:grant-type:jwt-bearer")
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
OLD_CAPABILITIES = ("launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                    "context-banner", "context-style", "context-ehr-patient", "context-ehr-encounter",
                    "context-standalone-patient", "permission-offline", "permission-patient", "permission-user",
                    "sso-openid-connect")

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

    def __post_init__(self) -> None:
        if self.variation not in VARIATIONS:
            raise ValueError(f"unknown fleet variation {self.variation!r}")
        for behaviour in (self.metadata, self.smart):
            if behaviour not in DOCUMENT_BEHAVIOURS:
                raise ValueError(f"unknown document behaviour {behaviour!r}")

    @property
    def base_path(self) -> str:
        return f"/t/{self.name}/api/FHIR/{self.fhir}"

    def faults(self) -> frozenset[str]:
        """The sandbox faults this tenant is mounted with."""
        chosen = set()
        if self.fhir_version:
            chosen.add(f"metadata-fhir-version:{self.fhir}={self.fhir_version}")
        chosen.update(f"metadata-drop-resource:{self.fhir}={r}" for r in self.drop_resources)
        if self.grant_types is not None:
            chosen.add(f"smart-config-set:grant_types_supported={json.dumps(list(self.grant_types))}")
        if self.capabilities is not None:
            chosen.add(f"smart-config-set:capabilities={json.dumps(list(self.capabilities))}")
        if self.code_challenge_methods is not None:
            chosen.add(f"smart-config-set:code_challenge_methods_supported={json.dumps(list(self.code_challenge_methods))}")
        if self.smart == "404":
            chosen.add("smart-config-404")
        return frozenset(chosen)

    def statement_key(self) -> tuple[Any, ...]:
        return (self.fhir, self.release, self.fhir_version, tuple(sorted(self.drop_resources)), self.profiles,
                self.rev_include)


@dataclass(frozen=True)
class OffFleetAddress:
    """An address listed in the directory that no tenant answers."""

    name: str
    kind: str  # "dns" (.invalid host), "connect" (closed loopback port), "tls" (TLS to the plain HTTP port)
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


def _old_smart(tenant_kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**tenant_kwargs, "grant_types": (), "capabilities": OLD_CAPABILITIES, "code_challenge_methods": (),
            "profiles": False, "rev_include": False}


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def build_fleet(seed: int = 7, size: int = 420, *, slow: int = 0, slow_delay: float = 0.5) -> FleetSpec:
    """A fleet of ``size`` served tenants with every variation, deterministic from ``seed``.

    ``slow`` tenants answer after ``slow_delay`` seconds (for benchmarks). Besides the served
    tenants the directory lists 4 ``.invalid`` hosts, 3 addresses on a closed loopback port, 2 that
    get TLS on the plain HTTP port, and 10 malformed addresses.
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
        if variation == "old-release":
            release, dropped = next(old)
            kwargs = _old_smart({**kwargs, "release": release, "drop_resources": dropped})
        elif variation == "localized-release":
            kwargs = _old_smart({**kwargs, "release": "toukokuu 2022", "drop_resources": ("Claim", "Contract",
                                                                                          "Media")})
        elif variation == "fhir-4.0.0":
            kwargs["fhir_version"] = "4.0.0"
        elif variation == "fewer-resources":
            kwargs["drop_resources"] = ("Appointment", "Claim")
        elif variation == "empty-grant-types":
            kwargs["grant_types"] = ()
        elif variation == "dstu2":
            kwargs["fhir"] = "DSTU2"
        elif variation == "slow":
            kwargs["delay"] = slow_delay
        behaviours = {
            "no-smart-config": ("ok", "404"), "no-metadata": ("404", "ok"), "metadata-503": ("503", "ok"),
            "down-503": ("503", "503"), "html": ("html", "html"), "not-json": ("xml", "ok"),
            "forbidden": ("403", "403"), "hang": ("hang", "hang"), "flaky": ("flaky", "flaky"),
        }
        if variation in behaviours:
            kwargs["metadata"], kwargs["smart"] = behaviours[variation]
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
    return FleetSpec(seed, tuple(tenants), unreachable, malformed)


# --- serving ------------------------------------------------------------------------------------

_TENANT_PATH = re.compile(r"^/t/([^/]+)(/.*)?$", re.IGNORECASE)
_FHIR_PREFIX = re.compile(r"^/api/fhir/(r4|stu3|dstu2)(?=/|$)", re.IGNORECASE)
_METADATA = re.compile(r"^/api/FHIR/(R4|STU3|DSTU2)/metadata$")
_SMART = re.compile(r"^/api/FHIR/(R4|STU3|DSTU2)/\.well-known/smart-configuration$")
_DATE_MARK = "1970-01-01T00:00:00Z"

_SERVICE_UNAVAILABLE = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n'
    "<HTML><HEAD><TITLE>Service Unavailable</TITLE>\r\n"
    '<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n'
    "<BODY><h2>Service Unavailable</h2>\r\n<hr><p>HTTP Error 503. The service is unavailable.</p>\r\n"
    "</BODY></HTML>\r\n"
)
_SIGN_IN_PAGE = (
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>MyChart - Login Page</title></head>\n"
    "<body><form method=\"post\" action=\"/MyChart/Authentication/Login\"><label>Username "
    "<input name=\"Login\"></label><label>Password <input type=\"password\" name=\"Password\"></label>"
    "<button>Sign in</button></form></body></html>\n"
)
_FORBIDDEN = "<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1></body></html>\n"


def _html(body: str, status: int) -> Response:
    return Response(body, status_code=status, media_type=documents.HTML)


async def _hang(receive: Any) -> None:
    """Never answer: wait until the client gives up and disconnects."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class FleetApp:
    """The ASGI application serving every tenant of a :class:`FleetSpec`. ``load()`` swaps the spec."""

    def __init__(self, spec: FleetSpec) -> None:
        self.load(spec)

    def load(self, spec: FleetSpec) -> None:
        self.spec = spec
        self._apps: dict[str, Starlette] = {}
        self._templates: dict[tuple[Any, ...], str] = {}
        self._served: set[tuple[str, str]] = set()
        self.requests = 0

    def tenant_app(self, tenant: FleetTenant) -> Starlette:
        key = f"{tenant.name}|{sorted(tenant.faults())}"
        app = self._apps.get(key)
        if app is None:
            app = self._apps[key] = create_app(SandboxSettings(faults=tenant.faults()))
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
        if tenant is None:
            await documents.html_404()(scope, receive, send)
            return
        rest = match.group(2) or ""  # type: ignore[union-attr]
        rest = _FHIR_PREFIX.sub(lambda m: f"/api/FHIR/{m.group(1).upper()}", rest)
        tenant_root = f"{root_path}/t/{tenant.name}"
        child = dict(scope, root_path=tenant_root, path=tenant_root + rest,
                     raw_path=(tenant_root + rest).encode("utf-8"))
        metadata, smart = _METADATA.match(rest), _SMART.match(rest)
        if metadata or smart:
            document = "metadata" if metadata else "smart-configuration"
            behaviour = tenant.metadata if metadata else tenant.smart
            if tenant.delay:
                await asyncio.sleep(tenant.delay)
            answer = await self._misbehave(tenant, document, behaviour, receive)
            if answer is False:
                return
            if answer is not None:
                await answer(child, receive, send)
                return
            if metadata:
                version = metadata.group(1)
                await self._metadata(tenant, version, child, behaviour == "xml")(child, receive, send)
                return
        await self.tenant_app(tenant)(child, receive, send)

    async def _misbehave(self, tenant: FleetTenant, document: str, behaviour: str,
                         receive: Any) -> Response | bool | None:
        """The response a misbehaving document gets; None to serve it; False when it was never answered."""
        if behaviour == "hang":
            await _hang(receive)
            return False
        if behaviour == "flaky":
            if (tenant.name, document) not in self._served:
                self._served.add((tenant.name, document))
                return _html(_SERVICE_UNAVAILABLE, 503)
            return None
        if behaviour == "503":
            return _html(_SERVICE_UNAVAILABLE, 503)
        if behaviour == "403":
            return _html(_FORBIDDEN, 403)
        if behaviour == "html":
            return _html(_SIGN_IN_PAGE, 200)
        if behaviour == "404" and document == "metadata":
            return documents.html_404()
        return None  # "ok", "xml"; a smart-configuration 404 is the tenant's own fault

    def _template(self, tenant: FleetTenant, version: str) -> str:
        key = (version,) + tenant.statement_key()
        template = self._templates.get(key)
        if template is None:
            sandbox = self.tenant_app(tenant).state.sandbox
            statement = sandbox.capability_statement(version, urls.EPIC_SANDBOX_ROOT)
            statement["date"] = _DATE_MARK
            software = statement.setdefault("software", {"name": "Epic"})
            software["version"] = tenant.release
            for rest in statement.get("rest", ()):
                for resource in rest.get("resource", ()):
                    if not tenant.profiles:
                        resource.pop("supportedProfile", None)
                    if not tenant.rev_include:
                        resource.pop("searchRevInclude", None)
            template = self._templates[key] = json.dumps(statement, ensure_ascii=False)
        return template

    def _metadata(self, tenant: FleetTenant, version: str, scope: dict[str, Any], force_xml: bool) -> Response:
        from starlette.requests import Request

        request = Request(scope)
        root = urls.interconnect_root(request)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = (self._template(tenant, version)
                .replace(f'"{urls.EPIC_SANDBOX_ROOT}', f'"{root}')
                .replace(f'"{_DATE_MARK}"', f'"{now}"', 1))
        if force_xml:
            return documents.render(json.loads(body), documents.FHIR_XML_UTF8)
        content_type = documents.negotiate(request.headers.get("accept"), request.query_params.get("_format"))
        if documents.is_json(content_type):
            return Response(body.encode("utf-8"), headers={"content-type": content_type})
        return documents.render(json.loads(body), content_type)


class _QuietTlsProbes(logging.Filter):
    """Drops uvicorn's warning for the TLS handshakes the fleet's "tls" addresses send on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Invalid HTTP request received."


_QUIET = _QuietTlsProbes()


class EmbeddedFleet(EmbeddedSandbox):
    """A :class:`FleetApp` on a loopback port in a background thread. ``load()`` swaps the fleet."""

    def __init__(self, spec: FleetSpec, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(default_settings(), host=host, port=port)
        self.fleet = FleetApp(spec)
        self.app = self.fleet

    def start(self) -> EmbeddedFleet:
        logger = logging.getLogger("uvicorn.error")
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
        super().start()
        return self

    @property
    def spec(self) -> FleetSpec:
        return self.fleet.spec

    def load(self, spec: FleetSpec) -> None:
        self.fleet.load(spec)

    def tenant_base(self, name: str) -> str:
        return self.base_url + self.spec.tenant(name).base_path

    def directory(self, **options: Any) -> dict[str, Any]:
        return endpoint_directory(self.spec, self.base_url, **options)

    def write_directory(self, path: str | Path, **options: Any) -> Path:
        return write_endpoint_directory(self.spec, self.base_url, path, **options)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedFleet({self.base_url}, {state}, {len(self.spec.tenants)} tenants)"


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


def off_fleet_address(entry: OffFleetAddress, base_url: str, closed_port: int) -> str:
    parts = urlsplit(base_url)
    if entry.kind == "dns":
        return f"https://{entry.name}.epichosted.invalid/FHIRProxy/api/FHIR/R4/"
    if entry.kind == "connect":
        return f"http://{parts.hostname}:{closed_port}/t/{entry.name}/api/FHIR/R4/"
    if entry.kind == "tls":
        return f"https://{parts.netloc}/t/{entry.name}/api/FHIR/R4/"
    raise ValueError(f"unknown kind {entry.kind!r}")


def endpoint_directory(spec: FleetSpec, base_url: str, *, closed_port: int = 1,
                       timestamp: str | None = None) -> dict[str, Any]:
    """A Bundle in the shape of Epic's published directory listing every tenant of ``spec`` at
    ``base_url``: one Endpoint per organisation (shared addresses repeat, in other spellings), then
    the unreachable addresses, then the malformed ones (NPD-style entries, without ``contained``)."""
    origin = base_url.rstrip("/")
    rng = random.Random(spec.seed * 7919 + 1)
    entries = []
    for tenant in spec.tenants:
        address = f"{origin}{tenant.base_path}/"
        spellings = _variants(address)
        for i, organization in enumerate(tenant.organizations):
            start = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00-06:00"
            entries.append(_epic_entry(rng, address if i == 0 else next(spellings), organization, start))
    for entry in spec.unreachable:
        entries.append(_epic_entry(rng, off_fleet_address(entry, origin, closed_port), entry.organization,
                                   "2024-11-08T00:00:00-06:00"))
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


def serve_fleet(host: str, port: int, spec: FleetSpec) -> None:
    """Serve the fleet until interrupted."""
    import uvicorn

    logging.getLogger("uvicorn.error").addFilter(_QUIET)
    uvicorn.run(FleetApp(spec), host=host, port=port, access_log=False, log_level="info", lifespan="off",
                server_header=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.sandbox.fleet``: write the directory, then serve the fleet."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness.sandbox.fleet", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", type=int, default=420)
    parser.add_argument("--slow", type=int, default=0)
    parser.add_argument("--directory", default="fleet-endpoints.json", help="where to write the endpoint directory")
    args = parser.parse_args(argv)
    spec = build_fleet(seed=args.seed, size=args.size, slow=args.slow)
    host = f"[{args.host}]" if ":" in args.host else args.host
    path = write_endpoint_directory(spec, f"http://{host}:{args.port}", args.directory)
    print(f"sandbox fleet: {len(spec.tenants)} tenants at http://{host}:{args.port}/t/<name>; directory {path}")
    serve_fleet(args.host, args.port, spec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
