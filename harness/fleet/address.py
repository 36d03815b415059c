"""FHIR base addresses from an endpoint directory: validation, normalisation, the de-duplication key.

An address names a tenant's FHIR base, ``https://host[:port]/<any prefix>/api/FHIR/<R4|STU3|DSTU2>``.

*Normalised* (the URL the fleet requests): scheme and host lower-cased, the default port and the
trailing slash dropped, the path kept exactly as written. Epic's servers answer the path in any
case, but nothing obliges a proxy in front of them to, so the request uses the path the directory
gives.

*Key* (what de-duplicates tenants): the normalised URL with its path case-folded too. Directories
write one tenant's address with ``/api/FHIR/R4/``, ``/api/fhir/r4`` or ``/FHIRproxy/...``; they are
one tenant, and the first spelling seen is the one requested.

*Malformed*: not a URL that can be a FHIR base. That is: not an absolute http(s) URL; plain http
to a non-loopback host; user info, a query string or a fragment; a host that is not an IP
address or a syntactically valid DNS name; a bad port; characters a path may not hold or a broken
percent escape; an empty path segment; or a path that does not end with ``/api/FHIR/`` and a FHIR
version. A host with a trailing dot (an absolute DNS name) and percent-encoded characters are
valid syntax: such addresses are fetched, and carry a note.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.config import is_loopback

FHIR_RELEASES = ("R4", "STU3", "DSTU2")

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TAIL = re.compile(r"/api/fhir/(r4|stu3|dstu2)$", re.IGNORECASE)
# RFC 3986 pchar: unreserved / pct-encoded / sub-delims / ":" / "@"
_SEGMENT = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+$")
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class Address:
    """One address as a directory gives it, and what the fleet makes of it."""

    raw: str
    url: str | None = None  # the normalised FHIR base the fleet requests
    key: str | None = None  # the de-duplication key
    release: str | None = None  # R4, STU3 or DSTU2, from the path
    problem: str | None = None  # why the address is malformed
    notes: tuple[str, ...] = ()

    @property
    def malformed(self) -> bool:
        return self.problem is not None

    @property
    def host(self) -> str | None:
        if self.url is None:
            return None
        return urlsplit(self.url).netloc


def _malformed(raw: str, problem: str) -> Address:
    return Address(raw=raw, problem=problem)


def _host_problem(host: str) -> str | None:
    if not host:
        return "no host"
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253:
        return "the host name is longer than 253 characters"
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return f"{host!r} is not a valid host name"
    if len(labels) < 2 and name != "localhost":
        return f"{host!r} is not a fully qualified host name"
    if labels[-1].isdigit():
        return f"{host!r} is not a valid host name (numeric top-level label)"
    return None


def parse_address(raw: object) -> Address:
    """Validate and normalise one directory address; a malformed one is returned, never raised."""
    if not isinstance(raw, str):
        return _malformed("" if raw is None else str(raw), "the address is missing or not a string")
    text = raw.strip()
    if not text:
        return _malformed(raw, "the address is empty")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return _malformed(raw, "the address contains white space or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        return _malformed(raw, f"not a URL: {exc}")
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not text.lower().startswith(f"{scheme}://"):
        return _malformed(raw, "not an absolute https URL")
    if "?" in text:
        return _malformed(raw, "the address has a query string ('?')")
    if "#" in text:
        return _malformed(raw, "the address has a fragment ('#')")
    if "@" in parts.netloc:
        return _malformed(raw, "the address has user information")
    host = (parts.hostname or "").lower()
    problem = _host_problem(host)
    if problem:
        return _malformed(raw, problem)
    if scheme == "http" and not is_loopback(host):
        return _malformed(raw, "plain http to a non-loopback host")
    path = parts.path.rstrip("/")
    segments = path.split("/")[1:] if path else []
    if any(segment == "" for segment in segments):
        return _malformed(raw, "the path has an empty segment ('//')")
    bad = next((s for s in segments if not _SEGMENT.match(s)), None)
    if bad is not None:
        return _malformed(raw, f"the path segment {bad!r} holds characters a URL path may not")
    tail = _TAIL.search(path)
    if tail is None:
        return _malformed(raw, "the path does not end with /api/FHIR/R4, /api/FHIR/STU3 or /api/FHIR/DSTU2")
    release = tail.group(1).upper()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    url = f"{scheme}://{netloc}{path}"
    key = f"{scheme}://{netloc}{path.casefold()}"
    notes = []
    if host.endswith("."):
        notes.append("the host ends with a dot (an absolute DNS name)")
    if "%" in path:
        notes.append("the path holds percent-encoded characters")
    if tail.group(0) != f"/api/FHIR/{release}":
        notes.append(f"written {tail.group(0)!r} rather than '/api/FHIR/{release}'")
    return Address(raw=raw, url=url, key=key, release=release, notes=tuple(notes))


def interconnect_root(url: str) -> str:
    """The address without its ``/api/FHIR/<version>`` tail."""
    tail = _TAIL.search(url)
    return url[: tail.start()] if tail else url
