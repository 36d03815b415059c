"""One FHIR request below ``{root}/api/FHIR/{version}/``, and what a handler answers with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import negotiation


@dataclass(frozen=True)
class FhirRequest:
    """What a FHIR handler may know about its request."""

    version: str
    path: str  # below the version base, e.g. "Patient/abc", "Patient", "Appointment/$find"
    query: tuple[tuple[str, str], ...]
    method: str
    body: bytes
    scopes: tuple[str, ...]
    base_url: str  # absolute, e.g. "http://127.0.0.1:53211/api/FHIR/R4"
    headers: Mapping[str, str] = field(default_factory=dict)
    client_id: str | None = None

    @property
    def segments(self) -> list[str]:
        return [segment for segment in self.path.split("/") if segment]

    def header(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return default

    @property
    def content_type(self) -> str:
        """The Content-Type to answer with, negotiated as Epic does."""
        return negotiation.negotiate(self.header("accept"), param(self.query, "_format"))

    @property
    def root(self) -> str:
        """The Interconnect root this request came in under."""
        return self.base_url.rsplit("/api/FHIR/", 1)[0]


@dataclass
class Answer:
    """A handler's successful answer: a FHIR resource (rendered in the negotiated format)."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def param(params: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The first value of parameter ``name``."""
    return next((value for key, value in params if key == name), None)
