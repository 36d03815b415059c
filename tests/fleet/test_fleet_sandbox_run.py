"""A fleet run over a sandbox fleet of 60 tenants, every variation in the counts of the 420-tenant fleet:
every tenant classified as its variation says; and the reports written from it. (The 420-tenant
fleet's run time is a figure ``bench/fleet_bench.py`` prints.)"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter

import pytest

from harness.catalog import load_named_set
from harness.fleet.directory import distinct_targets, parse_bundle
from harness.fleet.release import parse_release
from harness.fleet.report import write_all
from harness.fleet.run import run_fleet
from harness.sandbox.fleet import SHARED_ADDRESSES, VARIATION_COUNTS, VARIATIONS, EmbeddedFleet, build_fleet

#: variation -> (status, metadata outcome, smart-configuration outcome, backend-services ready)
EXPECTED = {
    "current": ("ok", "ok", "ok", True),
    "old-release": ("ok", "ok", "ok", False),
    "localized-release": ("ok", "ok", "ok", False),
    "fhir-4.0.0": ("ok", "ok", "ok", True),
    "fewer-resources": ("ok", "ok", "ok", True),
    "empty-grant-types": ("ok", "ok", "ok", False),
    "no-smart-config": ("partial", "ok", "http-404", None),
    "no-metadata": ("partial", "http-404", "ok", True),
    "metadata-503": ("partial", "http-5xx", "ok", True),
    "down-503": ("failed", "http-5xx", "http-5xx", None),
    "html": ("failed", "html", "html", None),
    "not-json": ("partial", "not-json", "ok", True),
    "forbidden": ("failed", "http-other", "http-other", None),
    "hang": ("failed", "timeout", "timeout", None),
    "flaky": ("ok", "ok", "ok", True),
    "slow": ("ok", "ok", "ok", True),
    "dstu2": ("ok", "ok", "ok", True),
}
TENANT = re.compile(r"/t/([^/]+)/")


def test_every_variation_has_an_expectation():
    assert set(EXPECTED) == set(VARIATIONS)


def test_the_spec_is_deterministic_from_its_seed():
    assert build_fleet(seed=7, size=420) == build_fleet(seed=7, size=420)
    assert build_fleet(seed=7, size=420) != build_fleet(seed=8, size=420)


SIZE = 60


@pytest.fixture(scope="module")
def variation_fleet():
    """Every variation in the counts of the 420-tenant fleet (seed 7), the rest current tenants,
    served for the whole module."""
    with EmbeddedFleet(build_fleet(seed=7, size=SIZE)) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def fleet_run(variation_fleet, fast_options):
    directory = parse_bundle(variation_fleet.directory(), "sandbox-fleet")
    targets = distinct_targets(directory)
    run = run_fleet(directory, targets, load_named_set("careforce-phoenix"), fast_options)
    return directory, run, run.as_dict()


def tenant_name(row: dict) -> str | None:
    match = TENANT.search(row["key"] + "/")
    return match.group(1) if match else None


def test_directory_lists_every_tenant_unreachable_and_malformed_address(variation_fleet, fleet_run):
    directory, _, report = fleet_run
    spec = variation_fleet.spec
    assert len(spec.tenants) == SIZE
    assert len(directory.entries) == sum(len(t.organizations) for t in spec.tenants) + 9 + 10
    assert report["stats"]["tenants"] == SIZE + 9 + 10
    assert report["stats"]["malformed"] == 10


def test_every_served_tenant_is_classified_as_its_variation(variation_fleet, fleet_run):
    _, _, report = fleet_run
    spec = variation_fleet.spec
    seen = Counter()
    for row in report["tenants"]:
        name = tenant_name(row)
        tenant = spec.get(name) if name else None
        if tenant is None:
            continue
        seen[tenant.variation] += 1
        status, metadata, smart, ready = EXPECTED[tenant.variation]
        got = (row["status"], row["metadata"]["outcome"], row["smart_configuration"]["outcome"],
               (row["readiness"] or {}).get("ready"))
        assert got == (status, metadata, smart, ready), (tenant.variation, name, row["metadata"], row["smart_configuration"])
        if metadata == "ok":
            assert row["software"]["version"] == tenant.release
            assert row["release"] == parse_release(tenant.release).label
            assert row["release_sort"] == parse_release(tenant.release).as_list()
            assert row["fingerprint"].startswith("sha256:")
        else:
            assert row["coverage"] is None and row["release"] is None and row["fingerprint"] is None
    assert seen == Counter({v: n for v, n in VARIATION_COUNTS.items()} | {"current": SIZE - sum(VARIATION_COUNTS.values())})


def rows_of(report, spec, variation):
    return [(spec.tenant(tenant_name(r)), r) for r in report["tenants"]
            if tenant_name(r) and spec.get(tenant_name(r)) and spec.get(tenant_name(r)).variation == variation]


def test_old_releases_have_no_supported_profile_and_fewer_resources(variation_fleet, fleet_run):
    _, _, report = fleet_run
    old = rows_of(report, variation_fleet.spec, "old-release") + rows_of(report, variation_fleet.spec, "localized-release")
    assert len(old) == 8
    for tenant, row in old:
        assert row["supported_profiles"] == 0
        assert row["resource_count"] == 59 - len(tenant.drop_resources)
        assert row["readiness"]["client_credentials"] is False
        assert row["readiness"]["client_confidential_asymmetric"] is False
        assert row["readiness"]["private_key_jwt"] is True
    assert {row["resource_count"] for _, row in old} == {53, 54, 56, 57, 59}
    assert {row["release"] for _, row in old} == {"February 2023", "May 2024", "May 2022", "February 2024"}
    finnish = rows_of(report, variation_fleet.spec, "localized-release")[0][1]
    assert finnish["software"]["version"] == "toukokuu 2022" and finnish["release"] == "May 2022"
    current = rows_of(report, variation_fleet.spec, "current")
    assert all(row["supported_profiles"] > 0 for _, row in current)


def test_coverage_follows_what_each_tenant_declares(variation_fleet, fleet_run):
    _, _, report = fleet_run
    spec = variation_fleet.spec
    full = [r for _, r in rows_of(report, spec, "current")]
    assert all(r["coverage"]["full"] and r["coverage"]["judged"] == 108 for r in full)
    for _, row in rows_of(report, spec, "fewer-resources"):
        assert not row["coverage"]["full"]
        assert "Appointment.Read (Appointments) (R4)" in row["coverage"]["missing"]
        assert all(name.startswith("Appointment.") for name in row["coverage"]["missing"])
        assert row["resource_count"] == 57
    for _, row in rows_of(report, spec, "fhir-4.0.0"):
        assert row["fhir_version"] == "4.0.0" and row["fhir_release"] == "R4"
    for _, row in rows_of(report, spec, "dstu2"):
        assert row["fhir_version"] == "1.0.2" and row["fhir_release"] == "DSTU2"
        assert row["coverage"]["judged"] == 4 and row["coverage"]["full"]
    for _, row in rows_of(report, spec, "empty-grant-types"):
        assert row["readiness"]["client_credentials"] is False and row["coverage"]["full"]


def test_flaky_documents_answer_on_the_retry(variation_fleet, fleet_run):
    _, _, report = fleet_run
    for _, row in rows_of(report, variation_fleet.spec, "flaky"):
        assert row["metadata"]["attempts"] == 2 and row["smart_configuration"]["attempts"] == 2
    for _, row in rows_of(report, variation_fleet.spec, "metadata-503"):
        assert row["metadata"]["attempts"] == 2 and row["metadata"]["http_status"] == 503


def test_unreachable_and_malformed_addresses(fleet_run):
    _, _, report = fleet_run
    by_failure = Counter()
    for row in report["tenants"]:
        if ".invalid" in (row["url"] or "") or "/t/gone-" in row["key"] or "/t/tls-" in row["key"]:
            assert row["status"] == "failed"
            assert row["metadata"]["outcome"] == row["smart_configuration"]["outcome"]
            by_failure[row["metadata"]["outcome"]] += 1
    assert by_failure == {"dns": 4, "connect": 3, "tls": 2}
    malformed = [r for r in report["tenants"] if r["status"] == "malformed-address"]
    assert len(malformed) == 10
    assert all(r["address_problem"] and r["metadata"]["attempts"] == 0 and r["url"] is None for r in malformed)


def test_shared_addresses_are_one_tenant_with_every_organisation(fleet_run):
    _, _, report = fleet_run
    shared = sorted((r for r in report["tenants"] if r["entries"] > 1), key=lambda r: -r["entries"])
    assert [r["entries"] for r in shared] == list(SHARED_ADDRESSES)
    assert [len(r["organizations"]) for r in shared] == list(SHARED_ADDRESSES)
    for row in shared:
        assert row["url"].endswith("/api/FHIR/R4")  # the first spelling, normalised
        assert len(row["addresses"]) == min(3, row["entries"])  # trailing slash, lower-case path variants
        assert row["status"] == "ok"


def test_fingerprints_group_tenants_by_shape(variation_fleet, fleet_run):
    _, _, report = fleet_run
    spec = variation_fleet.spec
    by_print: dict[str, set] = {}
    for row in report["tenants"]:
        name = tenant_name(row)
        if row["fingerprint"] and name and spec.get(name):
            tenant = spec.tenant(name)
            # same shape <=> same declared content (the release alone does not change the shape)
            by_print.setdefault(row["fingerprint"], set()).add(tenant.statement_key()[2:] + (tenant.fhir,))
    assert all(len(keys) == 1 for keys in by_print.values())
    assert report["stats"]["shapes"] == len(by_print)


def expected_statuses(spec) -> Counter:
    """Each status as the variations' expectations add up (the 9 unreachable addresses fail, 10 are malformed)."""
    return Counter(EXPECTED[t.variation][0] for t in spec.tenants) + Counter({"failed": 9, "malformed-address": 10})


