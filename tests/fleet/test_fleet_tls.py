"""TLS facts of https tenants, against local https servers with certificates of a throwaway CA
that only these tests trust: the version negotiated, TLS 1.0/1.1 still accepted, issuer and
expiry (a warning within 30 days), a certificate that does not verify as its own class."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness.catalog import load_named_set
from harness import tls as tls_module
from harness.fleet.cassettes import FleetCassettes
from harness.fleet.cli import summary_lines
from harness.fleet.directory import distinct_targets, parse_text
from harness.fleet.fetch import FetchOptions
from harness.fleet.report import write_all
from harness.fleet.run import run_fleet
from harness.tls import certificate_facts, distinguished_name, offerable
from tests.fleet.local_servers import Server, TestCA, json_reply

STATEMENT = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
             "software": {"name": "Epic", "version": "February 2026"}, "rest": []}


def tenant(path: str):
    return json_reply(STATEMENT if path.endswith("/metadata") else {"grant_types_supported": []})


def options(ca: TestCA | None, **more) -> FetchOptions:
    return FetchOptions(per_host_rps=None, connect_timeout=2.0, read_timeout=2.0, retries=0, allow_loopback=True,
                        ca_file=str(ca.pem) if ca else None, **more)


def run(servers: dict[str, Server], fetch: FetchOptions, cassettes: FleetCassettes | None = None) -> dict:
    directory = parse_text("".join(f"{s.origin()}/t/{n}/api/FHIR/R4 {n}\n" for n, s in servers.items()), "list")
    return run_fleet(directory, distinct_targets(directory), load_named_set("careforce-phoenix"), fetch,
                     cassettes=cassettes).as_dict()


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "ca")


@pytest.fixture
def servers(ca, tmp_path):
    """current: TLS 1.2+ and 90 days left; legacy: TLS 1.0 and 1.1 accepted, 10 days left; a
    certificate of a CA nobody trusts; an expired one; and plain http."""
    other = TestCA(tmp_path / "other", "Unknown Test CA")
    started = {
        "current": Server({"/t/*": tenant}, ca.server_context("127.0.0.1", days=90)),
        "legacy": Server({"/t/*": tenant}, ca.server_context("127.0.0.1", days=10, legacy=True)),
        "stranger": Server({"/t/*": tenant}, other.server_context("127.0.0.1")),
        "expired": Server({"/t/*": tenant}, ca.server_context("127.0.0.1", expired=True)),
        "plain": Server({"/t/*": tenant}),
    }
    for server in started.values():
        server.__enter__()
    yield started
    for server in started.values():
        server.__exit__(None, None, None)


def test_tls_facts_per_tenant(ca, servers):
    report = run(servers, options(ca))
    rows = {t["name"]: t for t in report["tenants"]}
    current, legacy = rows["current"]["tls"], rows["legacy"]["tls"]
    assert rows["current"]["status"] == rows["legacy"]["status"] == "ok"
    assert current["host"] == f"127.0.0.1:{servers['current'].port}"
    assert current["version"] == "TLSv1.3"
    assert (current["tls1_0"], current["tls1_1"]) == ("refused", "refused")
    assert current["certificate"]["issuer"] == "CN=Fleet Test CA, O=Fleet Tests"
    assert current["certificate"]["subject"] == "CN=127.0.0.1, O=Fleet Tenant"
    assert current["certificate"]["days_left"] in (89, 90) and current["certificate"]["expires_soon"] is False
    not_after = datetime.fromisoformat(current["certificate"]["not_after"].replace("Z", "+00:00"))
    assert 89 <= (not_after - datetime.now(timezone.utc)).days <= 90
    assert legacy["certificate"]["days_left"] in (9, 10) and legacy["certificate"]["expires_soon"] is True
    if offerable("TLSv1") and offerable("TLSv1_1"):
        assert (legacy["tls1_0"], legacy["tls1_1"]) == ("accepted", "accepted")
    else:  # this machine's OpenSSL will not speak them: the answer says so instead of "refused"
        assert (legacy["tls1_0"], legacy["tls1_1"]) == ("not testable here", "not testable here")
    for name in ("stranger", "expired"):
        assert rows[name]["tls"] is None and rows[name]["failure"] == "tls-certificate"
    assert "unable to get local issuer certificate" in rows["stranger"]["metadata"]["detail"]
    assert rows["expired"]["metadata"]["detail"] == "the certificate does not verify: certificate has expired"
    assert rows["plain"]["tls"] is None and rows["plain"]["status"] == "ok"

    stats = report["stats"]["tls"]
    assert (stats["https_tenants"], stats["handshakes"], stats["expiring_certificates"],
            stats["certificate_failures"]) == (4, 2, 1, 2)
    assert stats["versions"] == {"TLSv1.3": 2}
    lines = summary_lines(report, Path("r"))
    line = next(line for line in lines if line.startswith("TLS:"))
    assert "certificates expiring within 30 days: 1" in line and "certificates that do not verify: 2" in line
    expiring = [line for line in lines if line.startswith("  certificate expiring: ")]
    assert len(expiring) == 1 and expiring[0].startswith(
        f"  certificate expiring: legacy (127.0.0.1:{servers['legacy'].port}) in ")


def test_tls_facts_in_csv_and_html(ca, servers, tmp_path):
    report = run(servers, options(ca))
    write_all(report, tmp_path)
    with (tmp_path / "fleet.csv").open(encoding="utf-8", newline="") as handle:
        rows = {r["name"]: r for r in csv.DictReader(handle)}
    assert rows["legacy"]["certificate_expires_soon"] == "true"
    assert rows["current"]["certificate_expires_soon"] == "false"
    assert rows["current"]["tls_version"] == "TLSv1.3" and rows["current"]["tls1_0"] == "refused"
    assert rows["current"]["certificate_issuer"] == "CN=Fleet Test CA, O=Fleet Tests"
    assert rows["current"]["certificate_not_after"].endswith("Z")
    assert rows["plain"]["tls_version"] == "" and rows["expired"]["failure"] == "tls-certificate"
    page = (tmp_path / "fleet.html").read_text("utf-8")
    assert "<h2>TLS <span class=muted>(2 of 4 https tenants reached)</span></h2>" in page
    assert "Certificates expiring within 30 days: <b>1</b>" in page
    assert "certificate 9 days</span>" in page or "certificate 10 days</span>" in page
    assert '<div class="stat"><b>1</b>certificates expiring</div>' in page


def test_legacy_versions_this_openssl_will_not_offer_are_not_testable_here(ca, servers, monkeypatch):
    monkeypatch.setattr(tls_module, "offerable", lambda version: False)
    report = run({"legacy": servers["legacy"]}, options(ca))
    facts = report["tenants"][0]["tls"]
    assert (facts["tls1_0"], facts["tls1_1"]) == ("not testable here", "not testable here")
    line = next(line for line in summary_lines(report, Path("r")) if line.startswith("TLS:"))
    assert "TLS 1.0 not testable here (this OpenSSL will not offer it)" in line


def test_offerable_reads_this_machines_openssl_without_the_network():
    assert offerable("TLSv1_2") is True
    assert offerable("NoSuchVersion") is False


def test_without_the_test_ca_every_test_certificate_fails_verification(servers):
    report = run({"current": servers["current"]}, options(None))
    row = report["tenants"][0]
    assert row["failure"] == "tls-certificate" and row["tls"] is None
    assert servers["current"].seen == []  # nothing was sent over an unverified connection


def test_tls_facts_are_kept_in_the_cassettes(ca, servers, tmp_path):
    chosen = {k: servers[k] for k in ("current", "legacy", "expired")}
    recorded = run(chosen, options(ca), FleetCassettes("record", tmp_path))
    replayed = run(chosen, options(ca), FleetCassettes("replay", tmp_path))
    assert [t["tls"] for t in replayed["tenants"]] == [t["tls"] for t in recorded["tenants"]]
    assert replayed["tenants"][0]["tls"]["version"] == "TLSv1.3"
    assert replayed["tenants"][2]["failure"] == "tls-certificate"


def test_certificate_facts_from_a_peer_certificate():
    peer = {"issuer": ((("countryName", "US"),), (("organizationName", "DigiCert Inc"),),
                       (("commonName", "DigiCert Global G2 TLS RSA SHA256 2020 CA1"),)),
            "subject": ((("commonName", "epic.example.org"),),), "notAfter": "Jan 31 23:59:59 2027 GMT"}
    facts = certificate_facts(peer, now=datetime(2027, 1, 10, tzinfo=timezone.utc))
    assert facts == {"issuer": "C=US, O=DigiCert Inc, CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1",
                     "subject": "CN=epic.example.org", "not_after": "2027-01-31T23:59:59Z", "days_left": 21,
                     "expires_soon": True}
    assert certificate_facts(peer, now=datetime(2026, 12, 1, tzinfo=timezone.utc))["expires_soon"] is False
    assert certificate_facts({}) is None
    assert distinguished_name(((("commonName", "\x1b]0;evil\x07x"),),)) == "CN=x"
    assert json.dumps(certificate_facts({"notAfter": "garbage"}))
