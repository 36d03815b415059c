"""Removing secrets from anything the harness keeps or writes: exchange logs, attachments, cassettes, messages.

One :class:`SecretRegistry` per run knows every secret of the run: the access tokens, the client
assertions, the private key (its PEM text, its DER in base64 and its JWK private members) and the
secrets the tenant file names. It also learns while it scrubs: a value under ``access_token``,
``client_assertion``, ... or a private JWK member becomes a known secret, so that an echo of it
anywhere later is removed too. Scrubbing is idempotent and runs before anything is cut short, so
a secret longer than an excerpt never leaves a fragment behind.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any, Iterable, Iterator
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
SECRET_FIELDS = frozenset({"access_token", "client_assertion", "refresh_token", "id_token", "client_secret"})
#: Members of a JWK that are private key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
JWK_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MIN_SECRET_LENGTH = 8
#: Bodies up to this size are parsed and scrubbed field by field; larger ones are scrubbed as text.
STRUCTURED_LIMIT = 2_000_000
BOM = "\ufeff"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_PEM_PRIVATE = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.S)
_JSON_STRING = r'"((?:[^"\\]|\\.)*)(?:"|\Z)'
_SECRET_FIELD_JSON = re.compile(r'"(%s)"\s*:\s*%s' % ("|".join(sorted(SECRET_FIELDS)), _JSON_STRING), re.S)
_SECRET_FIELD_FORM = re.compile(r"\b(%s)=([^&\s\"']+)" % "|".join(sorted(SECRET_FIELDS)))
_JWK_MEMBER_JSON = re.compile(r'"(d|p|q|dp|dq|qi|k|r|t)"\s*:\s*%s' % _JSON_STRING, re.S)


def _unescape_json(text: str) -> str:
    try:
        return json.loads(f'"{text}"')
    except ValueError:
        return text


def is_jwk(node: dict[str, Any]) -> bool:
    return isinstance(node.get("kty"), str)


class SecretRegistry:
    """Every secret value of a run, so that any text or structure can be cleaned of them.

    ``scrub_text`` and ``scrub`` are idempotent and safe to call from several threads.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()
        for value in values:
            self.add(value)

    # -- learning ---------------------------------------------------------------------------
    def add(self, value: str | None) -> None:
        """A secret, and the forms it takes when echoed (URL- and JSON-escaped, without a BOM)."""
        if not isinstance(value, str):
            return
        core = value.strip().lstrip(BOM).strip()
        if len(core) < MIN_SECRET_LENGTH or core == REDACTED:
            return
        forms = {core, quote(core, safe=""), quote_plus(core, safe=""), json.dumps(core)[1:-1]}
        new = {f for f in forms if len(f) >= MIN_SECRET_LENGTH} - self._values
        if new:
            with self._lock:
                self._values |= new
                self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def add_private_key(self, key: Any) -> None:
        """A private key in every form it could leak in: PEM (PKCS#8 and traditional), each PEM
        line, its DER in base64 and base64url, and its JWK private members."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
            try:
                pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
                der = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
            except (ValueError, TypeError):
                continue
            self.add(pem)
            lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
            for line in lines:
                self.add(line)
            self.add("".join(lines))
            self.add(base64.urlsafe_b64encode(der).decode().rstrip("="))
        numbers: list[int] = []
        if isinstance(key, rsa.RSAPrivateKey):
            n = key.private_numbers()
            numbers = [n.d, n.p, n.q, n.dmp1, n.dmq1, n.iqmp]
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            numbers = [key.private_numbers().private_value]
        for number in numbers:
            raw = number.to_bytes((number.bit_length() + 7) // 8 or 1, "big")
            self.add(base64.urlsafe_b64encode(raw).decode().rstrip("="))
            self.add(base64.b64encode(raw).decode())

    def add_tenant(self, tenant: Any) -> None:
        """Every secret a tenant file holds: the private key, the pseudonym key, the named secrets."""
        auth = getattr(tenant, "auth", None)
        if auth is not None and getattr(auth, "private_key", None) is not None:
            self.add_private_key(auth.private_key)
        cassettes = getattr(tenant, "cassettes", None)
        if cassettes is not None:
            for secret in getattr(cassettes, "secrets", ()):
                self.add(secret)
            key = getattr(cassettes, "pseudonym_key", b"")
            if key:
                self.add(key.decode("utf-8", "replace"))

    def __iter__(self) -> Iterator[str]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

    @property
    def longest(self) -> int:
        ordered = self._ordered
        return len(ordered[0]) if ordered else 0

    def leaks(self, text: str) -> list[str]:
        """The known secrets (never shown) that ``text`` still holds: for tests and self-checks."""
        return [value for value in self._ordered if value in text]

    # -- scrubbing --------------------------------------------------------------------------
    def _learn_from_text(self, text: str, named: bool) -> None:
        if named and '"' in text:
            for match in _SECRET_FIELD_JSON.finditer(text):
                self.add(_unescape_json(match.group(2)))
        if '"kty"' in text:
            for match in _JWK_MEMBER_JSON.finditer(text):
                self.add(_unescape_json(match.group(2)))
        if named and "=" in text:
            for match in _SECRET_FIELD_FORM.finditer(text):
                self.add(match.group(2))

    def scrub_text(self, text: str) -> str:
        """``text`` without any secret: known values, JWTs, PEM private keys, secret fields."""
        if not text:
            return text
        named = any(name in text for name in SECRET_FIELDS)  # the field regexes run only where they can match
        self._learn_from_text(text, named)
        for value in self._ordered:
            if value in text:
                text = text.replace(value, REDACTED)
        if "eyJ" in text:
            text = _JWT.sub(REDACTED, text)
        if "PRIVATE KEY-----" in text:
            text = _PEM_PRIVATE.sub(REDACTED, text)
        if named and '"' in text:
            text = _SECRET_FIELD_JSON.sub(lambda m: f'"{m.group(1)}": "{REDACTED}"', text)
        if '"kty"' in text:
            text = _JWK_MEMBER_JSON.sub(lambda m: f'"{m.group(1)}": "{REDACTED}"', text)
        if named and "=" in text:
            text = _SECRET_FIELD_FORM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
        return text

    def _learn(self, node: Any) -> None:
        if isinstance(node, dict):
            jwk = is_jwk(node)
            for k, v in node.items():
                if isinstance(v, str) and (k in SECRET_FIELDS or (jwk and k in JWK_PRIVATE_MEMBERS)):
                    self.add(v)
                elif jwk and k == "oth" and isinstance(v, list):
                    for other in v:
                        if isinstance(other, dict):
                            for member in ("r", "d", "t"):
                                self.add(other.get(member))
                else:
                    self._learn(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                self._learn(v)

    def _scrub(self, node: Any, texts: bool) -> Any:
        if isinstance(node, str):
            return self.scrub_text(node) if texts else node
        if isinstance(node, dict):
            jwk = is_jwk(node)
            out = {}
            for k, v in node.items():
                key = self.scrub_text(k) if texts and isinstance(k, str) else k
                if v is not None and (k in SECRET_FIELDS or (jwk and k in JWK_PRIVATE_MEMBERS)):
                    out[key] = REDACTED
                else:
                    out[key] = self._scrub(v, texts)
            return out
        if isinstance(node, list):
            return [self._scrub(v, texts) for v in node]
        if isinstance(node, tuple):
            return tuple(self._scrub(v, texts) for v in node)
        if isinstance(node, (bytes, bytearray)):
            if not texts:
                return bytes(node)
            return self.scrub_text(bytes(node).decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        return node

    def _any_text_to_scrub(self, obj: Any) -> bool:
        """Whether any string of ``obj`` (a key, a value, decoded bytes) holds something
        ``scrub_text`` acts on: a known value, a JWT or PEM marker, a secret field's name, a JWK.
        Asked once over all its strings together, so that a FHIR body with none (nearly all of
        them) is not searched string by string for each known value."""
        joined = "\n".join(_strings(obj))
        return (any(value in joined for value in self._ordered) or "eyJ" in joined or "PRIVATE KEY-----" in joined
                or '"kty"' in joined or any(name in joined for name in SECRET_FIELDS))

    def scrub(self, obj: Any) -> Any:
        """A copy of a nested dict/list/tuple/str (or bytes) with every secret removed: secret
        fields and private JWK members redacted, every string scrubbed. Other values are kept."""
        self._learn(obj)
        return self._scrub(obj, texts=self._any_text_to_scrub(obj))


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str):
                yield k
            yield from _strings(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, (bytes, bytearray)):
        yield bytes(node).decode("utf-8", "surrogateescape")


def scrub_headers(headers: Iterable[tuple[str, str]], secrets: SecretRegistry) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        out[name] = REDACTED if name.lower() in SECRET_HEADERS else secrets.scrub_text(value)
    return out


def parse_json_body(body: str) -> Any:
    """JSON from a body, tolerating a UTF-8 BOM; ``ValueError`` if it is not JSON."""
    return json.loads(body.lstrip(BOM))


def looks_like_json(body: str, content_type: str | None) -> bool:
    return "json" in (content_type or "").lower() or body.lstrip(BOM + " \t\r\n")[:1] in ("{", "[")


def scrub_body(body: str, content_type: str | None, secrets: SecretRegistry) -> str:
    """A body without secrets. JSON (also with a BOM) is scrubbed field by field, forms field by
    field, anything else as text. Idempotent: scrubbing a scrubbed body changes nothing."""
    if not body:
        return body
    ctype = (content_type or "").lower()
    if looks_like_json(body, ctype) and len(body) <= STRUCTURED_LIMIT:
        try:
            parsed = parse_json_body(body)
        except ValueError:
            pass
        else:
            return secrets.scrub_text(json.dumps(secrets.scrub(parsed), ensure_ascii=False))
    if "x-www-form-urlencoded" in ctype:
        pairs = parse_qsl(body, keep_blank_values=True)
        for k, v in pairs:
            if k in SECRET_FIELDS:
                secrets.add(v)
        cleaned = [(k, REDACTED if k in SECRET_FIELDS else v) for k, v in pairs]
        return secrets.scrub_text(urlencode(cleaned, safe="[]"))
    return secrets.scrub_text(body)


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit:,} more characters not kept]"


def scrubbed_excerpt(body: str, content_type: str | None, secrets: SecretRegistry, limit: int) -> str:
    """The first ``limit`` characters of a body, scrubbed BEFORE it is cut, so that no fragment of
    a secret survives at the cut. A large body is scrubbed only over the part kept plus the longest
    known secret (anything that starts in the excerpt ends in that window)."""
    if len(body) > STRUCTURED_LIMIT:
        window = body[: limit + max(secrets.longest, 65_536)]
        return cut(secrets.scrub_text(window), limit) + ("" if len(window) == len(body) else
                                                          f" [body of {len(body):,} characters]")
    return cut(scrub_body(body, content_type, secrets), limit)
