"""Epic's endpoint directory, or a plain list of FHIR base URLs, read into distinct tenants.

Epic publishes its directory (``https://open.epic.com/Endpoints/R4``) as a FHIR Bundle of
Endpoint resources, each with a contained Organization. The reader is deliberately lenient where
the published files are not valid FHIR:

- contained Organization ids are base64 strings (``/``, ``+``, ``=``), not FHIR ids;
- ``managingOrganization.reference`` is the bare contained id, without the ``#``;
- ``timestamp`` has seven fractional-second digits (.NET style);
- entries merged in from other sources (the CMS National Provider Directory) have no
  ``contained``, ``managingOrganization``, ``period`` or ``payloadMimeType``, and sometimes no
  ``name``.

A Bundle in the shape of Epic's "User-access Brands" file (Organizations whose ``endpoint[]``
references point at Endpoint entries by ``fullUrl``) is read too, as is a plain text file with
one FHIR base URL per line (optionally followed by white space and an organisation name; blank
lines and ``#`` comments are skipped).

Tenants are de-duplicated by address key (see :mod:`harness.fleet.address`): several
organisations behind one address are one tenant, and every one of them is kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.fleet.address import Address, parse_address
from harness.fleet.text import clip

NPD_SOURCE = "https://github.com/mock-health/the-map/discovery-source"


class DirectoryError(UsageError):
    """The endpoint file cannot be read or is neither a directory Bundle nor a list of URLs."""


@dataclass(frozen=True)
class Organization:
    """One organisation a directory lists behind an address."""

    name: str | None
    id: str | None = None
    endpoint_id: str | None = None
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.id, "endpoint_id": self.endpoint_id, "source": self.source}


@dataclass(frozen=True)
class DirectoryEntry:
    """One Endpoint (or one line) of the directory, in file order."""

    index: int
    address: str
    organization: Organization
    status: str | None = None
    period_start: str | None = None


@dataclass
class Directory:
    format: str  # "bundle", "brands-bundle", "json-list" or "text"
    entries: list[DirectoryEntry]
    timestamp: datetime | None = None
    timestamp_raw: str | None = None
    source: str | None = None
    skipped: list[str] = field(default_factory=list)  # entries that are not Endpoints, with why

    def summary(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "source": self.source,
            "timestamp": self.timestamp_raw,
            "entries": len(self.entries),
            "skipped": len(self.skipped),
        }


@dataclass(frozen=True)
class Target:
    """One distinct tenant address (or one distinct malformed address) and everything listed behind it."""

    address: Address  # the first spelling seen; its URL is the one requested
    addresses: tuple[str, ...]  # every raw spelling, in file order
    organizations: tuple[Organization, ...]
    entries: int

    @property
    def key(self) -> str:
        return self.address.key or f"malformed:{self.address.raw.strip()}"

    @property
    def name(self) -> str:
        for org in self.organizations:
            if org.name and org.name != "FHIR URL":
                return org.name
        return self.address.url or self.address.raw


_INSTANT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:\d{2})?$"
)


def parse_instant(text: object) -> datetime | None:
    """A FHIR instant or dateTime with any number of fractional digits (Epic writes seven)."""
    if not isinstance(text, str):
        return None
    match = _INSTANT.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz: timezone | None = None
    if zone == "Z":
        tz = timezone.utc
    elif zone:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        micro, tzinfo=tz)
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _extension_code(resource: dict[str, Any], url: str) -> str | None:
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return _str(ext.get("valueCode")) or _str(ext.get("valueString"))
    return None


def _managing_organization(endpoint: dict[str, Any]) -> tuple[str | None, str | None]:
    """(id, name) of the Endpoint's organisation: the contained one its reference names, with or
    without the ``#``; else the only contained Organization; the name falls back to the Endpoint's."""
    contained = [c for c in endpoint.get("contained") or []
                 if isinstance(c, dict) and c.get("resourceType") == "Organization"]
    reference = (endpoint.get("managingOrganization") or {}) if isinstance(endpoint.get("managingOrganization"),
                                                                           dict) else {}
    ref = _str(reference.get("reference"))
    org_id = ref[1:] if ref and ref.startswith("#") else ref
    chosen = next((c for c in contained if org_id is not None and c.get("id") == org_id), None)
    if chosen is None and len(contained) == 1:
        chosen = contained[0]
    if chosen is not None:
        return _str(chosen.get("id")) or org_id, _str(chosen.get("name")) or _str(endpoint.get("name"))
    return org_id, _str(reference.get("display")) or _str(endpoint.get("name"))


def _endpoint_entry(index: int, endpoint: dict[str, Any], brand_names: dict[str, list[str]],
                    full_url: str | None) -> list[DirectoryEntry]:
    org_id, org_name = _managing_organization(endpoint)
    source = _extension_code(endpoint, NPD_SOURCE) or "directory"
    period = endpoint.get("period") if isinstance(endpoint.get("period"), dict) else {}
    address = endpoint.get("address")
    common = {
        "index": index,
        "address": address if isinstance(address, str) else ("" if address is None else str(address)),
        "status": _str(endpoint.get("status")),
        "period_start": _str(period.get("start")),
    }
    brands = brand_names.get(full_url or "", []) if full_url else []
    if brands:
        return [DirectoryEntry(organization=Organization(name, None, _str(endpoint.get("id")), "brands"), **common)
                for name in brands]
    return [DirectoryEntry(organization=Organization(org_name, org_id, _str(endpoint.get("id")), source), **common)]


