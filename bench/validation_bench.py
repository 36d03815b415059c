"""Validation: detection of one-defect mutants, false alarms, throughput and memory, in one run.

    python bench/validation_bench.py [--per-class 200] [--seed 17] [--size 1500]
                                     [--jsonschema-seconds 10] [--synthea DIR]

It prints, and asserts nothing:

1. **Detection** of seeded invalid R4 mutants (``tests/fhir/fhir_mutants.py``: one defect each,
   made from the valid corpus), by class, for the harness, the harness's JSON schema alone (what it
   checked before the StructureDefinition rules) and ``fhirkit-rs`` when installed (an independent
   validator from PyPI, ``pip install fhirkit-rs``; not a dependency). A mutant counts as detected
   when the validator reports at least one error.
2. **False alarms** on the valid corpus: the real Epic answers of ``tests/data/epic``, the
   sandbox's R4 population (its known lst-3 Lists are counted apart), the US Core 6.1.0 examples
   and the Synthea-like sample of ``tests/fhir/data`` (or every resource of a PySynthea output
   folder given with ``--synthea``).
3. **Throughput** on the same documents, in one run: single resources (reads) and searchset
   Bundles of 8 (search pages), as a run validates them; the harness, ``fhirkit-rs`` and plain
   ``jsonschema`` (per type, Bundle entries through the schema's own ``oneOf``, time-capped), in
   documents per CPU-second (``time.process_time``, steadier than wall time on a shared machine)
   and the ratios; profile validation (the US Core 6.1.0 profiles Epic's sandbox claims) and the
   data-contract tally, separately, per resource.
4. **Memory**: resident memory of a process that loaded the validator and compiled the corpus's
   types, with and without the StructureDefinition rules.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests" / "fhir"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import jsonschema  # noqa: E402
from fhir_corpus import epic_r4, sandbox_r4, synthea, us_core_examples  # noqa: E402
from fhir_mutants import CLASSES, INVARIANTS, mutants  # noqa: E402

from harness.fhir.contract import ContractTally, load_contract  # noqa: E402
from harness.fhir.profiles import ProfileValidator, claimed_profiles  # noqa: E402
from harness.fhir.validation import FhirValidator, load_schema, validator_for  # noqa: E402

try:
    import fhirkit  # type: ignore[import-not-found]
except ImportError:  # the independent validator is optional
    fhirkit = None

Resource = dict[str, Any]


def _fhirkit_errors(resource: Resource) -> list[str]:
    return [str(i) for i in fhirkit.validate(resource) if getattr(i, "severity", "error") == "error"]


def _pysynthea(folder: Path) -> list[tuple[str, Resource]]:
    out = []
    for path in sorted(glob.glob(str(folder / "*.json"))):
        bundle = json.loads(Path(path).read_text(encoding="utf-8"))
        out.extend((f"synthea {e['resource']['resourceType']}", e["resource"]) for e in bundle.get("entry", []))
    return out


def _rate(check: Callable[[Resource], object], resources: list[Resource], budget: float | None = None) -> tuple[float, int]:
    """Resources per CPU-second, and how many were checked (a budget stops it early)."""
    started = time.process_time()
    done = 0
    for resource in resources:
        check(resource)
        done += 1
        if budget is not None and time.process_time() - started >= budget:
            break
    spent = time.process_time() - started
    return done / spent if spent > 0 else float("inf"), done


def _documents(pool: list[Resource], size: int, page: int = 8) -> list[Resource]:
    """``size`` documents: 60% single resources, 40% searchset Bundles of ``page`` resources of
    one type (Epic's shape: fullUrl, search mode match), cycling through ``pool`` in order."""
    by_type: dict[str, list[Resource]] = {}
    for resource in pool:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    kinds = sorted(by_type)
    documents: list[Resource] = []
    for i in range(size):
        if i % 5 < 3:
            documents.append(pool[i % len(pool)])
            continue
        same = by_type[kinds[i % len(kinds)]]
        entries = [same[(i + j) % len(same)] for j in range(page)]
        documents.append({"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                          "link": [{"relation": "self", "url": f"https://fhir.example.org/api/FHIR/R4/{kinds[i % len(kinds)]}"}],
                          "entry": [{"fullUrl": f"https://fhir.example.org/api/FHIR/R4/{r['resourceType']}/{r.get('id', j)}",
                                     "resource": r, "search": {"mode": "match"}} for j, r in enumerate(entries)]})
    return documents


def _rss(structure: bool, types: list[str]) -> float:
    """Resident MB of a fresh process that built the validator and compiled ``types``."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from harness.fhir.validation import FhirValidator\n"
        f"v = FhirValidator('R4', structure={structure})\n"
        f"for t in {types!r}: v.validate({{'resourceType': t}})\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True)
    return int(done.stdout.strip()) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=200, help="mutants per defect class")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--size", type=int, default=1500, help="documents in the throughput corpus")
    parser.add_argument("--jsonschema-seconds", type=float, default=10.0, help="CPU budget of plain jsonschema")
    parser.add_argument("--synthea", type=Path, help="a PySynthea fhir/ output folder, instead of the shipped sample")
    args = parser.parse_args(argv)

    harness = validator_for("R4")
    schema_only = FhirValidator("R4", structure=False)
    synthetic = _pysynthea(args.synthea) if args.synthea else synthea()
    sources = {"epic": epic_r4(), "sandbox": sandbox_r4(), "us-core examples": us_core_examples(), "synthea": synthetic}

    # 1-2. false alarms, and the valid bases of the mutants
    print("== false alarms on the valid corpus (resources with at least one error)")
    bases: list[tuple[str, Resource]] = []
    for source, items in sources.items():
        flagged = Counter()
        known = 0
        for name, resource in items:
            issues = harness.validate(resource)
            if source == "sandbox" and issues and {i.rule for i in issues} == {"lst-3"}:
                known += 1
                continue
            if issues:
                flagged["harness"] += 1
            else:
                bases.append((name, resource))
            if not schema_only.is_valid(resource):
                flagged["schema only"] += 1
            if fhirkit is not None and _fhirkit_errors(resource):
                flagged["fhirkit-rs"] += 1
        extra = f"; {known} sandbox Lists break lst-3 (a known defect of the sandbox, not a false alarm)" if known else ""
        others = ", ".join(f"{k} {v}" for k, v in sorted(flagged.items()) if k != "harness") or "others 0"
        print(f"{source:18} {len(items):6} resources: harness {flagged['harness']} false alarms | {others}{extra}")

    print(f"\n== detection of {args.per_class} seeded mutants per class (seed {args.seed}), one defect each")
    validators: dict[str, Callable[[Resource], bool]] = {
        "harness": lambda r: bool(harness.validate(r)),
        "schema only": lambda r: not schema_only.is_valid(r),
    }
    if fhirkit is not None:
        validators["fhirkit-rs"] = lambda r: bool(_fhirkit_errors(r))
    total: Counter[str] = Counter()
    hits: dict[str, Counter[str]] = {name: Counter() for name in validators}
    invariant_total: Counter[str] = Counter()
    invariant_hits: Counter[str] = Counter()
    right_rule: Counter[str] = Counter()
    for mutant in mutants(bases, args.per_class, args.seed):
        total[mutant.defect] += 1
        for name, detects in validators.items():
            if detects(copy.deepcopy(mutant.resource)):
                hits[name][mutant.defect] += 1
        issues = harness.validate(mutant.resource)
        if any(i.rule in mutant.expected for i in issues):
            right_rule[mutant.defect] += 1
        if mutant.defect == "invariant":
            invariant_total[mutant.detail] += 1
            invariant_hits[mutant.detail] += bool(issues)
    header = f"{'class':22} {'n':>5} " + " ".join(f"{name:>12}" for name in validators) + "  right rule"
    print(header)
    for defect in CLASSES:
        cells = " ".join(f"{100 * hits[name][defect] / max(1, total[defect]):11.1f}%" for name in validators)
        print(f"{defect:22} {total[defect]:5} {cells}  {100 * right_rule[defect] / max(1, total[defect]):9.1f}%")
    all_n = sum(total.values())
    cells = " ".join(f"{100 * sum(hits[name].values()) / max(1, all_n):11.1f}%" for name in validators)
    print(f"{'all classes':22} {all_n:5} {cells}  {100 * sum(right_rule.values()) / max(1, all_n):9.1f}%")
    print("invariants: " + ", ".join(f"{k} {invariant_hits[k]}/{invariant_total[k]}" for k in INVARIANTS if invariant_total[k]))

    # 3. throughput, on the same documents: reads (one resource) and searchset pages, as a run sees them
    pool = [r for _, r in bases if r["resourceType"] != "Bundle"]
    corpus = _documents(pool, args.size)
    types = sorted({r["resourceType"] for r in corpus} | {e["resource"]["resourceType"] for r in corpus
                                                          if r["resourceType"] == "Bundle" for e in r.get("entry", [])
                                                          if isinstance(e.get("resource"), dict)})
    for resource in corpus:  # compile every type outside the timing
        harness.validate(resource)
        schema_only.validate(resource)
    inside = sum(len(d.get("entry", [])) for d in corpus if d["resourceType"] == "Bundle")
    print(f"\n== throughput on {len(corpus)} documents ({sum(d['resourceType'] == 'Bundle' for d in corpus)} searchset "
          f"pages holding {inside} resources, the others single reads; {len(types)} types), documents per CPU-second")
    rates: dict[str, float] = {}
    rates["harness"], _ = _rate(harness.validate, corpus)
    rates["schema only"], _ = _rate(schema_only.validate, corpus)
    if fhirkit is not None:
        rates["fhirkit-rs"], _ = _rate(fhirkit.validate, corpus)
    definitions = load_schema("R4")[1]["definitions"]
    plain = {t: jsonschema.Draft6Validator({"$ref": f"#/definitions/{t}", "definitions": definitions}) for t in types}
    rates["jsonschema"], checked = _rate(lambda r: plain[r["resourceType"]].is_valid(r), corpus, args.jsonschema_seconds)
    for name, rate in rates.items():
        print(f"{name:12} {rate:10,.0f} documents/s" + (f" ({checked} checked in the budget)" if name == "jsonschema" else ""))
    singles = [d for d in corpus if d["resourceType"] != "Bundle"]
    pages = [d for d in corpus if d["resourceType"] == "Bundle"]
    for label, part in (("single reads", singles), ("searchset pages", pages)):
        mine, _ = _rate(harness.validate, part)
        theirs = ""
        if fhirkit is not None:
            other, _ = _rate(fhirkit.validate, part)
            theirs = f", fhirkit-rs {other:,.0f}/s ({mine / other:.1f}x)"
        print(f"  {label:16} harness {mine:,.0f}/s{theirs}")
    line = f"harness / jsonschema {rates['harness'] / rates['jsonschema']:,.0f}x"
    if "fhirkit-rs" in rates:
        line = f"harness / fhirkit-rs {rates['harness'] / rates['fhirkit-rs']:.1f}x | " + line
    print(line + f" | the StructureDefinition rules cost {rates['schema only'] / rates['harness']:.2f}x the schema alone")

    statement = json.loads((ROOT / "tests" / "data" / "epic" / "r4-capabilitystatement-sandbox-may2026.json").read_text())
    profiles = ProfileValidator(claimed_profiles(statement))
    flat = [r for d in corpus for r in ([e["resource"] for e in d["entry"]] if d["resourceType"] == "Bundle" else [d])]
    profiled = [r for r in flat if r["resourceType"] in profiles.claims]
    rate, _ = _rate(profiles.validate, profiled)
    print(f"profiles (US Core 6.1.0, Epic's {sum(len(p) for p in profiles.claims.values())} claims): "
          f"{rate:,.0f} resources/s on the {len(profiled)} of a claimed type")
    contract = load_contract("careforce-phoenix")
    tally = ContractTally(contract)
    by_type = {api.split(".", 1)[0]: api for api in contract.apis}
    contracted = [r for r in flat if r["resourceType"] in by_type]
    rate, _ = _rate(lambda r: tally.add(by_type[r["resourceType"]], r), contracted)
    print(f"data contract (careforce-phoenix): {rate:,.0f} resources/s on the {len(contracted)} of a contracted type")

    try:
        import fhirpathpy
        from fhirpathpy.models import models
    except ImportError:
        fhirpathpy = None
    if fhirpathpy is not None:  # what evaluating HL7's FHIRPath invariants would cost instead
        rules = harness.rules
        keys = {"Observation": ("obs-6", "obs-7"), "Condition": ("con-4", "con-5"), "List": ("lst-1", "lst-2", "lst-3")}
        compiled = {t: [fhirpathpy.compile(rules.invariants[k]["expression"], models["r4"]) for k in ks]
                    for t, ks in keys.items()}
        concerned = [r for r in flat if r["resourceType"] in compiled]
        fhirpath_rate, _ = _rate(lambda r: [f(r, {"resource": r}) for f in compiled[r["resourceType"]]], concerned)
        own_rate, _ = _rate(lambda r: harness._invariants.check(r, r["resourceType"]), concerned)
        print(f"invariants of {len(concerned)} Observations, Conditions and Lists: fhirpathpy (compiled once) "
              f"{fhirpath_rate:,.0f} resources/s, the harness's own checks {own_rate:,.0f} resources/s "
              f"({own_rate / fhirpath_rate:,.0f}x): FHIRPath is the tests' oracle, not the validator's engine")

    # 4. memory
    with_rules, without = _rss(True, types), _rss(False, types)
    print(f"\n== memory: {with_rules:.0f} MB resident with the rules, {without:.0f} MB with the schema alone "
          f"({with_rules - without:+.0f} MB for the rules), {len(types)} types compiled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
