"""Evaluate a search parameter's FHIRPath expression on a resource (fhirpathpy), keeping each value's FHIR type.

``resolve()`` cannot fetch anything here: it answers a stub of the referenced resource's type, read
from the reference itself (``Patient/123``, ``https://host/api/FHIR/STU3/Patient/123``,
``Patient/123/_history/2``), so that ``subject.where(resolve() is Patient)`` keeps the references to
Patients, as the definitions mean. Compiled expressions are cached: compiling costs about a
millisecond, evaluating a compiled one some microseconds (``bench/search_semantics_bench.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from harness.errors import HarnessError

__all__ = ["ExpressionError", "Value", "evaluate", "reference_key"]

_MODELS = {"R4": "r4", "STU3": "stu3", "DSTU2": "dstu2"}
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?/?$")


class ExpressionError(HarnessError):
    """An expression could not be evaluated on a resource (a malformed resource, or FHIRPath fhirpathpy lacks)."""


@dataclass(frozen=True)
class Value:
    """One value an expression selected: its FHIR type where the model knows it (``Period``, ``dateTime``...)."""

    type: str | None
    data: Any


def reference_key(reference: str) -> tuple[str, str] | None:
    """(type, id) of a literal reference, relative or absolute; None for ``#contained``, ``urn:uuid:`` and the like."""
    if not isinstance(reference, str) or reference.startswith("#"):
        return None
    found = _REFERENCE.search(reference.split("?", 1)[0])
    return (found.group(1), found.group(2)) if found else None


@lru_cache(maxsize=1)
def _engine() -> tuple[Callable[..., Any], Any, Any]:
    """fhirpathpy's compiler, its ResourceNode and its models, loaded when an expression is first evaluated
    (the models take tens of milliseconds to load, and most runs evaluate none)."""
    from fhirpathpy import compile as compile_fhirpath
    from fhirpathpy.engine.nodes import ResourceNode
    from fhirpathpy.models import models

    return compile_fhirpath, ResourceNode, models


def _resolve(inputs: list[Any]) -> list[Any]:
    ResourceNode = _engine()[1]
    out = []
    for item in inputs:
        ref = item.get("reference") if isinstance(item, dict) else None
        key = reference_key(ref) if isinstance(ref, str) else None
        if key is not None:
            out.append(ResourceNode.create_node({"resourceType": key[0], "id": key[1]}, key[0]))
    return out


_OPTIONS = {"userInvocationTable": {"resolve": {"fn": _resolve, "arity": {0: []}}}, "returnRawData": True}


@lru_cache(maxsize=2048)
def _compiled(expression: str, version: str) -> Callable[..., Any]:
    compile_fhirpath, _, models = _engine()
    model = models[_MODELS.get(version, "r4")]
    try:
        return compile_fhirpath(expression, model, _OPTIONS)
    except Exception as exc:  # fhirpathpy raises bare Exceptions for syntax it does not know
        raise ExpressionError(f"cannot compile {expression!r}: {exc}") from None


def evaluate(resource: dict[str, Any], expression: str, version: str = "R4") -> list[Value]:
    """The values ``expression`` selects in ``resource``, each with its FHIR type when known."""
    function = _compiled(expression, version)
    try:
        found = function(resource, {})
    except Exception as exc:  # a resource the model does not expect (a list where a singleton belongs...)
        raise ExpressionError(f"{expression}: {exc.__class__.__name__}: {exc}") from None
    ResourceNode = _engine()[1]
    values = []
    for node in found if isinstance(found, list) else [found]:
        if isinstance(node, ResourceNode):
            data = node.data
            kind = node.path if isinstance(node.path, str) and "." not in node.path else None
            if isinstance(data, dict) and set(data) == {"extension"}:
                continue  # a primitive's extension without a value
            values.append(Value(kind, data))
        elif node is not None:
            values.append(Value(None, node))
    return values
