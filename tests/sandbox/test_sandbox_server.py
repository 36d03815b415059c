"""The sandbox over real HTTP: EmbeddedSandbox on a free port, start and stop."""

from __future__ import annotations

import socket

import httpx
import pytest
from sandbox_helpers import ES_KID, assertion, ec_pem, token_form

from harness.sandbox import EmbeddedSandbox, default_settings


def _connects(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_starts_on_a_free_port_serves_and_stops() -> None:
    sandbox = EmbeddedSandbox()
    assert sandbox.start() is sandbox
    try:
        assert sandbox.port != 0
        assert sandbox.base_url == f"http://127.0.0.1:{sandbox.port}"
        assert _connects(sandbox.port)
        smart = httpx.get(f"{sandbox.base_url}/api/FHIR/R4/.well-known/smart-configuration")
        assert smart.json()["token_endpoint"] == f"{sandbox.base_url}/oauth2/token"
    finally:
        sandbox.stop()
    assert not _connects(sandbox.port)
    sandbox.stop()  # idempotent


def test_token_and_fhir_over_http() -> None:
    with EmbeddedSandbox() as sandbox, httpx.Client(base_url=sandbox.base_url) as http:
        signed = assertion(ec_pem(), alg="ES384", kid=ES_KID, aud=f"{sandbox.base_url}/oauth2/token")
        token = http.post("/oauth2/token", data=token_form(signed))
        assert token.status_code == 200, token.text
        headers = {"authorization": f"Bearer {token.json()['access_token']}", "accept": "application/fhir+json"}
        assert http.get("/api/FHIR/R4/Patient/abc", headers=headers).status_code == 404
        assert http.get("/api/FHIR/R4/Patient/abc").status_code == 401


def test_two_sandboxes_with_different_faults() -> None:
    with EmbeddedSandbox(default_settings(["metadata-500:R4"])) as broken, EmbeddedSandbox() as fine:
        assert broken.port != fine.port
        assert httpx.get(f"{broken.base_url}/api/FHIR/R4/metadata").status_code == 500
        assert httpx.get(f"{fine.base_url}/api/FHIR/R4/metadata").status_code == 200


def test_busy_port_raises() -> None:
    with EmbeddedSandbox() as first:
        with pytest.raises(OSError):
            EmbeddedSandbox(port=first.port).start()


def test_stop_with_an_open_keep_alive_connection_is_quick() -> None:
    import time

    sandbox = EmbeddedSandbox().start()
    client = httpx.Client()
    client.get(f"{sandbox.base_url}/api/FHIR/R4/metadata")
    started = time.monotonic()
    sandbox.stop()
    assert time.monotonic() - started < 2.0
    client.close()


def test_a_child_process_serves_the_same_sandbox_with_its_settings(tmp_path) -> None:
    from sandbox_helpers import assertion, token_form

    from harness.sandbox import register

    jwks = tmp_path / "mine.jwks.json"
    jwks.write_text(__import__("json").dumps({"keys": [{"kty": "EC", "crv": "P-384", "kid": "k", "x": "AA", "y": "AA"}]}))
    settings = default_settings(["metadata-500:R4", "token-lifetime:77"], [register(f"mine={jwks}")])
    with EmbeddedSandbox(settings, process=True) as sandbox:
        assert sandbox.app is None and sandbox.running and "child process" in repr(sandbox)
        assert httpx.get(f"{sandbox.base_url}/api/FHIR/R4/metadata").status_code == 500
        assert httpx.get(f"{sandbox.base_url}/api/FHIR/STU3/metadata").status_code == 200
        token = httpx.post(sandbox.token_url, data=token_form(assertion(aud=sandbox.token_url)))
        assert token.json()["expires_in"] == 77
        refused = httpx.post(sandbox.token_url, data=token_form(assertion(aud=sandbox.token_url, iss="mine", sub="mine")))
        assert refused.status_code == 400 and "kid" in refused.json()["error_description"]  # known client, not its key
        with pytest.raises(OSError):
            EmbeddedSandbox(port=sandbox.port, process=True).start()
        client = httpx.Client()
        client.get(f"{sandbox.base_url}/api/FHIR/R4/metadata")
        import time

        started = time.monotonic()
    assert time.monotonic() - started < 3.0 and not sandbox.running
    assert not _connects(sandbox.port)
    client.close()


def test_a_child_started_without_waiting_serves_the_requests_queued_meanwhile() -> None:
    sandbox = EmbeddedSandbox(default_settings(["metadata-500:R4"]), process=True, wait_ready=False).start()
    try:
        # sent at once, while the child may still be importing: the listening socket holds it
        assert httpx.get(f"{sandbox.base_url}/api/FHIR/R4/metadata", timeout=30).status_code == 500
    finally:
        sandbox.stop()
    assert not _connects(sandbox.port)
