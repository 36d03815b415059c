"""What a sandbox is started with: its registered clients, its faults, its token lifetime."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .faults import validate_faults


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
        for key in jwks.get("keys", []):
            private = {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
            if private:
                raise ValueError(
                    f"client {data['client_id']!r}: JWKS key {key.get('kid')!r} carries private "
                    f"members {sorted(private)}"
                )
        return cls(
            client_id=data["client_id"],
            name=data.get("name", data["client_id"]),
            jwks=jwks,
            jku=data.get("jku"),
            scopes=tuple(data.get("scopes", ())),
        )


DATA_DIR = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=1)
def _clients_json() -> str:
    return (DATA_DIR / "clients.json").read_text("utf-8")


def load_clients() -> tuple[RegisteredClient, ...]:
    """The clients registered in ``harness/sandbox/data/clients.json``."""
    data = json.loads(_clients_json())
    return tuple(RegisteredClient.from_json(item) for item in data["clients"])


@dataclass(frozen=True)
class SandboxSettings:
    """How one sandbox behaves. Faults are validated here: unknown names raise ValueError."""

    faults: frozenset[str] = frozenset()
    clients: tuple[RegisteredClient, ...] = field(default_factory=load_clients)
    token_lifetime: int = 3600

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", validate_faults(self.faults))
        object.__setattr__(self, "clients", tuple(self.clients))
        if self.token_lifetime < 1:
            raise ValueError("token_lifetime must be at least 1 second")
        ids = [client.client_id for client in self.clients]
        if len(ids) != len(set(ids)):
            raise ValueError(f"client ids must be unique: {ids}")


def default_settings(faults: Iterable[str] = ()) -> SandboxSettings:
    """The sandbox as shipped: the registered sandbox client, with the given faults."""
    return SandboxSettings(faults=validate_faults(faults))