def test_stats(variation_fleet, fleet_run):
    _, _, report = fleet_run
    stats = report["stats"]
    statuses = expected_statuses(variation_fleet.spec)
    assert stats["by_status"] == {s: statuses[s] for s in ("ok", "partial", "failed", "malformed-address")}
    assert stats["answered"] == statuses["ok"] + statuses["partial"]
    assert stats["metadata"]["ok"] + sum(v for k, v in stats["metadata"].items() if k != "ok") == SIZE + 9
    assert list(stats["by_release"])[:1] == ["February 2026"]
    assert stats["fhir_versions"]["4.0.0"] == 2


def test_reports(tmp_path, variation_fleet, fleet_run):
    _, _, report = fleet_run
    statuses = expected_statuses(variation_fleet.spec)
    written = write_all(report, tmp_path)
    assert set(written) == {"json", "csv", "html", "allure"}
    again = json.loads((tmp_path / "fleet.json").read_text("utf-8"))
    assert again["format"] == "epic-harness-fleet/1" and len(again["tenants"]) == SIZE + 19
    with (tmp_path / "fleet.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == SIZE + 19 and {r["status"] for r in rows} == {"ok", "partial", "failed", "malformed-address"}
    page = (tmp_path / "fleet.html").read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower() and "<link" not in page.lower() and " src=" not in page.lower()
    assert "<h3>February 2026 " in page and "<h3>May 2022 " in page and "Malformed addresses" in page
    assert page.index("<h3>February 2026 ") < page.index("<h3>November 2025 ") < page.index("<h3>May 2022 ")
    results = [json.loads(p.read_text("utf-8")) for p in (tmp_path / "allure-results").glob("*-result.json")]
    assert len(results) == SIZE + 19
    allure = Counter(r["status"] for r in results)
    assert allure["skipped"] == 10
    assert allure["broken"] == statuses["partial"] + statuses["failed"]
    assert allure["passed"] + allure["failed"] == statuses["ok"]
    for result in results:
        labels = {label["name"]: label["value"] for label in result["labels"]}
        assert labels["epic"] == "Fleet" and labels["feature"]
        assert result["description"]
    features = Counter(next(l["value"] for l in r["labels"] if l["name"] == "feature") for r in results)
    assert features["May 2022"] == 3 and features["malformed address"] == 10
