"""Validation throughput: the harness's validator against plain ``jsonschema``, on one corpus.

    python bench/validation_bench.py [--size 3000] [--jsonschema-seconds 10] [--seed 7]

The corpus is built deterministically from the real Epic documents in ``tests/data/epic``:
Patients, Encounters, AllergyIntolerances and OperationOutcomes with varied ids, names, dates
and codes, plus searchset Bundles of them (Epic's shape: matches and an outcome entry), with
about 2% of resources broken on purpose. Both sides validate the same resources in the same
order, against the same R4 definitions:

- harness: ``harness.fhir.validation.validator_for("R4").validate`` (jsonschema-rs, per type,
  Bundle entries validated against their own type);
- jsonschema: ``jsonschema.Draft6Validator`` on ``{"$ref": "#/definitions/<Type>", ...}`` per
  type, the schema as is (Bundle entries go through its ``oneOf`` over every resource type).
  It is slow, so it stops after ``--jsonschema-seconds``.

The last line printed holds the figures. Timings vary from run to run; compare the ratio.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import string
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import jsonschema  # noqa: E402

from harness.fhir.validation import load_schema, validator_for  # noqa: E402

DATA = ROOT / "tests" / "data" / "epic"
FAMILY = ["Lopez", "Lin", "Powell", "Davis", "Ross", "Roberts", "McGinnis", "Argonaut", "Nguyen", "Okafor", "Müller"]
GIVEN = ["Camila", "Derrick", "Desiree", "Elijah", "Linda", "Olivia", "Warren", "Jason", "Maria", "Kwame", "Zoë"]
CITIES = [("Madison", "WI", "53703"), ("Verona", "WI", "53593"), ("Minneapolis", "MN", "55401"), ("Austin", "TX", "78701")]
ENCOUNTER_STATUS = ["planned", "arrived", "in-progress", "finished", "cancelled"]


def _body(name: str) -> Any:
    document = json.loads((DATA / name).read_text(encoding="utf-8"))
    return document["body"] if "body" in document and "resourceType" not in document else document


def _epic_id(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits
    return "e" + "".join(rng.choice(alphabet) for _ in range(22)) + "3"


def _date(rng: random.Random, start: int = 1930, end: int = 2024) -> str:
    return f"{rng.randint(start, end):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _instant(rng: random.Random) -> str:
    return f"{_date(rng, 2019, 2026)}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"


def _break(resource: dict[str, Any], rng: random.Random) -> None:
    """One deliberate error, of the kinds a tenant really sends."""
    choice = rng.randrange(4)
    if choice == 0:
        resource["id"] = "has space"
    elif choice == 1:
        resource["meta"] = {"lastUpdated": "yesterday"}
    elif choice == 2:
        resource["epicInternal"] = True
    else:
        resource["text"] = {"status": "made-up", "div": "<div/>"}


class Corpus:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.patient = _body("mh-patient-read-erXuFYUfucBZaryVksYEcMg3.json")
        search = _body("mh-encounter-search-erXuFYUfucBZaryVksYEcMg3.json")
        self.encounters = [e["resource"] for e in search["entry"] if e["resource"]["resourceType"] == "Encounter"]
        self.allergy = _body("mh-allergyintolerance.json")["entry"][0]["resource"]
        self.outcome = _body("mh-condition-search-empty-result-outcome.json")["entry"][0]["resource"]

    def patient_variant(self) -> dict[str, Any]:
        rng = self.rng
        p = copy.deepcopy(self.patient)
        p["id"] = _epic_id(rng)
        family, given = rng.choice(FAMILY), rng.choice(GIVEN)
        for name in p.get("name", []):
            name["family"], name["given"] = family, [given]
            name["text"] = f"{given} {family}"
        p["birthDate"] = _date(rng)
        p["gender"] = rng.choice(["male", "female", "other", "unknown"])
        city, state, postal = rng.choice(CITIES)
        for address in p.get("address", []):
            address.update({"city": city, "state": state, "postalCode": postal})
            address["line"] = [f"{rng.randint(1, 9999)} {rng.choice(['Main', 'Oak', 'Park'])} St."]
        for telecom in p.get("telecom", []):
            if telecom.get("system") == "phone":
                telecom["value"] = f"608-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
        return p

    def encounter_variant(self) -> dict[str, Any]:
        rng = self.rng
        e = copy.deepcopy(rng.choice(self.encounters))
        e["id"] = _epic_id(rng)
        e["status"] = rng.choice(ENCOUNTER_STATUS)
        if "period" in e:
            start = _instant(rng)
            e["period"] = {"start": start, "end": start}
        return e

    def allergy_variant(self) -> dict[str, Any]:
        a = copy.deepcopy(self.allergy)
        a["id"] = _epic_id(self.rng)
        a["recordedDate"] = _instant(self.rng)
        return a

    def outcome_variant(self) -> dict[str, Any]:
        return copy.deepcopy(self.outcome)

    def bundle(self) -> dict[str, Any]:
        rng = self.rng
        make = rng.choice([self.patient_variant, self.encounter_variant])
        entries: list[dict[str, Any]] = []
        for _ in range(rng.randint(3, 5)):
            resource = make()
            url = f"https://fhir.example.org/api/FHIR/R4/{resource['resourceType']}/{resource['id']}"
            entries.append({"link": [{"relation": "self", "url": url}], "fullUrl": url, "resource": resource,
                            "search": {"mode": "match"}})
        if rng.random() < 0.5:
            entries.append({"fullUrl": f"urn:uuid:{rng.getrandbits(128):032x}", "resource": self.outcome_variant(),
                            "search": {"mode": "outcome"}})
        return {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                "link": [{"relation": "self", "url": "https://fhir.example.org/api/FHIR/R4/Patient?name=x"}],
                "entry": entries}

    def build(self, size: int) -> list[dict[str, Any]]:
        makers = [(self.patient_variant, 35), (self.encounter_variant, 30), (self.allergy_variant, 10),
                  (self.outcome_variant, 5), (self.bundle, 20)]
        population = [maker for maker, weight in makers for _ in range(weight)]
        corpus = [self.rng.choice(population)() for _ in range(size)]
        for resource in corpus:
            if self.rng.random() < 0.02:
                target = resource
                if resource["resourceType"] == "Bundle" and self.rng.random() < 0.5:
                    target = self.rng.choice(resource["entry"])["resource"]
                _break(target, self.rng)
        return corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3000, help="top-level resources in the corpus")
    parser.add_argument("--jsonschema-seconds", type=float, default=10.0, help="time budget of the jsonschema side")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    corpus = Corpus(args.seed).build(args.size)
    nested = sum(len(r.get("entry", [])) for r in corpus)
    types = sorted({r["resourceType"] for r in corpus})
    print(f"corpus: {len(corpus)} resources ({', '.join(types)}), {nested} of them Bundle entries on top, "
          f"{sum(len(json.dumps(r)) for r in corpus) / 1e6:.1f} MB, seed {args.seed}")

    # harness: build once (schema load, hash check, one compile per type) outside the timing.
    started = time.perf_counter()
    harness = validator_for("R4")
    for resource_type in types:
        harness.validate(next(r for r in corpus if r["resourceType"] == resource_type))
    harness_build = time.perf_counter() - started
    started = time.perf_counter()
    harness_valid = [not harness.validate(r) for r in corpus]
    harness_time = time.perf_counter() - started

    # plain jsonschema, per type, the same (4.0.1-corrected) definitions, time-capped.
    definitions = load_schema("R4")[1]["definitions"]
    plain = {t: jsonschema.Draft6Validator({"$ref": f"#/definitions/{t}", "definitions": definitions}) for t in types}
    plain_valid: list[bool] = []
    started = time.perf_counter()
    deadline = started + args.jsonschema_seconds
    for resource in corpus:
        plain_valid.append(plain[resource["resourceType"]].is_valid(resource))
        if time.perf_counter() >= deadline:
            break
    plain_time = time.perf_counter() - started

    checked = len(plain_valid)
    agree = sum(a == b for a, b in zip(harness_valid, plain_valid))
    harness_rate = len(corpus) / harness_time
    plain_rate = checked / plain_time
    print(
        f"harness (jsonschema-rs): {len(corpus)} in {harness_time:.2f}s = {harness_rate:,.0f} res/s "
        f"(build {harness_build:.2f}s, {harness_valid.count(False)} invalid) | "
        f"jsonschema Draft6Validator per type: {checked} in {plain_time:.2f}s = {plain_rate:,.1f} res/s | "
        f"ratio {harness_rate / plain_rate:,.0f}x | verdicts agree on {agree}/{checked}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
