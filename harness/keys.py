"""The app's own keys: loading the private key, building and checking the public JWK Set."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from harness.errors import ConfigError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

SIGNING_ALGORITHMS = ("RS384", "ES384", "RS256", "RS512")
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
MIN_RSA_BITS = 2048


PEM_WANTED = "give an unencrypted PEM private key file: PKCS#8, or PKCS#1 for RSA or EC"


def describe_key_material(data: bytes) -> str:
    """What a key file holds, in words, without ever repeating its content."""
    text = data.lstrip(b"\xef\xbb\xbf").strip()
    if not text:
        return "an empty file"
    if text.startswith(b"{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return "text that starts like JSON but is not valid JSON"
        if isinstance(parsed, dict) and "keys" in parsed:
            return "a JWK Set (JSON); a JWK Set is published, the private key must be a PEM file"
        if isinstance(parsed, dict) and "kty" in parsed:
            private = "with" if "d" in parsed else "without"
            return f"a JWK (JSON, {private} private members), not PEM"
        return "a JSON document, not PEM"
    labels = [line.strip().strip(b"-").strip().removeprefix(b"BEGIN ").decode("ascii", "replace")
              for line in text.splitlines()
              if line.startswith(b"-----BEGIN ")]
    if labels:
        label = labels[0]
        if label == "OPENSSH PRIVATE KEY":
            return "an OpenSSH private key (convert it with `ssh-keygen -p -m PEM -f FILE`)"
        if "ENCRYPTED" in label:
            return "an encrypted PEM private key"
        if label in ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"):
            return f"a PEM block {label!r} whose content cannot be read (damaged or cut short?)"
        return f"a PEM block {label!r}, which is not a private key"
    if text[:1] == b"\x30":
        return "binary data that looks like DER (convert it with `openssl pkcs8 -topk8 -nocrypt -inform DER`)"
    if b"\x00" in text[:256] or not all(32 <= c < 127 or c in (9, 10, 13) for c in text[:256]):
        return f"{len(data):,} bytes of binary data, not PEM text"
    if all(c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_\r\n" for c in text[:4096]):
        return "base64 text without the -----BEGIN ... PRIVATE KEY----- lines"
    return f"{len(text.splitlines())} line(s) of text without a -----BEGIN ... PRIVATE KEY----- line"


def load_private_key(pem: bytes, *, file: str | None, field: str) -> PrivateKey:
    found = describe_key_material(pem) if b"-----BEGIN" not in pem or b"PRIVATE KEY-----" not in pem else None
    if found is not None:
        raise ConfigError(file, field, f"not a PEM private key: found {found}; {PEM_WANTED}")
    try:
        key = _parse_private_pem(pem)
    except TypeError:
        raise ConfigError(file, field, "the private key is encrypted; give an unencrypted PKCS#8 or PKCS#1 PEM") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(file, field, f"not a readable PEM private key: found {describe_key_material(pem)}; "
                                       f"{PEM_WANTED}") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ConfigError(file, field, "only RSA and EC private keys can sign SMART client assertions")
    return key


@lru_cache(maxsize=4)
def _parse_private_pem(pem: bytes) -> Any:
    """The key of these PEM bytes, parsed once per process: the command line and the run both load the tenant
    file, and checking an RSA key costs tens of milliseconds (the key objects are immutable)."""
    return serialization.load_pem_private_key(pem, password=None)


def check_key_fits(key: PrivateKey | PublicKey, algorithm: str, *, file: str | None, field: str) -> None:
    """Epic and SMART's rules on key type and size for an algorithm."""
    if algorithm not in SIGNING_ALGORITHMS:
        raise ConfigError(file, field, f"algorithm {algorithm!r} is not one of {', '.join(SIGNING_ALGORITHMS)}")
    if algorithm.startswith("RS"):
        if not isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
            raise ConfigError(file, field, f"{algorithm} needs an RSA key, the key given is EC")
        if key.key_size < MIN_RSA_BITS:
            raise ConfigError(file, field, f"RSA key is {key.key_size} bits; Epic requires at least {MIN_RSA_BITS}")
    else:
        if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
            raise ConfigError(file, field, f"{algorithm} needs an EC key, the key given is RSA")
        if key.curve.name != "secp384r1":
            raise ConfigError(file, field, f"ES384 needs a P-384 key, the key given is on {key.curve.name}")


