"""A baseline comparison lists exactly the changes made to the sandbox fleet between two runs."""

from __future__ import annotations

import dataclasses
import re

from harness.catalog import load_named_set
from harness.coverage import declared
from harness.fleet.baseline import compare
from harness.fleet.directory import distinct_targets, parse_bundle
from harness.fleet.run import run_fleet
from harness.sandbox import documents
from harness.sandbox.fleet import FleetSpec, FleetTenant
from tests.fleet.fleet_helpers import QUICK_VARIATIONS, SMALL, sample

TENANT = re.compile(r"/t/([^/]+)/")


def run_once(fleet, options):
    directory = parse_bundle(fleet.directory(), "sandbox-fleet")
    return run_fleet(directory, distinct_targets(directory), load_named_set("careforce-phoenix"), options).as_dict()


def name_of(key: str) -> str:
    return TENANT.search(key + "/").group(1)


def appointment_apis() -> list[str]:
    statement = documents.capability_statement("R4")
    return sorted(a.name for a in load_named_set("careforce-phoenix").apis
                  if a.version == "R4" and a.resource == "Appointment" and declared(a, statement).value is True)


def test_nothing_changed_means_no_changes(quick_fleet, fast_options):
    first = run_once(quick_fleet, fast_options)
    quick_fleet.load(quick_fleet.spec)  # a fresh serving of the same fleet: new dates, flaky again
    second = run_once(quick_fleet, fast_options)
    assert {t["failure"] for t in first["tenants"]} >= {None, "http-404", "http-5xx", "html", "http-other", "dns",
                                                      "connect", "tls", "not-json", "malformed-address"}
    assert [t["metadata"]["outcome"] for t in first["tenants"]] == [t["metadata"]["outcome"] for t in second["tenants"]]
    assert compare(first, second) == []


def test_baseline_lists_exactly_the_changes_made(quick_fleet, fast_options):
    current = [t.name for t in SMALL.tenants if t.variation == "current" and len(t.organizations) == 1][:7]
    upgraded, shrunk, stopped, unready, smart_gone, removed, fhir_changed = current
    # the tenants changed, and one of each variation left as it was (none of them may be reported)
    spec = sample(SMALL, QUICK_VARIATIONS, shared=2, names=current)
    regrown = spec.of_variation("fewer-resources")[0].name
    revived = spec.of_variation("down-503")[0].name
    before = spec.replace(upgraded, release="August 2025")
    quick_fleet.load(before)
    first = run_once(quick_fleet, fast_options)

    after = (before.replace(upgraded, release="November 2025")
             .replace(shrunk, drop_resources=("Appointment",))
             .replace(regrown, drop_resources=())
             .replace(stopped, metadata="503", smart="503")
             .replace(revived, metadata="ok", smart="ok")
             .replace(unready, grant_types=())
             .replace(smart_gone, smart="404")
             .replace(fhir_changed, fhir_version="4.0.0"))
    added = FleetTenant(name="new-clinic-999", variation="current", release="February 2026",
                        organizations=("New Clinic",))
    after = FleetSpec(after.seed, tuple(t for t in after.tenants if t.name != removed) + (added,),
                      after.unreachable, after.malformed)
    quick_fleet.load(after)
    second = run_once(quick_fleet, fast_options)

    changes = compare(first, second)
    got = sorted((c.kind, name_of(c.key)) for c in changes)
    assert got == sorted([
        ("release-upgraded", upgraded),
        ("apis-lost", shrunk), ("shape-changed", shrunk),
        ("apis-gained", regrown), ("shape-changed", regrown),
        ("stopped-answering", stopped),
        ("started-answering", revived),
        ("readiness-changed", unready),
        ("document-stopped", smart_gone),
        ("fhir-version-changed", fhir_changed), ("shape-changed", fhir_changed),
        ("tenant-removed", removed),
        ("tenant-added", added.name),
    ])
    by = {(c.kind, name_of(c.key)): c for c in changes}
    assert by[("release-upgraded", upgraded)].detail == "August 2025 -> November 2025"
    assert by[("apis-lost", shrunk)].before == appointment_apis()
    assert by[("apis-gained", regrown)].after == appointment_apis()
    assert by[("stopped-answering", stopped)].detail == "no document answers now (http-5xx)"
    assert by[("readiness-changed", unready)].detail == "client_credentials True -> False"
    assert (by[("readiness-changed", unready)].before, by[("readiness-changed", unready)].after) == (True, False)
    assert by[("document-stopped", smart_gone)].detail == "smart-configuration no longer answers (http-404)"
    assert by[("fhir-version-changed", fhir_changed)].detail == "4.0.1 -> 4.0.0"


def test_release_changes_that_cannot_be_ordered_are_reported_as_changed():
    def row(version, sort):
        return {"key": "k", "name": "n", "status": "ok", "answered": True, "failure": None,
                "metadata": {"outcome": "ok"}, "smart_configuration": {"outcome": "ok"},
                "software": {"version": version}, "release": None, "release_sort": sort,
                "fhir_version": "4.0.1", "fhir_release": "R4", "coverage": None, "readiness": {}, "fingerprint": None}

    changes = compare({"tenants": [row("Build 12", None)]}, {"tenants": [row("May 2026", [2026, 5])]})
    assert [(c.kind, c.before, c.after) for c in changes] == [("release-changed", "Build 12", "May 2026")]
    down = compare({"tenants": [dict(row("May 2026", [2026, 5]), release="May 2026")]},
                   {"tenants": [dict(row("May 2025", [2025, 5]), release="May 2025")]})
    assert [(c.kind, c.detail) for c in down] == [("release-downgraded", "May 2026 -> May 2025")]


def test_apis_are_compared_only_on_apis_both_runs_requested():
    def run(requested, missing):
        return {"apis": {"requested": [{"name": n, "version": "R4", "fhir": True} for n in requested]},
                "tenants": [{"key": "k", "name": "n", "status": "ok", "answered": True,
                             "metadata": {"outcome": "ok"}, "smart_configuration": {"outcome": "ok"},
                             "software": {}, "release_sort": None, "fhir_version": "4.0.1", "fhir_release": "R4",
                             "coverage": {"missing": missing, "unknown": []}, "readiness": {}, "fingerprint": "x"}]}

    assert compare(run(["A", "B"], ["B"]), run(["A", "C"], [])) == []
    assert [c.kind for c in compare(run(["A", "B"], ["B"]), run(["A", "B"], []))] == ["apis-gained"]


def test_spec_replace_keeps_other_tenants():
    from harness.sandbox.fleet import build_fleet

    spec = build_fleet(seed=3, size=60)
    name = spec.tenants[0].name
    changed = spec.replace(name, release="May 2022")
    assert changed.tenant(name).release == "May 2022"
    assert changed.tenants[1:] == spec.tenants[1:]
    assert dataclasses.replace(spec.tenants[0], release="May 2022") == changed.tenants[0]
