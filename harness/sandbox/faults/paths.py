"""Element paths in JSON documents, for the faults that edit what is served: ``rest.resource``
(dotted, through lists: every resource of every rest), ``value[x]`` (any choice of the element).
"""

from __future__ import annotations

from typing import Any


def _nodes(node: Any, parts: list[str], create: bool) -> list[dict[str, Any]]:
    """The objects a dotted path's parent names, through lists (``rest.resource`` is every
    resource); with ``create``, missing objects on the way are made."""
    if isinstance(node, list):
        return [found for item in node for found in _nodes(item, parts, create)]
    if not isinstance(node, dict):
        return []
    if not parts:
        return [node]
    head, rest = parts[0], parts[1:]
    if head.endswith("[x]"):
        return [found for key in _choices(node, head) for found in _nodes(node[key], rest, create)]
    if head not in node:
        if not create:
            return []
        node[head] = {}
    return _nodes(node[head], rest, create)


def _choices(node: dict[str, Any], name: str) -> list[str]:
    """The keys of ``node`` a choice element ``value[x]`` names (valueQuantity, valueString, ...)."""
    base = name[:-3]
    return [key for key in node if key.startswith(base) and key[len(base):][:1].isupper()]


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    """Set element ``path`` (dotted, through lists) to ``value``, creating missing objects."""
    *parents, last = path.split(".")
    for node in _nodes(document, parents, create=True):
        node[last] = value


def drop_path(document: dict[str, Any], path: str) -> None:
    """Remove element ``path`` (dotted, through lists; a choice ``[x]`` in any of its types) with
    its primitive extensions (``_birthDate``); objects and lists it leaves empty go too."""
    *parents, last = path.split(".")
    for node in _nodes(document, parents, create=False):
        for key in _choices(node, last) if last.endswith("[x]") else [last]:
            node.pop(key, None)
            node.pop(f"_{key}", None)
    if parents:
        _prune(document, parents)


def _prune(node: Any, parts: list[str]) -> None:
    """Drop the objects and lists along ``parts`` that the removal left empty (FHIR allows no ``{}``)."""
    if isinstance(node, list):
        for item in node:
            _prune(item, parts)
        return
    if not isinstance(node, dict) or not parts:
        return
    head = parts[0]
    for key in _choices(node, head) if head.endswith("[x]") else [head]:
        if key not in node:
            continue
        _prune(node[key], parts[1:])
        value = node[key]
        if isinstance(value, list):
            value[:] = [item for item in value if item not in ({}, [])]
        if value in ({}, []):
            del node[key]
