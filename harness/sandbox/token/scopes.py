"""SMART scopes: their grammar (v1 and v2, Epic's category-qualified ones), and what they permit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<resource>\*|[A-Za-z]+)\.(?P<perms>[^?]+)(?:\?(?P<query>.*))?$")
_V1_PERMS = {"read": "rs", "write": "cud", "*": "cruds"}


def scope_parts(scope: str) -> tuple[str, str, frozenset[str], str | None] | None:
    """(context, resource, permission letters, query) of a SMART scope, or None."""
    match = _SCOPE.match(scope)
    if not match:
        return None
    perms = _V1_PERMS.get(match["perms"], match["perms"])
    if not set(perms) <= set("cruds"):
        return None
    return match["context"], match["resource"], frozenset(perms), match["query"]


def scope_within(registered: str, requested: str) -> bool:
    """Is ``registered`` no broader than ``requested`` (SMART v1 or v2 grammar)?"""
    if registered == requested:
        return True
    have, want = scope_parts(registered), scope_parts(requested)
    if have is None or want is None:
        return False
    return (
        have[0] == want[0]
        and want[1] in ("*", have[1])
        and have[2] <= want[2]
        and (want[3] is None or have[3] == want[3])
    )


def covered_by(registered: Iterable[str], wanted: str) -> bool:
    """Does the registration allow everything ``wanted`` asks (each of its permissions, on its
    resource, with its query if it has one)?"""
    if wanted in registered:
        return True
    want = scope_parts(wanted)
    if want is None:
        return False
    allowed = [parts for parts in map(scope_parts, registered) if parts is not None]
    return all(any(have[0] == want[0] and have[1] in ("*", want[1]) and letter in have[2]
                   and (have[3] is None or have[3] == want[3]) for have in allowed)
               for letter in want[2])


def scope_resource(scope: str) -> str | None:
    parts = scope_parts(scope)
    return parts[1] if parts else None


def within_any(registered: Iterable[str], wanted: Sequence[str]) -> list[str]:
    """The registered scopes that fall within one of ``wanted``."""
    return [scope for scope in registered if any(scope_within(scope, w) for w in wanted)]


def permits(scopes: Sequence[str], resource: str, letter: str) -> bool:
    """Does any granted scope allow interaction ``letter`` (c r u d s) on ``resource``?
    Category-qualified scopes count: Epic then filters the results (59204)."""
    for scope in scopes:
        parts = scope_parts(scope)
        if parts and parts[1] in ("*", resource) and letter in parts[2]:
            return True
    return False


def unknown_scope(scope: str, resource_types: Iterable[str]) -> bool:
    """Is ``scope`` a SMART resource scope (``patient/``, ``user/``, ``system/``) naming a resource
    type not in ``resource_types`` or permissions that do not exist (``system/Patient.x``)?
    Other scopes (``openid``, ``launch``) are not resource scopes, so not unknown ones."""
    if not re.match(r"^(patient|user|system)/", scope):
        return False
    parts = scope_parts(scope)
    return parts is None or (parts[1] != "*" and parts[1] not in set(resource_types))


def scope_queries(scopes: Sequence[str], resource: str, letter: str) -> list[str] | None:
    """The queries that narrow interaction ``letter`` on ``resource`` (Epic's category-qualified
    scopes, ``system/Condition.s?category=...``): None when a scope allows it unqualified, [] when
    no scope allows it at all."""
    queries: list[str] = []
    for scope in scopes:
        parts = scope_parts(scope)
        if parts and parts[1] in ("*", resource) and letter in parts[2]:
            if parts[3] is None:
                return None
            queries.append(parts[3])
    return queries