def parse_bundle(bundle: dict[str, Any], source: str | None = None) -> Directory:
    if bundle.get("resourceType") != "Bundle":
        raise DirectoryError(f"{source or 'the endpoint file'}: a JSON endpoint directory must be a FHIR Bundle "
                             f"(resourceType {bundle.get('resourceType')!r})")
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raise DirectoryError(f"{source or 'the endpoint file'}: Bundle.entry is not a list")
    brand_names: dict[str, list[str]] = {}
    for entry in raw_entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Organization":
            name = _str(resource.get("name"))
            for ref in resource.get("endpoint") or []:
                target = _str(ref.get("reference")) if isinstance(ref, dict) else None
                if target and name:
                    brand_names.setdefault(target, []).append(name)
    entries: list[DirectoryEntry] = []
    skipped: list[str] = []
    for index, entry in enumerate(raw_entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            skipped.append(f"entry {index}: no resource")
            continue
        kind = resource.get("resourceType")
        if kind == "Organization":
            continue
        if kind != "Endpoint":
            skipped.append(f"entry {index}: a {kind!r}, not an Endpoint")
            continue
        entries.extend(_endpoint_entry(index, resource, brand_names, _str(entry.get("fullUrl"))))
    return Directory(
        format="brands-bundle" if brand_names else "bundle",
        entries=entries,
        timestamp=parse_instant(bundle.get("timestamp")),
        timestamp_raw=_str(bundle.get("timestamp")),
        source=source,
        skipped=skipped,
    )


def parse_text(text: str, source: str | None = None) -> Directory:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        address, *rest = stripped.split(None, 1)
        name = rest[0].strip() if rest else None
        entries.append(DirectoryEntry(index=number, address=address,
                                      organization=Organization(name, None, None, "list")))
    return Directory(format="text", entries=entries, source=source)


def parse_json_list(items: list[Any], source: str | None = None) -> Directory:
    entries = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            address, name = item.get("address") or item.get("url"), _str(item.get("name"))
        else:
            address, name = item, None
        entries.append(DirectoryEntry(index=index, address=address if isinstance(address, str) else str(address),
                                      organization=Organization(name, None, None, "list")))
    return Directory(format="json-list", entries=entries, source=source)


def parse_directory(text: str, source: str | None = None) -> Directory:
    """A directory from the text of an endpoint file: JSON (a Bundle, or a list) or one URL a line."""
    stripped = text.lstrip("\ufeff").strip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise DirectoryError(f"{source or 'the endpoint file'}: not valid JSON ({exc})") from None
        if isinstance(data, dict):
            return parse_bundle(data, source)
        return parse_json_list(data, source)
    return parse_text(stripped, source)


def load_directory(path: str | Path) -> Directory:
    """Read an endpoint file; a missing, unreadable or undecodable file raises :class:`DirectoryError`."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise DirectoryError(f"{file}: no such endpoint file") from None
    except IsADirectoryError:
        raise DirectoryError(f"{file}: is a directory, not an endpoint file") from None
    except OSError as exc:
        raise DirectoryError(f"{file}: cannot read the endpoint file ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DirectoryError(f"{file}: the endpoint file is not UTF-8 text") from None
    directory = parse_directory(text, str(file))
    if not directory.entries:
        raise DirectoryError(f"{file}: the endpoint file lists no endpoints")
    if not any(not parse_address(entry.address).malformed for entry in directory.entries):
        raise DirectoryError(not_a_directory(file, directory, text))
    return directory


def not_a_directory(file: Path, directory: Directory, text: str) -> str:
    """Why a file none of whose entries is a FHIR base address is refused (a tenant file, a README...)."""
    first = directory.entries[0]
    shown = first.address
    if directory.format == "text":
        lines = text.lstrip("\ufeff").strip().splitlines()
        shown = lines[first.index - 1].strip() if 0 < first.index <= len(lines) else shown
    where = f"line {first.index}" if directory.format == "text" else f"entry {first.index}"
    count = len(directory.entries)
    kind = "a tenant file, " if file.suffix.lower() == ".toml" else ""
    return (f"{file}: not an endpoint directory ({kind}none of its {count} "
            f"{'lines' if directory.format == 'text' else 'entries'} is a FHIR base address; {where}: "
            f"{clip(shown, 60)!r}); give Epic's endpoint Bundle or one FHIR base URL a line")


def distinct_targets(directory: Directory) -> list[Target]:
    """One target per distinct address key, in the order each was first listed."""
    order: list[str] = []
    first: dict[str, Address] = {}
    spellings: dict[str, list[str]] = {}
    orgs: dict[str, list[Organization]] = {}
    counts: dict[str, int] = {}
    for entry in directory.entries:
        address = parse_address(entry.address)
        key = address.key or f"malformed:{address.raw.strip()}"
        if key not in first:
            order.append(key)
            first[key] = address
            spellings[key], orgs[key], counts[key] = [], [], 0
        if entry.address not in spellings[key]:
            spellings[key].append(entry.address)
        if entry.organization not in orgs[key]:
            orgs[key].append(entry.organization)
        counts[key] += 1
    return [Target(first[k], tuple(spellings[k]), tuple(orgs[k]), counts[k]) for k in order]
