"""SMART on FHIR scopes (App Launch 1.0 and 2.x) and what a token's granted scopes allow.

A token response carries ``scope``: the space-separated scopes the server actually granted,
which may differ from what was asked for. For an Epic backend client this is the most direct
evidence of which APIs are enabled, down to Epic's category-qualified scopes such as
``system/Condition.s?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item``.

Grammar of a clinical (resource) scope, SMART App Launch 2.x "Clinical Scope Syntax"::

    scope       = context "/" ( ResourceType | "*" ) "." permissions [ "?" qualifiers ]
    context     = "patient" | "user" | "system"
    qualifiers  = param "=" value *( "&" param "=" value )

* v2 ``permissions``: a non-empty subset of ``cruds`` written in that order (``rs``, ``cu``;
  never ``sr`` or ``rr``).
* v1 ``permissions``: ``read`` (same as v2 ``rs``), ``write`` (``cud``) or ``*`` (``cruds``).

Every scope starting with ``patient/``, ``user/`` or ``system/`` is a resource scope and must
follow the grammar; anything else (``openid``, ``fhirUser``, ``launch``, ``launch/patient``,
``offline_access``, Epic's own ``epic.*`` ...) is not a resource scope and is kept aside.
So is a context-less ``Patient.read``, as Epic's OAuth guide shows in an example token
response: SMART gives it no meaning, so it grants nothing here.

Matching (:meth:`Grants.allows`):

* the context must be the one asked for (``system`` by default); ``user/`` and ``patient/``
  scopes never grant ``system`` access;
* resource ``*`` grants every resource type;
* an unqualified scope satisfies any request; a qualified scope satisfies a request only when
  each of its ``param=value`` pairs is matched by the request. Values are compared as FHIR
  search tokens, exactly (``system|code`` is not matched by ``code`` alone); a comma in a value
  is FHIR's "or", so a scope ``category=A,B`` covers a request for ``A`` and a request for
  ``A,B``;
* a request without qualifiers that only qualified scopes match is granted with
  ``qualified_only=True``: the client may use the interaction, but only for those slices.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CONTEXTS",
    "PERMISSIONS",
    "GrantCheck",
    "Grants",
    "Permission",
    "ResourceScope",
    "ScopeSyntaxError",
    "parse_scope",
]

Permission = Literal["c", "r", "u", "d", "s"]
Context = Literal["system", "user", "patient"]

#: The v2 permission letters, in the only order SMART allows them.
PERMISSIONS = "cruds"
CONTEXTS: tuple[str, ...] = ("system", "user", "patient")

PERMISSION_NAMES: Mapping[str, str] = {
    "c": "create",
    "r": "read",
    "u": "update",
    "d": "delete",
    "s": "search",
}

#: SMART App Launch 1.0 suffixes and the v2 permissions they stand for.
V1_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "read": frozenset("rs"),
    "write": frozenset("cud"),
    "*": frozenset(PERMISSIONS),
}

_RESOURCE_PREFIX = re.compile(r"^(patient|user|system)/")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.:]*$")
_V2_SUFFIX = re.compile(r"^c?r?u?d?s?$")
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


class ScopeSyntaxError(ValueError):
    """A resource scope that does not follow the SMART grammar. The message names the scope."""

    def __init__(self, scope: str, why: str) -> None:
        self.scope = scope
        self.why = why
        super().__init__(f"malformed SMART scope {scope!r}: {why}")


@dataclass(frozen=True)
class ResourceScope:
    """One parsed clinical scope, e.g. ``system/Observation.rs?category=...|laboratory``."""

    raw: str
    context: Context
    resource: str  # a resource type, or "*" for every type
    permissions: frozenset[str]  # letters of "cruds"
    version: Literal[1, 2]
    qualifiers: tuple[tuple[str, str], ...] = ()  # ('category', 'http://...|laboratory'), verbatim

    @property
    def is_wildcard(self) -> bool:
        return self.resource == "*"

    @property
    def is_qualified(self) -> bool:
        return bool(self.qualifiers)

    @property
    def v2_suffix(self) -> str:
        """The permissions as a v2 suffix (``rs`` for v1 ``read``)."""
        return "".join(p for p in PERMISSIONS if p in self.permissions)

    @property
    def v2(self) -> str:
        """The same scope written in v2 syntax."""
        text = f"{self.context}/{self.resource}.{self.v2_suffix}"
        if self.qualifiers:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.qualifiers)
        return text

    def qualifier_text(self) -> str:
        """``category=...|vital-signs`` (``&``-joined), or ``""`` when unqualified."""
        return "&".join(f"{k}={v}" for k, v in self.qualifiers)

    def covers(self, resource: str, permission: str, context: str = "system") -> bool:
        """Whether this scope gives ``permission`` on ``resource`` in ``context`` (qualifiers aside)."""
        return (
            self.context == context
            and (self.resource == "*" or self.resource == resource)
            and permission in self.permissions
        )

    def satisfies(self, requested: Mapping[str, str] | None) -> bool:
        """Whether this scope's qualifiers allow a request carrying ``requested`` parameters."""
        if not self.qualifiers:
            return True
        if not requested:
            return False
        for name, value in self.qualifiers:
            if name not in requested:
                return False
            allowed = _token_alternatives(value)
            wanted = _token_alternatives(requested[name])
            if not wanted or not wanted <= allowed:
                return False
        return True

    def __str__(self) -> str:
        return self.raw