def public_jwk(key: PrivateKey | PublicKey, *, kid: str, algorithm: str) -> dict[str, Any]:
    """The public JWK of a key, with kid, alg and use (pyjwt adds none of them)."""
    public = key.public_key() if hasattr(key, "private_numbers") else key
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    jwk.pop("key_ops", None)
    jwk.update(kid=kid, alg=algorithm, use="sig")
    return jwk


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url without padding."""
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class NewKeyPair:
    private_pem: bytes
    jwks: dict[str, Any]
    kid: str


def generate_key_pair(algorithm: str) -> NewKeyPair:
    if algorithm == "ES384":
        key: PrivateKey = ec.generate_private_key(ec.SECP384R1())
    elif algorithm in ("RS384", "RS256", "RS512"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise ValueError(f"algorithm must be one of {', '.join(SIGNING_ALGORITHMS)}")
    draft = public_jwk(key, kid="", algorithm=algorithm)
    kid = thumbprint(draft)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return NewKeyPair(private_pem=pem, jwks={"keys": [public_jwk(key, kid=kid, algorithm=algorithm)]}, kid=kid)


def write_key_pair(pair: NewKeyPair, directory: Path, stem: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / f"{stem}.pem"
    jwks_path = directory / f"{stem}.jwks.json"
    if key_path.exists():
        raise ConfigError(str(key_path), None, "already exists; choose another --out or --name, keys are never overwritten")
    key_path.touch(mode=0o600)
    key_path.write_bytes(pair.private_pem)
    jwks_path.write_text(json.dumps(pair.jwks, indent=2) + "\n", "utf-8")
    return key_path, jwks_path


@dataclass(frozen=True)
class JwksFinding:
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    matching_kid: str | None


def _public_numbers_equal(jwk: dict[str, Any], key: PrivateKey) -> bool:
    try:
        if jwk.get("kty") == "RSA" and isinstance(key, rsa.RSAPrivateKey):
            return RSAAlgorithm.from_jwk(jwk).public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
        if jwk.get("kty") == "EC" and isinstance(key, ec.EllipticCurvePrivateKey):
            return ECAlgorithm.from_jwk(jwk).public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    except Exception:  # a malformed JWK simply does not match
        return False
    return False


def check_jwks(jwks: Any, key: PrivateKey, *, kid: str, algorithm: str) -> JwksFinding:
    """What Epic and SMART require of the app's published JWK Set, for this private key."""
    problems: list[str] = []
    notes: list[str] = []
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        return JwksFinding(("the JWK Set has no 'keys' list",), (), None)
    kids = [k.get("kid") for k in keys if isinstance(k, dict)]
    for k in sorted({x for x in kids if x and kids.count(x) > 1}):
        problems.append(f"kid {k!r} appears more than once")
    if any(not x for x in kids):
        problems.append("a key has no kid; SMART requires a kid on every key")
    for i, jwk in enumerate(k for k in keys if isinstance(k, dict)):
        leaked = [m for m in PRIVATE_JWK_MEMBERS if m in jwk]
        if leaked:
            problems.append(f"key {jwk.get('kid') or i} publishes private members {', '.join(leaked)}")
        if jwk.get("kty") == "RSA" and isinstance(jwk.get("n"), str):
            bits = len(base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4))) * 8
            if bits < MIN_RSA_BITS:
                problems.append(f"RSA key {jwk.get('kid')} is {bits} bits; Epic requires at least {MIN_RSA_BITS}")
        if jwk.get("alg") == "ES384" and jwk.get("crv") != "P-384":
            problems.append(f"key {jwk.get('kid')} is marked ES384 but its curve is {jwk.get('crv')}")
        if "alg" not in jwk:
            notes.append(f"key {jwk.get('kid') or i} has no alg; some verifiers then assume RS256")
    matching = next((k for k in keys if isinstance(k, dict) and k.get("kid") == kid), None)
    if matching is None:
        problems.append(f"no key with kid {kid!r}, the kid the tenant file signs with")
    elif not _public_numbers_equal(matching, key):
        problems.append(f"the key with kid {kid!r} is not the public half of the tenant file's private key")
    elif matching.get("alg") and matching["alg"] != algorithm:
        problems.append(f"the key with kid {kid!r} is marked alg {matching['alg']}, the tenant file signs with {algorithm}")
    return JwksFinding(tuple(problems), tuple(notes), kid if matching is not None else None)
