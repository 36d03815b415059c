"""Client keys: JWKs as verification keys, which key fits which alg, and fetching a JWK Set URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ALLOWED_ALGS: frozenset[str] = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384"})
EC_CURVE_FOR_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
JKU_CACHE_SECONDS = 29 * 3600  # Epic caches a JWK Set at most 29 hours


class JwksUnavailable(Exception):
    """A client's JWK Set URL could not be fetched, or is no JWK Set."""


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def key_fits(jwk: Mapping[str, Any], alg: str) -> bool:
    kty = jwk.get("kty")
    if alg.startswith(("RS", "PS")):
        return kty == "RSA"
    if alg.startswith("ES"):
        return kty == "EC" and jwk.get("crv") == EC_CURVE_FOR_ALG.get(alg)
    return False


def _public_pem(key: Any) -> bytes:
    if isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b""


def verifies(alg: str, jwk: Mapping[str, Any], signing_input: bytes, signature: bytes,
             trust_header_alg: bool = False) -> bool:
    """Does ``signature`` verify with ``jwk`` under ``alg``? With ``trust_header_alg``, also what a
    server that trusts the header does: ``none`` needs no signature, HS* is keyed with the PEM."""
    try:
        key = jwt.PyJWK(dict(jwk)).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, KeyError):
        return False
    if alg in ALLOWED_ALGS:
        try:
            return bool(jwt.get_algorithm_by_name(alg).verify(signing_input, key, signature))
        except (ValueError, TypeError, jwt.InvalidKeyError):
            return False
    if not trust_header_alg:
        return False
    if alg.lower() == "none":
        return signature == b""
    digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    if alg in digests:
        expected = hmac.new(_public_pem(key), signing_input, digests[alg]).digest()
        return hmac.compare_digest(expected, signature)
    return False


class JwksCache:
    """JWK Sets fetched from clients' JWK Set URLs, kept as Epic keeps them (29 hours)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    async def keys(self, url: str, refresh: bool = False) -> list[dict[str, Any]]:
        cached = self._cache.get(url)
        if cached and not refresh and self.clock() - cached[0] < JKU_CACHE_SECONDS:
            return list(cached[1])
        try:
            async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as http:
                response = await http.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            raise JwksUnavailable("the client's JWK Set URL could not be fetched") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise JwksUnavailable("the client's JWK Set URL is not a JWK Set")
        keys = [k for k in document["keys"] if isinstance(k, dict)]
        self._cache[url] = (self.clock(), keys)
        return list(keys)
