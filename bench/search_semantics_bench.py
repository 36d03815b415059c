"""What judging search semantics costs: fhirpathpy on a Bundle of 1,000 entries built from Epic's real Encounters.

    python bench/search_semantics_bench.py [--entries 1000]

The entries are copies of the ten Encounters of ``tests/data/epic/mh-encounter-search-*.json`` with fresh ids.
Three figures, each over every entry:

- compiling: ``fhirpathpy.evaluate`` with the expression as text (parsed again for every entry);
- compiled: the harness's evaluator (``harness.fhir.expressions.evaluate``), which compiles each expression once;
- judged: ``Criterion.possible`` and ``Criterion.certain`` for the criteria the rules send to an Encounter search
  (patient, date with a prefix, class as system|code, identifier, an OR list of _id), as the checks call them.

The last line printed holds the figures. Timings vary from run to run.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fhirpathpy import evaluate as fhirpath_evaluate  # noqa: E402
from fhirpathpy.models import models  # noqa: E402

from harness.fhir.expressions import evaluate  # noqa: E402
from harness.fhir.search_matching import Criterion  # noqa: E402
from harness.fhir.search_parameters import r4_table  # noqa: E402

SOURCE = ROOT / "tests" / "data" / "epic" / "mh-encounter-search-erXuFYUfucBZaryVksYEcMg3.json"
CRITERIA = {"patient": "erXuFYUfucBZaryVksYEcMg3", "date": "ge2023-06-02T20:49:58Z",
            "class": "urn:oid:1.2.840.114350.1.72.1.7.7.10.696784.13260|13",
            "identifier": "urn:oid:1.2.840.114350.1.13.0.1.7.3.698084.8|29544", "_id": "e0000,e0001"}


def entries(count: int) -> list[dict]:
    bundle = json.loads(SOURCE.read_text("utf-8"))["body"]
    encounters = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"]
    out = []
    for i in range(count):
        resource = copy.deepcopy(encounters[i % len(encounters)])
        resource["id"] = f"e{i:04d}"
        out.append(resource)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()
    resources = entries(args.entries)
    table = r4_table()
    specs = [table.get("Encounter", name) for name in CRITERIA]
    expressions = [str(spec.expression) for spec in specs if spec is not None]
    for expression in expressions:  # warm fhirpathpy's own imports and the model, not the per-expression cache
        fhirpath_evaluate(resources[0], expression.replace("resolve() is Patient", "true"), {}, models["r4"])

    started = time.perf_counter()
    for expression in expressions:
        plain = expression.replace(".where(resolve() is Patient)", "")  # fhirpathpy alone has no resolve()
        for resource in resources:
            fhirpath_evaluate(resource, plain, {}, models["r4"])
    compiling = time.perf_counter() - started

    started = time.perf_counter()
    for expression in expressions:
        for resource in resources:
            evaluate(resource, expression)
    compiled = time.perf_counter() - started

    criteria = [Criterion(spec, CRITERIA[spec.name]) for spec in specs if spec is not None]
    started = time.perf_counter()
    matched = 0
    for criterion in criteria:
        for resource in resources:
            matched += bool(criterion.possible(resource)) + bool(criterion.certain(resource))
    judged = time.perf_counter() - started

    evaluations = len(expressions) * len(resources)
    print(f"{len(resources)} entries x {len(expressions)} expressions: fhirpathpy parsing each time "
          f"{compiling:.2f} s ({compiling / evaluations * 1e6:.0f} us/evaluation); compiled once "
          f"{compiled:.3f} s ({compiled / evaluations * 1e6:.0f} us/evaluation); judged (possible and certain, "
          f"{2 * evaluations} answers, {matched} true) {judged:.3f} s")


if __name__ == "__main__":
    main()
