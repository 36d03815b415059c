"""The sandbox over https: a throwaway CA made at start, a certificate for the loopback names that
expires when asked, the oldest TLS version accepted, in a thread, a child process and the CLI."""

from __future__ import annotations

import datetime
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sandbox_helpers import served

from harness.cli import main
from harness.sandbox import EmbeddedSandbox
from harness.sandbox.certs import CertificateError, ThrowawayCA
from harness.sandbox.population import MAIN_PATIENT


def peer_certificate(sandbox: EmbeddedSandbox, server_name: str = "127.0.0.1") -> dict:
    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        return tls.getpeercert()


def days_left(certificate: dict) -> float:
    return (ssl.cert_time_to_seconds(certificate["notAfter"]) - time.time()) / 86400


def handshake(sandbox: EmbeddedSandbox, version: ssl.TLSVersion) -> str | None:
    """The TLS version negotiated by a client that offers ``version`` only, or None if refused."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version()
    except (ssl.SSLError, OSError):
        return None


def legacy_offerable() -> bool:
    """Can this machine's OpenSSL offer TLS 1.0 at all (as a client)?"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            return False
    return ssl.HAS_TLSv1


def test_https_with_a_throwaway_ca_serves_discovery_tokens_and_fhir() -> None:
    with served(tls=True) as (sandbox, http):
        assert sandbox.base_url == f"https://127.0.0.1:{sandbox.port}" and sandbox.ca_file.is_file()
        smart = http.get("/api/FHIR/R4/.well-known/smart-configuration").json()
        assert smart["token_endpoint"] == f"{sandbox.base_url}/oauth2/token"
        patient = http.get(f"/api/FHIR/R4/Patient/{MAIN_PATIENT}")
        assert patient.status_code == 200 and patient.json()["id"] == MAIN_PATIENT
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{sandbox.base_url}/api/FHIR/R4/metadata")  # the system's CAs do not know it
        certificate = peer_certificate(sandbox)
        names = {value for _, value in certificate["subjectAltName"]}
        assert {"127.0.0.1", "localhost"} <= names and 364 < days_left(certificate) <= 365
        assert peer_certificate(sandbox, "localhost")["serialNumber"] == certificate["serialNumber"]
        ca_file = sandbox.ca_file
    assert not ca_file.exists()  # its own CA goes with it


def test_a_certificate_that_expires_within_days() -> None:
    with EmbeddedSandbox(tls=True, cert_days=10) as sandbox:
        assert 9.9 < days_left(peer_certificate(sandbox)) <= 10
        assert sandbox.certificate is not None
        left = sandbox.certificate.not_after - datetime.datetime.now(datetime.timezone.utc)
        assert datetime.timedelta(days=9.9) < left <= datetime.timedelta(days=10)


