"""TLS facts of a tenant run, end to end: the sandbox served over https with a throwaway CA the tenant file
names (client.ca_file), with a certificate about to expire, and with TLS 1.0/1.1 still accepted."""

from __future__ import annotations

from pathlib import Path

from harness.sandbox import create_app, default_settings
from harness.tls import ACCEPTED, NOT_TESTABLE, REFUSED, offerable, tenant_tls
from tests.conftest import run_harness, tenant_variant
from tests.fleet.local_servers import Server, TestCA, json_reply
from tests.support.served import Served

SELECT = ["-k", "tls or certificate or reachable"]


def HttpsSandbox(cert: Path, key: Path) -> Served:
    """The sandbox behind uvicorn's TLS, with a certificate from a test CA."""
    return Served(create_app(default_settings()), cert=cert, key=key)


def _run(tmp_path: Path, ca: TestCA, days: float) -> object:
    cert, key = ca.issue("127.0.0.1", "localhost", days=days)
    with HttpsSandbox(cert, key) as url:
        tenant = tenant_variant(tmp_path, replace={'base_url = "http://127.0.0.1:8765"': f'base_url = "{url}"',
                                                   "[client]\n": f'[client]\nca_file = "{ca.pem}"\n'})
        return run_harness(tmp_path / "report", "--tenant", str(tenant), pytest_args=SELECT)


def test_a_tenant_on_tls_with_a_valid_certificate_passes(tmp_path: Path) -> None:
    run = _run(tmp_path, TestCA(tmp_path / "ca"), days=200)
    version = run.check("transport.tls-version")
    assert version["outcome"] in ("passed", "warning"), version["message"]
    assert version["data"]["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    expiry = run.check("transport.certificate-expiry")
    assert expiry["outcome"] == "passed" and "issuer CN=Fleet Test CA" in expiry["notes"][0]


def test_a_certificate_expiring_within_30_days_is_a_warning(tmp_path: Path) -> None:
    run = _run(tmp_path, TestCA(tmp_path / "ca"), days=10)
    expiry = run.check("transport.certificate-expiry")
    assert expiry["outcome"] == "warning" and "expires in" in expiry["message"]


def test_without_the_tenant_files_ca_the_certificate_does_not_verify(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "ca")
    cert, key = ca.issue("127.0.0.1", days=200)
    with HttpsSandbox(cert, key) as url:
        tenant = tenant_variant(tmp_path, replace={'base_url = "http://127.0.0.1:8765"': f'base_url = "{url}"'})
        run = run_harness(tmp_path / "report", "--tenant", str(tenant), pytest_args=SELECT)
    reachable = run.check("preflight.reachable")
    assert reachable["outcome"] == "failed" and "CERTIFICATE_VERIFY_FAILED" in reachable["message"]
    assert run.check("transport.tls-version")["outcome"] == "blocked"  # no answer to judge at all


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
