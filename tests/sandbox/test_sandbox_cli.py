"""``epic-harness sandbox``: the fault listing, refusals in one line, a busy port, and a vendor's own
client registered with its own key."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest

from harness.cli import main
from harness.keys import generate_key_pair
from harness.sandbox import CATALOG, ClientError, register


def test_list_faults_gives_every_fault_with_its_hook_and_description(capsys) -> None:
    assert main(["sandbox", "--list-faults"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listing = CATALOG.listing()
    assert len(lines) == len(listing)
    for line, (name, (hook, description, setting)) in zip(lines, listing.items()):
        assert line.split()[0] == name and line.split()[1] == hook.value and line.endswith(description)
        assert ("(setting)" in line) == setting
    assert any(line.startswith("sds-undone:provider-rules ") and "SDS step undone" in line for line in lines)
    assert any(line.startswith("fhir-standard-paging[:TYPE] ") and "(setting)" in line for line in lines)


def _one_line_exit_2(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_a_misspelled_fault_is_refused_naming_the_nearest(capsys) -> None:
    err = _one_line_exit_2(["sandbox", "--fault", "fhir-html-500:Practitionr"], capsys)
    assert "did you mean Practitioner" in err
    err = _one_line_exit_2(["sandbox", "--fault", "fhir-htm-500:Patient"], capsys)
    assert "did you mean fhir-html-500:TYPE" in err


def test_a_busy_port_is_one_clear_line_and_exit_2(capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        err = _one_line_exit_2(["sandbox", "--port", str(port)], capsys)
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Ctrl-C" not in err


def test_a_bad_client_registration_is_one_line(tmp_path: Path, capsys) -> None:
    private = generate_key_pair("ES384")
    leaked = tmp_path / "private.jwks.json"
    leaked.write_text(json.dumps({"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b", "d": "secret"}]}))
    for spec, says in ((f"my-app={tmp_path / 'none.json'}", "no such JWK Set file"),
                       (f"my-app={leaked}", "private members"), ("my-app", "CLIENT_ID=JWKS")):
        err = _one_line_exit_2(["sandbox", "--register-client", spec], capsys)
        assert says in err and "secret" not in err
    assert private.jwks["keys"][0]["kty"] == "EC"


def test_register_reads_a_file_or_keeps_a_url(tmp_path: Path) -> None:
    pair = generate_key_pair("ES384")
    path = tmp_path / "mine.jwks.json"
    path.write_text(json.dumps(pair.jwks))
    client = register(f"my-app={path}")
    assert client.client_id == "my-app" and client.jwks == pair.jwks and client.jku is None
    assert "system/Patient.r" in client.scopes
    by_url = register("my-app=https://keys.example/jwks.json")
    assert by_url.jku == "https://keys.example/jwks.json" and by_url.jwks == {"keys": []}
    with pytest.raises(ClientError):
        register(f"={path}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_vendor_tries_its_own_key_against_the_sandbox(tmp_path: Path) -> None:
    pair = generate_key_pair("ES384")
    jwks = tmp_path / "my-app.jwks.json"
    jwks.write_text(json.dumps(pair.jwks))
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "harness", "sandbox", "--port", str(port),
                                "--register-client", f"my-app={jwks}"], stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/api/FHIR/R4/metadata", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        now = int(time.time())
        signed = jwt.encode({"iss": "my-app", "sub": "my-app", "aud": f"{base}/oauth2/token", "jti": str(uuid.uuid4()),
                             "exp": now + 240, "iat": now}, pair.private_pem, algorithm="ES384",
                            headers={"kid": pair.kid, "typ": "JWT"})
        form = {"grant_type": "client_credentials", "client_assertion": signed,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
        granted = httpx.post(f"{base}/oauth2/token", data=form)
        assert granted.status_code == 200, granted.text
        other = generate_key_pair("ES384")
        forged = jwt.encode({"iss": "my-app", "sub": "my-app", "aud": f"{base}/oauth2/token", "jti": str(uuid.uuid4()),
                             "exp": now + 240}, other.private_pem, algorithm="ES384", headers={"kid": pair.kid})
        assert httpx.post(f"{base}/oauth2/token", data={**form, "client_assertion": forged}).status_code == 400
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "registered client my-app (1 key(s))" in err
