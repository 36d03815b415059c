"""Throwaway certificates for serving the sandbox over https: a test CA made at start, and leaf
certificates it signs for loopback names, valid for as many days as asked.

Nothing here is meant to be trusted beyond one run: the CA's private key lives in memory and
in the folder the CA writes to (a temporary one unless the caller names one), and the caller
trusts the CA by its PEM file (``ca_file``), never the system's store.

    ca = ThrowawayCA(folder)
    leaf = ca.issue(("127.0.0.1", "localhost"), days=10)   # expires in 10 days
    ssl_context(leaf, min_version="1.0")                   # a server context accepting TLS 1.0 up
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The names a sandbox certificate is valid for unless told otherwise.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
#: The oldest TLS version a server may be told to accept -> ssl's constant.
TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


class CertificateError(ValueError):
    """A certificate that cannot be made as asked (no names, a lifetime of no days, ...)."""


@dataclass(frozen=True)
class Leaf:
    """A server certificate and its key, as PEM files, and when it stops being valid."""

    cert_file: Path
    key_file: Path
    names: tuple[str, ...]
    not_after: datetime.datetime


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "epic-fhir-harness sandbox (throwaway)")])


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         encipher_only=False, decipher_only=False)


class ThrowawayCA:
    """A certificate authority made now, writing its PEM to ``folder/ca.pem`` (``ca_file``)."""

    def __init__(self, folder: Path, common_name: str = "Sandbox Throwaway CA") -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(common_name)
        now = datetime.datetime.now(datetime.timezone.utc)
        public = self._key.public_key()
        self.certificate = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256()))
        self.ca_file = self.folder / "ca.pem"
        self.ca_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        self._issued = 0

    def issue(self, names: Iterable[str] = LOOPBACK_NAMES, days: float = 365.0) -> Leaf:
        """A server certificate for ``names`` (IP addresses or DNS names), valid ``days`` from now."""
        chosen = tuple(dict.fromkeys(names))
        if not chosen:
            raise CertificateError("a certificate needs at least one name")
        if not days > 0:
            raise CertificateError(f"a certificate must be valid for more than 0 days, not {days}")
        alternative: list[x509.GeneralName] = []
        for name in chosen:
            try:
                alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternative.append(x509.DNSName(name))
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        not_after = now + datetime.timedelta(days=days)
        certificate = (
            x509.CertificateBuilder().subject_name(_name(chosen[0])).issuer_name(self.name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                           critical=False)
            .sign(self._key, hashes.SHA256()))
        self._issued += 1
        stem = self.folder / f"server-{self._issued}"
        cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM)
                              + self.certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_file.chmod(0o600)
        return Leaf(cert_file, key_file, chosen, not_after)


def tls_version(text: str) -> str:
    """``text`` if it names a TLS version the sandbox can be told to accept from (1.0 to 1.3)."""
    if text not in TLS_VERSIONS:
        raise CertificateError(f"{text!r} is not a TLS version: one of {', '.join(TLS_VERSIONS)}")
    return text


def restrict(context: ssl.SSLContext, min_version: str) -> ssl.SSLContext:
    """``context`` accepting TLS ``min_version`` and later only; below 1.2, the old ciphers those
    versions need are allowed too (where this machine's OpenSSL still has them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = TLS_VERSIONS[tls_version(min_version)]
    if TLS_VERSIONS[min_version] < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def ssl_context(leaf: Leaf, min_version: str = "1.2") -> ssl.SSLContext:
    """A server context serving ``leaf``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf.cert_file, leaf.key_file)
    return restrict(context, min_version)