def _token_alternatives(value: str) -> frozenset[str]:
    """Split a FHIR search value on its unescaped commas ("or"); each token kept verbatim."""
    return frozenset(part for part in _UNESCAPED_COMMA.split(value) if part)


def is_resource_scope(text: str) -> bool:
    """Whether ``text`` claims to be a clinical scope: starts ``patient/``, ``user/`` or ``system/``."""
    return bool(_RESOURCE_PREFIX.match(text))


def parse_scope(text: str) -> ResourceScope | None:
    """Parse one scope.

    Returns ``None`` for a scope that is not a resource scope (``openid``, ``fhirUser``,
    ``launch/patient``, ``offline_access``, ``epic.*`` ...). Raises :class:`ScopeSyntaxError`
    for a resource scope that breaks the grammar (``system/Patient.xyz``, ``system/Patient.sr``,
    ``system/.rs``), and for text that is not a single scope (empty, or containing whitespace).
    """
    if not isinstance(text, str):
        raise TypeError(f"a scope is a string, not {type(text).__name__}")
    if not text or any(ch.isspace() for ch in text):
        raise ScopeSyntaxError(text, "a scope is one non-empty token without whitespace")
    match = _RESOURCE_PREFIX.match(text)
    if match is None:
        return None
    context = match.group(1)
    rest = text[match.end() :]

    body, sep, query = rest.partition("?")
    if sep and not query:
        raise ScopeSyntaxError(text, "'?' is not followed by any param=value")

    resource, dot, suffix = body.rpartition(".")
    if not dot:
        raise ScopeSyntaxError(text, "no '.' between the resource type and the permissions")
    if not resource:
        raise ScopeSyntaxError(text, "no resource type before '.'")
    if resource != "*" and not _RESOURCE_TYPE.match(resource):
        raise ScopeSyntaxError(
            text,
            f"{resource!r} is neither a resource type (letters and digits, capital first) nor '*'",
        )
    if not suffix:
        raise ScopeSyntaxError(text, "no permissions after '.'")

    version: Literal[1, 2]
    if suffix in V1_PERMISSIONS:
        permissions = V1_PERMISSIONS[suffix]
        version = 1
    elif _V2_SUFFIX.match(suffix):
        permissions = frozenset(suffix)
        version = 2
    elif set(suffix) <= set(PERMISSIONS):
        raise ScopeSyntaxError(
            text,
            f"permissions {suffix!r} must be a subset of 'cruds' in that order, each letter once",
        )
    else:
        raise ScopeSyntaxError(
            text,
            f"permissions {suffix!r} are neither v2 letters from 'cruds' nor v1 read, write or *",
        )

    qualifiers = _parse_qualifiers(text, query) if sep else ()
    return ResourceScope(
        raw=text,
        context=context,  # type: ignore[arg-type]  # the prefix regex allows only the three
        resource=resource,
        permissions=permissions,
        version=version,
        qualifiers=qualifiers,
    )