def test_the_oldest_tls_version_accepted() -> None:
    with EmbeddedSandbox(tls=True) as default, EmbeddedSandbox(tls=True, tls_min_version="1.3") as modern:
        assert handshake(default, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        assert handshake(default, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        assert handshake(modern, ssl.TLSVersion.TLSv1_2) is None
        assert handshake(modern, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        if legacy_offerable():
            assert handshake(default, ssl.TLSVersion.TLSv1) is None


def test_tls_1_0_is_accepted_when_asked_where_openssl_still_speaks_it() -> None:
    if not legacy_offerable():
        pytest.skip("this machine's OpenSSL cannot offer TLS 1.0")
    with EmbeddedSandbox(tls=True, tls_min_version="1.0") as legacy:
        assert handshake(legacy, ssl.TLSVersion.TLSv1) == "TLSv1"
        assert handshake(legacy, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"


def test_one_ca_for_several_sandboxes_and_in_a_child_process(tmp_path: Path) -> None:
    authority = ThrowawayCA(tmp_path / "ca")
    with EmbeddedSandbox(tls=True, certificate_authority=authority, process=True) as child, \
            EmbeddedSandbox(tls=True, certificate_authority=authority, cert_days=3) as thread:
        assert child.ca_file == thread.ca_file == authority.ca_file
        for sandbox in (child, thread):
            answer = httpx.get(f"{sandbox.base_url}/api/FHIR/R4/metadata", headers={"accept": "application/fhir+json"},
                               verify=ssl.create_default_context(cafile=str(authority.ca_file)))
            assert answer.status_code == 200 and answer.json()["resourceType"] == "CapabilityStatement"
    assert authority.ca_file.exists()  # a CA the caller made stays


def test_bad_tls_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="not a TLS version"):
        EmbeddedSandbox(tls=True, tls_min_version="1.4")
    with pytest.raises(CertificateError, match="more than 0 days"):
        ThrowawayCA(tmp_path).issue(days=0)


def test_the_cli_refuses_tls_options_without_tls(capsys) -> None:
    assert main(["sandbox", "--tls-days", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "need --tls" in err and "\n" not in err


def test_the_cli_serves_https_and_writes_the_ca_where_asked(tmp_path: Path, monkeypatch, capsys) -> None:
    """``epic-harness sandbox --tls ...`` in this process; its server answers one https request, trusted by the
    CA file written where asked, then stops (the next test stops a child process's with SIGTERM)."""
    import harness.sandbox
    from harness.sandbox import create_app
    from harness.sandbox.server import server_config

    ca_file = tmp_path / "trust" / "sandbox-ca.pem"
    seen: dict[str, Any] = {}

    def serve_one_request(sock: socket.socket, settings, access_log: bool = False, tls=None) -> None:
        server = uvicorn.Server(server_config(create_app(settings), tls, log_config=None, log_level="warning",
                                              access_log=access_log))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.005)
            host, port = sock.getsockname()[:2]
            seen["answer"] = httpx.get(f"https://127.0.0.1:{port}/api/FHIR/R4/metadata", timeout=5,
                                       headers={"accept": "application/fhir+json"}, verify=ssl.create_default_context(cafile=str(ca_file)))
            context = ssl.create_default_context(cafile=str(ca_file))
            with socket.create_connection((host, port), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname="127.0.0.1") as tls_socket:
                seen["certificate"] = tls_socket.getpeercert()
            seen["port"] = port
        finally:
            server.should_exit = True
            thread.join(10)

    monkeypatch.setattr(harness.sandbox, "serve", serve_one_request)
    assert main(["sandbox", "--port", "0", "--tls", "--tls-days", "20", "--tls-ca-file", str(ca_file)]) == 0
    assert seen["answer"].status_code == 200 and seen["answer"].json()["resourceType"] == "CapabilityStatement"
    assert 19.9 < days_left(seen["certificate"]) <= 20
    err = capsys.readouterr().err
    assert f"test CA certificate (trust it to reach the sandbox over https): {ca_file}" in err
    assert f"sandbox Epic tenant at https://127.0.0.1:{seen['port']}" in err and "accepts TLS 1.2 and later" in err
    assert ca_file.is_file()  # the copy asked for stays; the throwaway folder goes


def test_the_cli_removes_its_throwaway_ca_when_stopped() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "harness", "sandbox", "--port", str(port), "--tls"],
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        ca_file = Path(line.rsplit(": ", 1)[1].strip())
        assert "test CA certificate" in line and ca_file.is_file()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"https://127.0.0.1:{port}/api/FHIR/R4/metadata", timeout=1,
                          verify=ssl.create_default_context(cafile=str(ca_file)))
                break
            except (httpx.HTTPError, OSError):
                time.sleep(0.2)
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert process.returncode == 0 and not ca_file.exists() and not ca_file.parent.exists()


def judged_over_https(tmp_path: Path, sandbox: EmbeddedSandbox, *check_ids: str) -> dict[str, Any]:
    """Each check judged as a run judges it, over the network, against ``sandbox`` named (its https URL and
    its CA file) in a tenant file: the client trusts the sandbox by that file alone."""
    from harness.config import load_tenant
    from harness.run.state import RunState
    from tests.conftest import tenant_variant
    from tests.support.checks import judge

    tmp_path.mkdir(parents=True, exist_ok=True)
    tenant = tenant_variant(tmp_path, replace={
        'base_url = "http://127.0.0.1:8765"': f'base_url = "{sandbox.base_url}"',
        "[client]\n": f'[client]\nca_file = "{sandbox.ca_file}"\n'})
    state = RunState(load_tenant(tenant), tmp_path / "report")
    try:
        return {check_id: judge(state, check_id) for check_id in check_ids}
    finally:
        state.client.close()


TLS_CHECKS = ("preflight.reachable", "transport.certificate-expiry", "transport.tls-version")


def test_a_harness_run_reads_the_tls_facts_of_the_https_sandbox(tmp_path: Path) -> None:
    """What a tenant run needs: the sandbox's https URL and its CA file, named in the tenant file."""
    from harness.tls import offerable

    with EmbeddedSandbox(tls=True) as sandbox:
        sound = judged_over_https(tmp_path / "sound", sandbox, *TLS_CHECKS)
    assert {k: v.outcome for k, v in sound.items()} == dict.fromkeys(TLS_CHECKS, "passed"), sound
    assert sound["transport.tls-version"].verdict.data["tls"]["tls1_0"] != "accepted"

    with EmbeddedSandbox(tls=True, cert_days=10, tls_min_version="1.0") as sandbox:
        judged = judged_over_https(tmp_path / "weak", sandbox, *TLS_CHECKS)
    assert judged["preflight.reachable"].outcome == "passed"
    expiry = judged["transport.certificate-expiry"]
    assert expiry.outcome == "warning" and "expires in" in expiry.message
    version = judged["transport.tls-version"]
    assert version.verdict.data["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    if offerable("TLSv1"):
        assert version.outcome == "warning" and version.verdict.data["tls"]["tls1_0"] == "accepted"
