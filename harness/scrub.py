"""Removing secrets from anything the harness writes: exchange logs, attachments, cassettes."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
SECRET_FIELDS = frozenset({"access_token", "client_assertion", "refresh_token", "id_token", "client_secret"})
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


class SecretRegistry:
    """Every secret value seen in a run (tokens, assertions), so that any text can be cleaned of them."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str | None) -> None:
        if value and len(value) >= 8:
            self._values.add(value)

    def __iter__(self):
        return iter(sorted(self._values, key=len, reverse=True))

    def scrub_text(self, text: str) -> str:
        for value in self:
            if value in text:
                text = text.replace(value, REDACTED)
        return _JWT.sub(REDACTED, text)


def scrub_headers(headers: Iterable[tuple[str, str]], secrets: SecretRegistry) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        out[name] = REDACTED if name.lower() in SECRET_HEADERS else secrets.scrub_text(value)
    return out


def _scrub_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (REDACTED if k in SECRET_FIELDS else _scrub_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_json(v) for v in value]
    return value


def scrub_body(body: str, content_type: str | None, secrets: SecretRegistry) -> str:
    """Idempotent: scrubbing a scrubbed body changes nothing."""
    if not body:
        return body
    ctype = (content_type or "").lower()
    if "json" in ctype or body.lstrip()[:1] in ("{", "["):
        try:
            return secrets.scrub_text(json.dumps(_scrub_json(json.loads(body)), ensure_ascii=False))
        except ValueError:
            pass
    if "x-www-form-urlencoded" in ctype:
        pairs = [(k, REDACTED if k in SECRET_FIELDS else v) for k, v in parse_qsl(body, keep_blank_values=True)]
        return secrets.scrub_text(urlencode(pairs, safe="[]"))
    return secrets.scrub_text(body)
