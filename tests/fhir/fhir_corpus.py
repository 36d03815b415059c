"""Valid R4 resources to validate and to mutate: real Epic answers, the sandbox's population, the
US Core 6.1.0 examples and a Synthea-like sample (``tests/fhir/data``, hash-pinned)."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
EPIC = HERE.parent / "data" / "epic"
#: The R4 documents of tests/data/epic (the others are STU3 or DSTU2).
EPIC_R4 = (
    "mh-patient-read-erXuFYUfucBZaryVksYEcMg3.json",
    "mh-encounter-search-erXuFYUfucBZaryVksYEcMg3.json",
    "mh-allergyintolerance.json",
    "mh-condition-search-empty-result-outcome.json",
    "r4-capabilitystatement-sandbox-may2026.json",
    "r4-capabilitystatement-sandbox-feb2026-mockhealth.json",
)


class CorpusIntegrityError(Exception):
    """A corpus file is not the one tests/fhir/data/MANIFEST.json pins."""


def _body(document: Any) -> Any:
    if isinstance(document, dict) and "body" in document and "resourceType" not in document:
        return document["body"]
    return document


def pinned(name: str) -> list[dict[str, Any]]:
    """The resources of ``tests/fhir/data/<name>``, refused if its sha256 is not the pinned one."""
    manifest = json.loads((DATA / "MANIFEST.json").read_text(encoding="utf-8"))
    entry = manifest["files"][name]
    raw = gzip.decompress((DATA / name).read_bytes())
    if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
        raise CorpusIntegrityError(f"{DATA / name}: sha256 differs from tests/fhir/data/MANIFEST.json")
    return list(json.loads(raw)["resources"])


def epic_r4() -> list[tuple[str, dict[str, Any]]]:
    return [(name, _body(json.loads((EPIC / name).read_text(encoding="utf-8")))) for name in EPIC_R4]


def sandbox_r4() -> list[tuple[str, dict[str, Any]]]:
    from harness.sandbox.population import default_population  # read-only use

    return [(f"sandbox {r['resourceType']}/{r.get('id')}", json.loads(json.dumps(r)))
            for r in default_population().all("R4")]


def synthea() -> list[tuple[str, dict[str, Any]]]:
    return [(f"synthea {r['resourceType']}/{r.get('id')}", r) for r in pinned("synthea-r4-sample.json.gz")]


def us_core_examples() -> list[tuple[str, dict[str, Any]]]:
    return [(f"us-core {r['resourceType']}/{r.get('id')}", r) for r in pinned("us-core-6.1.0-examples.json.gz")]


@lru_cache(maxsize=1)
def valid_corpus() -> tuple[tuple[str, str, dict[str, Any]], ...]:
    """(source, name, resource) of every valid resource the tests know, top-level documents and
    the resources inside Epic's Bundles alike."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for source, items in (("epic", epic_r4()), ("sandbox", sandbox_r4()), ("us-core", us_core_examples()),
                          ("synthea", synthea())):
        for name, resource in items:
            out.append((source, name, resource))
    return tuple(out)


def entries(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in resource.get("entry", []) if resource.get("resourceType") == "Bundle" else []:
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(inner, dict):
            yield inner