def _parse_qualifiers(scope: str, query: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        if not item:
            raise ScopeSyntaxError(scope, "empty parameter in the '?' part (stray '&')")
        name, eq, value = item.partition("=")
        if not eq:
            raise ScopeSyntaxError(scope, f"parameter {item!r} has no '='")
        if not _PARAM_NAME.match(name):
            raise ScopeSyntaxError(scope, f"parameter name {name!r} is not a search parameter name")
        if not value:
            raise ScopeSyntaxError(scope, f"parameter {name!r} has an empty value")
        pairs.append((name, value))
    return tuple(pairs)


@dataclass(frozen=True)
class GrantCheck:
    """The answer to "may this token do X?"."""

    granted: bool
    via: tuple[str, ...]  # the raw scopes that grant it, in the order the server gave them
    qualified_only: bool  # only qualified scopes grant it, and the request named no qualifier
    detail: str  # one short sentence for a report

    def __bool__(self) -> bool:
        return self.granted


@dataclass(frozen=True)
class Grants:
    """The scopes a token was granted: resource scopes, other scopes, malformed ones."""

    scopes: tuple[ResourceScope, ...] = ()
    other: tuple[str, ...] = ()
    malformed: tuple[str, ...] = ()

    @classmethod
    def parse(cls, scope_value: str | Iterable[str] | None) -> Grants:
        """Parse a token response ``scope`` (space separated) or a list of scopes.

        Never raises on scope content: malformed resource scopes land in ``malformed``.
        Exact duplicates are kept once, first occurrence first. ``None`` gives empty grants.
        """
        if scope_value is None:
            items: Iterable[str] = ()
        elif isinstance(scope_value, str):
            items = (scope_value,)
        elif isinstance(scope_value, (bytes, bytearray)):
            raise TypeError("scope must be text, not bytes")
        else:
            items = scope_value
        scopes: list[ResourceScope] = []
        other: list[str] = []
        malformed: list[str] = []
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"a scope is a string, not {type(item).__name__}")
            for token in item.split():
                if token in seen:
                    continue
                seen.add(token)
                try:
                    parsed = parse_scope(token)
                except ScopeSyntaxError:
                    malformed.append(token)
                    continue
                if parsed is None:
                    other.append(token)
                else:
                    scopes.append(parsed)
        return cls(tuple(scopes), tuple(other), tuple(malformed))

    def __len__(self) -> int:
        return len(self.scopes) + len(self.other) + len(self.malformed)

    @property
    def raw(self) -> tuple[str, ...]:
        """Every scope, resource scopes first, then the others, then the malformed ones."""
        return tuple(s.raw for s in self.scopes) + self.other + self.malformed

    @property
    def versions(self) -> frozenset[int]:
        """SMART scope versions in use: {2} for a v2-only grant, {1, 2} when mixed."""
        return frozenset(s.version for s in self.scopes)

    def resources(self, context: str | None = None) -> frozenset[str]:
        """Resource types named by the resource scopes (``*`` kept as is), of one context or all."""
        return frozenset(s.resource for s in self.scopes if context is None or s.context == context)

    def allows(
        self,
        resource: str,
        permission: Permission,
        qualifiers: Mapping[str, str] | None = None,
        context: str = "system",
    ) -> GrantCheck:
        """Whether the granted scopes allow ``permission`` on ``resource`` in ``context``.

        ``qualifiers`` are the search parameters the request carries that a qualified scope
        may demand, e.g. ``{"category": "<observation-category system>|laboratory"}``.
        """
        if permission not in PERMISSION_NAMES:
            raise ValueError(f"permission must be one of c, r, u, d, s, not {permission!r}")
        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, not {context!r}")
        if not resource:
            raise ValueError("resource must be a resource type")
        verb = PERMISSION_NAMES[permission]
        requested = dict(qualifiers) if qualifiers else {}

        matching = [s for s in self.scopes if s.covers(resource, permission, context)]
        unqualified = [s for s in matching if not s.qualifiers]
        qualified = [s for s in matching if s.qualifiers]

        if requested:
            granting = [s for s in matching if s.satisfies(requested)]
            if granting:
                return GrantCheck(True, _raws(granting), False, f"granted by {_list(granting)}")
            asked = _qualifier_text(requested)
            if qualified:
                slices = "; ".join(dict.fromkeys(s.qualifier_text() for s in qualified))
                return GrantCheck(
                    False,
                    (),
                    False,
                    f"not granted: {verb} on {resource} is granted only for {slices}, "
                    f"not for {asked}",
                )
            return GrantCheck(False, (), False, self._not_granted(resource, permission, context))

        if unqualified:
            return GrantCheck(True, _raws(unqualified), False, f"granted by {_list(unqualified)}")
        if qualified:
            slices = "; ".join(dict.fromkeys(s.qualifier_text() for s in qualified))
            return GrantCheck(True, _raws(qualified), True, f"granted only for {slices}")
        return GrantCheck(False, (), False, self._not_granted(resource, permission, context))

    def _not_granted(self, resource: str, permission: str, context: str) -> str:
        verb = PERMISSION_NAMES[permission]
        elsewhere = [
            s
            for other_context in CONTEXTS
            if other_context != context
            for s in self.scopes
            if s.covers(resource, permission, other_context)
        ]
        text = f"not granted: no {context} scope gives {verb} on {resource}"
        if elsewhere:
            be = "is" if len(elsewhere) == 1 else "are"
            text += f" ({_list(elsewhere)} {be} not {context} context)"
        return text


def _raws(scopes: Iterable[ResourceScope]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.raw for s in scopes))


def _list(scopes: Iterable[ResourceScope], limit: int = 3) -> str:
    raws = _raws(scopes)
    if len(raws) <= limit:
        return ", ".join(raws)
    return f"{', '.join(raws[:limit])} and {len(raws) - limit} more"


def _qualifier_text(requested: Mapping[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in requested.items())
