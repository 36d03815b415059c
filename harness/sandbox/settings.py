"""What a sandbox is started with: its registered clients, its faults, its token lifetime."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .clients import RegisteredClient, load_clients
from .faults.catalog import validate_faults


@dataclass(frozen=True)
class SandboxSettings:
    """How one sandbox behaves. Faults are checked here: an unknown name or argument raises
    FaultError (a ValueError) naming the nearest known one."""

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


def default_settings(faults: Iterable[str] = (), extra_clients: Iterable[RegisteredClient] = ()) -> SandboxSettings:
    """The sandbox as shipped: the registered sandbox client (and ``extra_clients``), with the
    given faults."""
    return SandboxSettings(faults=validate_faults(faults), clients=load_clients() + tuple(extra_clients))
