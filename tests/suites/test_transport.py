"""transport.tls-version and transport.certificate-expiry (suites/test_transport.py) judged against the sandbox
served over https on a loopback port: a valid certificate from a CA the tenant file names passes; one expiring
within 30 days is a warning; TLS 1.0 still accepted is a warning; without the tenant's CA nothing verifies and
the checks are blocked by the unreachable tenant; plain http (loopback only) has no TLS to judge. Also the TLS
facts of one origin (harness.tls)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.tls import ACCEPTED, NOT_TESTABLE, REFUSED, offerable, tenant_tls
from tests.fleet.local_servers import Server, TestCA, json_reply
from tests.support.checks import judge, served_state, tenant_state


def test_a_valid_certificate_from_the_tenant_files_ca_passes() -> None:
    with served_state(tls=True, cert_days=200) as state:
        version = judge(state, "transport.tls-version")
        expiry = judge(state, "transport.certificate-expiry")
    assert version.outcome == "passed", version
    assert version.result.data["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert expiry.outcome == "passed" and "issuer CN=Sandbox Throwaway CA" in expiry.result.notes[0], expiry


def test_a_certificate_expiring_within_30_days_is_a_warning() -> None:
    with served_state(tls=True, cert_days=10) as state:
        expiry = judge(state, "transport.certificate-expiry")
    assert expiry.outcome == "warning" and "expires in" in expiry.message, expiry


@pytest.mark.skipif(not offerable("TLSv1"), reason="this machine's OpenSSL no longer speaks TLS 1.0")
def test_tls_1_0_still_accepted_is_a_warning() -> None:
    with served_state(tls=True, tls_min_version="1.0") as state:
        version = judge(state, "transport.tls-version")
    assert version.outcome == "warning" and "still accepts TLS 1.0" in version.message, version


def test_without_the_tenant_files_ca_the_certificate_does_not_verify() -> None:
    waits: list[float] = []
    with served_state(tls=True, trusted=False, sleep=waits.append) as state:
        reachable = judge(state, "preflight.reachable")
        version = judge(state, "transport.tls-version")
    assert reachable.outcome == "failed" and "CERTIFICATE_VERIFY_FAILED" in reachable.message, reachable
    assert version.outcome == "blocked" and version.result.blocked_by == "preflight.reachable"  # nothing to judge


def test_plain_http_has_no_tls_to_judge() -> None:
    with tenant_state() as state:
        judged = [judge(state, "transport.tls-version"), judge(state, "transport.certificate-expiry")]
    assert all(j.outcome == "skipped" and "plain http" in j.message and not j.result.required for j in judged)


def test_tls_facts_of_one_origin(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "ca")
    with Server({"/": json_reply({})}, context=ca.server_context("127.0.0.1", legacy=True)) as legacy, \
            Server({"/": json_reply({})}, context=ca.server_context("127.0.0.1", days=5)) as modern:
        old = tenant_tls("127.0.0.1", legacy.port, ca_file=str(ca.pem), timeout=5)
        new = tenant_tls("127.0.0.1", modern.port, ca_file=str(ca.pem), timeout=5)
    expected = ACCEPTED if offerable("TLSv1") else NOT_TESTABLE
    assert old["tls1_0"] == expected
    assert new["tls1_0"] in (REFUSED, NOT_TESTABLE) and new["version"] in ("TLSv1.2", "TLSv1.3")
    assert new["certificate"]["expires_soon"] is True and new["certificate"]["days_left"] in (4, 5)
