"""Backend clients registered with the tenant: the shipped one (``data/clients.json``) and any a
user registers with their own JWK Set (a file or a JWK Set URL)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DATA_DIR = Path(__file__).resolve().parent / "data"
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


class ClientError(ValueError):
    """A client registration that cannot be used (one line saying why)."""


@dataclass(frozen=True)
class RegisteredClient:
    """A backend client registered with the tenant: its static JWKS or JWK Set URL, its scopes."""

    client_id: str
    name: str
    jwks: dict[str, Any] = field(hash=False)
    jku: str | None
    scopes: tuple[str, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegisteredClient:
        jwks = data.get("jwks") or {"keys": []}
        if jwks.get("keys") or not data.get("jku"):
            _check_public(str(data["client_id"]), jwks)
        return cls(client_id=data["client_id"], name=data.get("name", data["client_id"]), jwks=jwks,
                   jku=data.get("jku"), scopes=tuple(data.get("scopes", ())))


def _check_public(client_id: str, jwks: Any) -> None:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise ClientError(f"client {client_id!r}: a JWK Set needs a non-empty list of keys")
    for key in keys:
        private = PRIVATE_MEMBERS & set(key)
        if private:
            raise ClientError(f"client {client_id!r}: JWKS key {key.get('kid')!r} carries private members "
                              f"{sorted(private)}; register the public JWK Set")
        if key.get("kty") not in ("RSA", "EC"):
            raise ClientError(f"client {client_id!r}: JWKS key {key.get('kid')!r} is not an RSA or EC key")


@lru_cache(maxsize=1)
def _clients_json() -> str:
    return (DATA_DIR / "clients.json").read_text("utf-8")


def load_clients() -> tuple[RegisteredClient, ...]:
    """The clients registered in ``harness/sandbox/data/clients.json``."""
    data = json.loads(_clients_json())
    return tuple(RegisteredClient.from_json(item) for item in data["clients"])


def register(spec: str, scopes: tuple[str, ...] | None = None) -> RegisteredClient:
    """A client from ``CLIENT_ID=SOURCE``: SOURCE is a JWK Set file, or an http(s) JWK Set URL
    (fetched when the client asks for a token, as Epic does). It gets the scopes of the shipped
    client unless ``scopes`` says otherwise."""
    client_id, sep, source = spec.partition("=")
    client_id, source = client_id.strip(), source.strip()
    if not sep or not client_id or not source:
        raise ClientError(f"{spec!r} is not CLIENT_ID=JWKS (a JWK Set file or URL)")
    granted = scopes if scopes is not None else load_clients()[0].scopes
    if urlsplit(source).scheme in ("http", "https"):
        return RegisteredClient(client_id, client_id, {"keys": []}, source, granted)
    path = Path(source)
    try:
        jwks = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ClientError(f"{path}: no such JWK Set file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientError(f"{path}: cannot be read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise ClientError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    _check_public(client_id, jwks)
    return RegisteredClient(client_id, client_id, jwks, None, granted)
