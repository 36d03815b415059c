"""TLS facts of an https tenant, for the fleet and for a tenant run: the version negotiated, whether
TLS 1.0 and 1.1 are still accepted, and the certificate's issuer and expiry. Certificates are always
verified (against certifi's bundle, or only a given CA file); nothing is sent after a handshake.

The version and the certificate come from the connection that fetched the tenant's documents
(verified as every fleet connection is: a certificate that does not verify fails the fetch, as
``tls-certificate``). TLS 1.0 and 1.1 are asked for by one more handshake each, to the same
checked address, bounded by the connect timeout, sending nothing after the handshake. Each is:

``accepted``  the server completed the handshake at that version (a certificate that does not
    verify there still means the version was spoken)
``refused``  the server declined the version (an alert, a reset, a closed connection)
``not testable here``  this machine's OpenSSL will not offer the version at all, so the server's
    answer cannot be known
``unknown``  no answer within the timeout, or the connection itself failed

In ``fleet.json`` each tenant's ``tls`` (null for http and for a tenant no handshake reached):

``tls.host``  ``host:port`` the facts are about
``tls.version``  e.g. ``TLSv1.3``
``tls.tls1_0``, ``tls.tls1_1``  one of the four answers above
``tls.certificate.issuer``, ``.subject``  the distinguished names, ``CN=..., O=...``
``tls.certificate.not_after``  expiry, ISO 8601 UTC; ``.days_left`` whole days from the run
``tls.certificate.expires_soon``  true within :data:`EXPIRY_WARNING_DAYS` days
"""

from __future__ import annotations

import contextlib
import ssl
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any


EXPIRY_WARNING_DAYS = 30
ACCEPTED, REFUSED, NOT_TESTABLE, UNKNOWN = "accepted", "refused", "not testable here", "unknown"
LEGACY = (("tls1_0", "TLSv1"), ("tls1_1", "TLSv1_1"))

_RDN_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
              "stateOrProvinceName": "ST", "localityName": "L", "domainComponent": "DC"}


def ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying client context: the system's trust (certifi's bundle), or only ``ca_file``'s CAs."""
    if ca_file is None:
        import certifi

        ca_file = certifi.where()
    return ssl.create_default_context(cafile=ca_file)


def _clip(value: str, limit: int = 200) -> str:
    from harness.escape import plain

    text = plain(value).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def distinguished_name(rdns: Any) -> str | None:
    """``CN=..., O=...`` from the tuples of ``ssl.SSLSocket.getpeercert()``."""
    if not isinstance(rdns, (tuple, list)):
        return None
    parts = []
    for rdn in rdns:
        for attribute in rdn if isinstance(rdn, (tuple, list)) else ():
            if isinstance(attribute, (tuple, list)) and len(attribute) == 2:
                key, value = attribute
                parts.append(f"{_RDN_NAMES.get(key, key)}={value}")
    return _clip(", ".join(parts)) if parts else None


def certificate_facts(peercert: dict[str, Any], now: datetime | None = None) -> dict[str, Any] | None:
    """Issuer, subject and expiry of a verified peer certificate (``getpeercert()``)."""
    if not peercert:
        return None
    now = now or datetime.now(timezone.utc)
    not_after = None
    days_left = None
    raw = peercert.get("notAfter")
    if isinstance(raw, str):
        try:
            expiry = datetime.fromtimestamp(ssl.cert_time_to_seconds(raw), timezone.utc)
        except ValueError:
            expiry = None
        if expiry is not None:
            not_after = expiry.isoformat(timespec="seconds").replace("+00:00", "Z")
            days_left = int((expiry - now).total_seconds() // 86400)
    return {
        "issuer": distinguished_name(peercert.get("issuer")),
        "subject": distinguished_name(peercert.get("subject")),
        "not_after": not_after,
        "days_left": days_left,
        "expires_soon": days_left is not None and days_left < EXPIRY_WARNING_DAYS,
    }


def _legacy_context(version: str, ca_file: str | None) -> ssl.SSLContext:
    context = ssl_context(ca_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tls_version = getattr(ssl.TLSVersion, version)
        context.minimum_version = tls_version
        context.maximum_version = tls_version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # TLS 1.0/1.1 sign with SHA-1, below OpenSSL 3's default level
    return context


@lru_cache(maxsize=None)
def offerable(version: str) -> bool:
    """Whether this machine's OpenSSL will send a ClientHello for ``version`` (``TLSv1``, ``TLSv1_1``):
    a handshake started into memory, with no network."""
    try:
        context = _legacy_context(version, None)
        ssl_object = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="example.org")
        ssl_object.do_handshake()
    except ssl.SSLWantReadError:
        return True  # the ClientHello is written and an answer awaited
    except (ssl.SSLError, ValueError, AttributeError):
        return False
    return False


async def probe(address: str, port: int, server_name: str, version: str, *, ca_file: str | None,
                timeout: float) -> str:
    """One handshake at ``version`` with ``address`` (a checked IP), naming ``server_name``."""
    import asyncio  # here, not at import: a run loads this module for its https checks, most of which are sync

    if not offerable(version):
        return NOT_TESTABLE
    context = _legacy_context(version, ca_file)
    writer = None
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(address, port, ssl=context, server_hostname=server_name,
                                    ssl_handshake_timeout=timeout), timeout)
        return ACCEPTED
    except ssl.SSLCertVerificationError:
        return ACCEPTED  # the server spoke the version; its certificate is judged on the main fetch
    except ssl.SSLError:
        return REFUSED
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, EOFError, asyncio.IncompleteReadError):
        return REFUSED  # many servers just close the connection on a version they do not speak
    except (asyncio.TimeoutError, TimeoutError, OSError):
        return UNKNOWN
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


@dataclass
class TlsSeen:
    """What the fetch's own connection to one origin negotiated."""

    version: str | None
    peercert: dict[str, Any]


def facts(origin: str, seen: TlsSeen, legacy: dict[str, str], now: datetime | None = None) -> dict[str, Any]:
    """The ``tls`` object of ``fleet.json`` for one origin."""
    return {"host": origin, "version": seen.version, **legacy,
            "certificate": certificate_facts(seen.peercert, now)}


def tenant_tls(host: str, port: int, *, ca_file: str | None, timeout: float,
               now: datetime | None = None) -> dict[str, Any]:
    """The TLS facts of one origin for a tenant run: a verified handshake (version, certificate), then one
    handshake each at TLS 1.0 and 1.1. Raises ``ssl.SSLError`` or ``OSError`` when the verified
    handshake fails (the caller says why)."""
    import asyncio
    import socket

    context = ssl_context(ca_file)
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            version, peercert = tls.version(), tls.getpeercert() or {}

    async def legacy() -> dict[str, str]:
        return {name: await probe(host, port, host, version_name, ca_file=ca_file, timeout=timeout)
                for name, version_name in LEGACY}

    return {"host": f"{host}:{port}", "version": version, **asyncio.run(legacy()),
            "certificate": certificate_facts(peercert, now)}
