"""Named faults: the one way to make the sandbox misbehave.

A fault is written ``name`` or ``name:arg``. Each kind of fault is one :class:`FaultKind` in
:data:`KINDS`: its name, what its argument looks like, how the argument is parsed, and what the
fault does. :data:`FAULTS` is the flat, printable registry derived from it (one entry per choice
when the argument is one of a closed set).

Adding a fault: append a ``FaultKind`` to ``KINDS`` and ask :class:`ActiveFaults` about it where
the behaviour changes (``faults.on(name)``, ``faults.args(name)``, ``faults.value_for(name, key)``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FHIR_VERSIONS: tuple[str, ...] = ("R4", "STU3", "DSTU2")

#: Token endpoint validation steps that ``token-skip:<rule>`` can switch off, with what the
#: sandbox then wrongly accepts.
TOKEN_RULES: dict[str, str] = {
    "form-body": "a token request that is not a form-encoded POST (JSON body, other content type, "
    "query string parameters, repeated parameters)",
    "grant-type": "a grant_type other than client_credentials",
    "assertion-type": "a client_assertion_type other than the jwt-bearer URN",
    "typ": "a JWT header typ other than JWT",
    "alg": "any header alg (none, HS256 keyed with the public key, ES* for clients without a JWK Set "
    "URL or EC key)",
    "client": "an iss that is no registered client (the client is then found by its key)",
    "iss-sub": "an assertion whose sub differs from iss",
    "jku": "a header jku that differs from the client's registered JWK Set URL",
    "kid": "an unknown or missing kid (every key that fits the alg is tried)",
    "signature": "an assertion whose signature does not verify",
    "aud": "an aud other than this token endpoint's URL",
    "exp-missing": "an assertion without exp",
    "exp-expired": "an assertion whose exp has passed",
    "exp-max": "an exp more than 5 minutes ahead",
    "nbf-future": "an nbf in the future",
    "iat-future": "an iat in the future",
    "exp-nbf": "exp - nbf longer than 5 minutes",
    "exp-iat": "exp - iat longer than 5 minutes",
    "jti-missing": "an assertion without jti",
    "jti-type": "a jti that is not a string",
    "jti-length": "a jti longer than 151 characters",
    "jti-replay": "a jti already used by the same client before its exp",
    "scope": "requested scopes beyond the client's registration (they are granted as asked)",
}

_RESOURCE = re.compile(r"^[A-Z][A-Za-z]+$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _text(arg: str) -> str:
    if not arg:
        raise ValueError("an argument is required")
    return arg


def _resource(arg: str) -> str:
    if not _RESOURCE.match(arg):
        raise ValueError(f"{arg!r} is not a FHIR resource type name")
    return arg


def _version(arg: str) -> str:
    if arg not in FHIR_VERSIONS:
        raise ValueError(f"{arg!r} is not one of {', '.join(FHIR_VERSIONS)}")
    return arg


def _version_value(value_parser: Callable[[str], Any]) -> Callable[[str], tuple[str, Any]]:
    def parse(arg: str) -> tuple[str, Any]:
        version, sep, value = arg.partition("=")
        if not sep:
            raise ValueError(f"{arg!r} is not VERSION=VALUE")
        return _version(version), value_parser(value)

    return parse


def _field(arg: str) -> str:
    if not _FIELD.match(arg):
        raise ValueError(f"{arg!r} is not a field name")
    return arg


def _field_json(arg: str) -> tuple[str, Any]:
    name, sep, raw = arg.partition("=")
    if not sep:
        raise ValueError(f"{arg!r} is not FIELD=JSON")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{raw!r} is not a JSON value: {exc.msg}") from None
    return _field(name), value


def _content_type(arg: str) -> str:
    if "/" not in arg:
        raise ValueError(f"{arg!r} is not a media type")
    return arg


def _resource_value(value_parser: Callable[[str], Any]) -> Callable[[str], tuple[str, Any]]:
    def parse(arg: str) -> tuple[str, Any]:
        resource, sep, value = arg.partition("=")
        if not sep:
            raise ValueError(f"{arg!r} is not TYPE=VALUE")
        return _resource(resource), value_parser(value)

    return parse


def _status(arg: str) -> int:
    try:
        value = int(arg)
    except ValueError:
        raise ValueError(f"{arg!r} is not an HTTP status code") from None
    if not 200 <= value <= 599:
        raise ValueError(f"{value} is not an HTTP status code between 200 and 599")
    return value


def _seconds(arg: str) -> int:
    try:
        value = int(arg)
    except ValueError:
        raise ValueError(f"{arg!r} is not a whole number of seconds") from None
    if value < 1:
        raise ValueError("the lifetime must be at least 1 second")
    return value


@dataclass(frozen=True)
class FaultKind:
    """One kind of fault: ``name``, or ``name:ARG`` when ``placeholder`` is set."""

    name: str
    description: str
    placeholder: str | None = None
    parse: Callable[[str], Any] | None = None
    #: a closed set of arguments, each with its own description
    choices: Mapping[str, str] = field(default_factory=dict)

    def parse_arg(self, arg: str | None) -> Any:
        if self.placeholder is None and not self.choices:
            if arg is not None:
                raise ValueError(f"fault {self.name!r} takes no argument")
            return None
        if arg is None:
            raise ValueError(f"fault {self.name!r} needs an argument ({self.name}:{self.placeholder})")
        if self.choices:
            if arg not in self.choices:
                raise ValueError(
                    f"fault {self.name!r} has no argument {arg!r}; known: {', '.join(self.choices)}"
                )
            return arg
        assert self.parse is not None
        return self.parse(arg)


KINDS: tuple[FaultKind, ...] = (
    # token endpoint
    FaultKind(
        "token-skip",
        "the token endpoint skips one validation rule",
        placeholder="RULE",
        choices=TOKEN_RULES,
    ),
    FaultKind("token-500", "the token endpoint answers 500 with an IIS HTML error page"),
    FaultKind(
        "token-response-set",
        "a successful token response sets FIELD to the JSON value (null drops it)",
        placeholder="FIELD=JSON",
        parse=_field_json,
    ),
    FaultKind(
        "token-lifetime",
        "issued tokens live SECONDS (expires_in says so) instead of the configured lifetime",
        placeholder="SECONDS",
        parse=_seconds,
    ),
    FaultKind(
        "grant-fewer-scopes",
        "the token response leaves out every scope of RESOURCE",
        placeholder="RESOURCE",
        parse=_resource,
    ),
    # FHIR endpoints
    FaultKind("fhir-ignore-token", "FHIR requests are served without checking the access token"),
    FaultKind(
        "fhir-status",
        "every request for TYPE is answered with HTTP CODE and an OperationOutcome",
        placeholder="TYPE=CODE",
        parse=_resource_value(_status),
    ),
    FaultKind(
        "fhir-html-500",
        "every request for TYPE is answered 500 with an IIS HTML error page",
        placeholder="TYPE",
        parse=_resource,
    ),
    FaultKind(
        "fhir-content-type",
        "every answer about TYPE carries Content-Type MEDIA (the body is unchanged)",
        placeholder="TYPE=MEDIA",
        parse=_resource_value(_content_type),
    ),
    FaultKind(
        "fhir-invalid",
        "TYPE resources break the FHIR schema (a number where a string belongs, an unknown element)",
        placeholder="TYPE",
        parse=_resource,
    ),
    FaultKind(
        "fhir-looping-next",
        "TYPE searches have a next link that leads back to the same page, forever",
        placeholder="TYPE",
        parse=_resource,
    ),
    FaultKind(
        "fhir-missing-page",
        "TYPE searches have a next link that answers 404 with Epic's 4113 (expired session)",
        placeholder="TYPE",
        parse=_resource,
    ),
    FaultKind(
        "fhir-duplicate-entries",
        "page 2 of TYPE searches repeats the resources of page 1",
        placeholder="TYPE",
        parse=_resource,
    ),
    FaultKind(
        "fhir-not-authorized",
        "TYPE searches drop every entry and add Epic's 59204 warning "
        "'Client not authorized for TYPE - CONTEXT'",
        placeholder="TYPE",
        parse=_resource,
    ),
    FaultKind("fhir-500-on-malformed", "TYPE searches with a malformed value (e.g. a date that is no date) "
              "answer an IIS HTML 500 instead of 400 with Epic's 4100", placeholder="TYPE", parse=_resource),
    # hostile transport (harness/sandbox/transport.py)
    FaultKind("transport-hang", "requests on TYPE hang until the client gives up", placeholder="TYPE", parse=_resource),
    FaultKind("transport-reset", "responses on TYPE are cut off mid-body and the connection dropped",
              placeholder="TYPE", parse=_resource),
    FaultKind("transport-429-storm", "every request on TYPE answers 429 with Retry-After: 1", placeholder="TYPE",
              parse=_resource),
    FaultKind("transport-503-once", "the first request of each TYPE URL answers 503 with Retry-After: 1",
              placeholder="TYPE", parse=_resource),
    FaultKind("transport-truncated-json", "TYPE responses are cut in half (still well framed)", placeholder="TYPE",
              parse=_resource),
    FaultKind("transport-huge-bundle", "TYPE responses are padded to a Bundle of about 3 MB", placeholder="TYPE",
              parse=_resource),
    FaultKind("transport-slow-drip", "TYPE responses trickle out over about 4 seconds", placeholder="TYPE",
              parse=_resource),
    FaultKind(
        "sds-undone",
        "one Scheduling Decision Support set-up step is left undone",
        choices={
            "provider-rules": "no provider-based rules: a $find naming a provider fails (Epic 59134)",
            "visit-types": "visit types not exposed: $find fails the decision tree for every serviceType (Epic 59200)",
        },
    ),
    FaultKind("sds-no-open-slots", "SDS is configured, but no provider has an open slot: $find finds nothing (4101)"),
    FaultKind(
        "fhir-empty",
        "TYPE searches find nothing (a total of 0 and Epic's 4101 outcome)",
        placeholder="TYPE",
        parse=_resource,
    ),
    # smart-configuration
    FaultKind(
        "smart-config-drop",
        "smart-configuration omits FIELD",
        placeholder="FIELD",
        parse=_field,
    ),
    FaultKind(
        "smart-config-set",
        "smart-configuration sets FIELD to the JSON value",
        placeholder="FIELD=JSON",
        parse=_field_json,
    ),
    FaultKind(
        "smart-config-content-type",
        "smart-configuration is served with Content-Type TYPE",
        placeholder="TYPE",
        parse=_content_type,
    ),
    FaultKind("smart-config-404", "smart-configuration answers 404 (an IIS HTML page)"),
    # metadata
    FaultKind(
        "metadata-fhir-version",
        "the VERSION CapabilityStatement declares fhirVersion VALUE",
        placeholder="VERSION=VALUE",
        parse=_version_value(_text),
    ),
    FaultKind(
        "metadata-drop-oauth-uris",
        "the VERSION CapabilityStatement has no oauth-uris security extension",
        placeholder="VERSION",
        parse=_version,
    ),
    FaultKind(
        "metadata-token-uri",
        "the VERSION CapabilityStatement's oauth-uris token URL is URL",
        placeholder="VERSION=URL",
        parse=_version_value(_text),
    ),
    FaultKind(
        "metadata-500",
        "VERSION /metadata answers 500 with an IIS HTML error page",
        placeholder="VERSION",
        parse=_version,
    ),
    FaultKind(
        "metadata-drop-resource",
        "the VERSION CapabilityStatement does not list resource TYPE",
        placeholder="VERSION=TYPE",
        parse=_version_value(_resource),
    ),
    FaultKind(
        "metadata-drop-format",
        "the VERSION CapabilityStatement has no format element",
        placeholder="VERSION",
        parse=_version,
    ),
)

_BY_NAME: dict[str, FaultKind] = {kind.name: kind for kind in KINDS}


def _registry() -> dict[str, str]:
    registry: dict[str, str] = {}
    for kind in KINDS:
        if kind.choices:
            for choice, what in kind.choices.items():
                registry[f"{kind.name}:{choice}"] = f"the token endpoint accepts {what}"
        elif kind.placeholder:
            registry[f"{kind.name}:{kind.placeholder}"] = kind.description
        else:
            registry[kind.name] = kind.description
    return registry


#: Every fault: name (``name:ARG`` where it takes an argument) -> what it does.
FAULTS: dict[str, str] = _registry()


def parse_fault(fault: str) -> tuple[str, Any]:
    """Parse ``name`` or ``name:arg`` into (name, parsed argument); ValueError if unknown or bad."""
    name, sep, arg = fault.partition(":")
    kind = _BY_NAME.get(name)
    if kind is None:
        raise ValueError(f"unknown sandbox fault {fault!r}; known faults: {', '.join(FAULTS)}")
    try:
        return name, kind.parse_arg(arg if sep else None)
    except ValueError as exc:
        raise ValueError(f"bad sandbox fault {fault!r}: {exc}") from None


def validate_faults(faults: Iterable[str]) -> frozenset[str]:
    """Check every fault name and argument; return them as a frozenset."""
    if isinstance(faults, str):
        faults = (faults,)
    chosen = frozenset(faults)
    for fault in sorted(chosen):
        parse_fault(fault)
    return chosen


class ActiveFaults:
    """The faults a running sandbox was started with, parsed once."""

    def __init__(self, faults: Iterable[str] = ()) -> None:
        self.names = validate_faults(faults)
        self._parsed: dict[str, list[Any]] = {}
        for fault in sorted(self.names):
            name, arg = parse_fault(fault)
            self._parsed.setdefault(name, []).append(arg)

    def on(self, name: str, arg: Any = None) -> bool:
        """Is fault ``name`` active (with argument ``arg`` when given)?"""
        args = self._parsed.get(name)
        if args is None:
            return False
        return arg is None or arg in args

    def args(self, name: str) -> list[Any]:
        """Parsed arguments of every active ``name`` fault."""
        return list(self._parsed.get(name, ()))

    def last(self, name: str) -> Any:
        """Parsed argument of one active ``name`` fault (the last in sorted order), or None."""
        args = self._parsed.get(name)
        return args[-1] if args else None

    def values_for(self, name: str, key: str) -> list[Any]:
        """Values of active ``name:KEY=VALUE`` faults for ``key`` (e.g. a FHIR version)."""
        return [value for k, value in self._parsed.get(name, ()) if k == key]

    def value_for(self, name: str, key: str) -> Any:
        values = self.values_for(name, key)
        return values[-1] if values else None

    def skip(self, rule: str) -> bool:
        """Is token validation rule ``rule`` switched off?"""
        return self.on("token-skip", rule)

    def __bool__(self) -> bool:
        return bool(self.names)

    def __repr__(self) -> str:
        return f"ActiveFaults({sorted(self.names)!r})"
