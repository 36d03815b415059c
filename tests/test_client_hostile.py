"""End to end: a hostile tenant, the sandbox behind a front that rewrites its answers, and the harness run
against it in record mode as a user runs it: no secret (a token with a BOM and longer than the exchange log
keeps, an Authorization header echoed back, a JWK Set leaking its private members) reaches a cassette, a
report, an attachment or the terminal. Only the whole path writes all of those.

The bearer token kept from other origins and a tenant refusing every token are shown check by check in
tests/suites/test_exercise_hostile.py."""

from __future__ import annotations

import base64
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.conftest import HarnessRun, run_harness, tenant_variant
from tests.support.front import Front, Headers, Rewrite, as_json

pytestmark = pytest.mark.e2e


@contextmanager
def hostile_sandbox(rewrite: Rewrite, before: Callable[[dict[str, Any]], None] | None = None) -> Iterator[Any]:
    """The sandbox served behind a :class:`Front`."""
    from harness.sandbox import EmbeddedSandbox

    sandbox = EmbeddedSandbox()
    sandbox.app = Front(sandbox.app, rewrite, before)
    with sandbox:
        yield sandbox


def _private_jwk(key: Any) -> dict[str, str]:
    numbers = key.private_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode().rstrip("=")

    return {"d": b64(numbers.d), "p": b64(numbers.p), "q": b64(numbers.q), "dp": b64(numbers.dmp1),
            "dq": b64(numbers.dmq1), "qi": b64(numbers.iqmp)}


def _written(run: HarnessRun, cassettes: Path) -> dict[str, str]:
    """Every file the run wrote (cassettes, reports, attachments), and what it printed."""
    files = [p for folder in (cassettes, run.report_dir) for p in folder.rglob("*") if p.is_file()]
    return {**{str(p): p.read_text("utf-8", "replace") for p in files}, "stdout": run.stdout, "stderr": run.stderr}


def test_no_secret_reaches_a_cassette_or_an_attachment(tmp_path: Path) -> None:
    """The token response starts with a BOM and carries a 50 KB token, a read echoes the request's
    Authorization header in an OperationOutcome, and the app's JWK Set URL leaks private members."""
    from harness.config import load_tenant
    from tests.conftest import SANDBOX_TENANT

    key = load_tenant(SANDBOX_TENANT).auth.private_key
    private = _private_jwk(key)
    long_tokens: dict[str, str] = {}  # the token the harness sees -> the sandbox's own

    def before(scope: dict[str, Any]) -> None:  # the sandbox gets its own token back
        headers = []
        for k, v in scope["headers"]:
            if k.lower() == b"authorization":
                scope["sent_authorization"] = v.decode()
                shown = v.decode().removeprefix("Bearer ")
                v = f"Bearer {long_tokens.get(shown, shown)}".encode()
            headers.append((k, v))
        scope["headers"] = headers

    def rewrite(scope: dict[str, Any], status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        path = scope["path"]
        if path.endswith("/leaky-jwks.json"):
            jwks = json.loads(Path(SANDBOX_TENANT.with_name("sandbox-app.jwks.json")).read_text())
            jwks["keys"][0].update(private)
            return 200, [(b"content-type", b"application/json")], json.dumps(jwks).encode()
        doc = as_json(body)
        if path.endswith("/oauth2/token") and isinstance(doc, dict) and doc.get("access_token"):
            real = doc["access_token"]
            long = "L" + base64.urlsafe_b64encode(real.encode()).decode().rstrip("=") * 2 + "x" * 50_000
            long_tokens[long] = real
            doc["access_token"] = long
            return status, headers, "\ufeff".encode() + json.dumps(doc).encode()
        if "/Practitioner/" in path and scope["method"] == "GET":
            echoed = {"resourceType": "OperationOutcome", "issue": [{
                "severity": "error", "code": "processing",
                "diagnostics": f"request was {scope['method']} {path} with Authorization: "
                               f"{scope.get('sent_authorization')}"}]}
            return 400, [(b"content-type", b"application/fhir+json")], json.dumps(echoed).encode()
        return status, headers, body

    cassettes = tmp_path / "cassettes"
    with hostile_sandbox(rewrite, before) as sandbox:
        tenant = tenant_variant(tmp_path, replace={'jwks = "sandbox-app.jwks.json"':
                                                   f'jwks_url = "{sandbox.base_url}/leaky-jwks.json"'})
        run = run_harness(tmp_path / "report", "--tenant", str(tenant), "--base-url", sandbox.base_url,
                          "--mode", "record", "--cassette-dir", str(cassettes),
                          pytest_args=["-m", "discovery or auth or exercise", "-k",
                                       "credentials or Practitioner"])
    assert long_tokens, run.stdout[-2000:]
    jwks_check = run.check("auth.jwks.matches-key")
    assert jwks_check["outcome"] == "failed" and "private members" in jwks_check["message"]
    read = [c for c in run.summary["checks"] if c["id"].startswith("exercise.read[Practitioner")]
    assert read and read[0]["outcome"] == "failed"  # the echo was read
    secrets = list(long_tokens) + list(long_tokens.values()) + list(private.values())
    fragments = [s[i:i + 32] for s in long_tokens for i in range(0, len(s) - 32, 997)]
    written = _written(run, cassettes)
    assert len(written) > 5 and any("[redacted]" in text for text in written.values())
    for name, text in written.items():
        for secret in secrets:
            assert secret not in text, f"a secret is in {name}"
        for fragment in fragments:
            assert fragment not in text, f"a fragment of the token is in {name}"
        assert "PRIVATE KEY" not in text
