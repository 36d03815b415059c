"""A hostile tenant, end to end: the sandbox behind a front that rewrites its answers, and the harness run
against it as a user runs it. The bearer token never reaches another origin, a tenant refusing every
token is not hammered, and no secret (an echoed token, a token with a BOM or longer than the exchange
log keeps, a JWK Set leaking its private members) reaches a cassette or an attachment."""

from __future__ import annotations

import base64
import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from tests.conftest import HarnessRun, run_harness, tenant_variant

Rewrite = Callable[[dict[str, Any], int, list[tuple[bytes, bytes]], bytes],
                   tuple[int, list[tuple[bytes, bytes]], bytes]]


class Front:
    """ASGI middleware: the sandbox answers, then ``rewrite(scope, status, headers, body)`` may
    change the answer. ``before(scope)`` may change the request (e.g. map a token back)."""

    def __init__(self, app: Any, rewrite: Rewrite, before: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.app = app
        self.rewrite = rewrite
        self.before = before

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.before is not None:
            self.before(scope)
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                captured["status"], captured["headers"] = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")

        await self.app(scope, receive, capture)
        status, headers, body = self.rewrite(scope, captured["status"], captured["headers"], captured["body"])
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _header(scope: dict[str, Any], name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name), "")


@contextmanager
def hostile_sandbox(rewrite: Rewrite, before: Callable[[dict[str, Any]], None] | None = None) -> Iterator[Any]:
    """The sandbox behind a :class:`Front`; ``sandbox.inner`` is the sandbox's own app."""
    from harness.sandbox import EmbeddedSandbox

    sandbox = EmbeddedSandbox()
    sandbox.inner = sandbox.app
    sandbox.app = Front(sandbox.app, rewrite, before)
    with sandbox:
        yield sandbox


class Recorder:
    """Another origin: it answers every request with an empty searchset and records what it got."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests.append({"path": scope["path"], "authorization": _header(scope, b"authorization")})
        body = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


@contextmanager
def foreign_origin() -> Iterator[tuple[str, Recorder]]:
    from harness.sandbox import EmbeddedSandbox

    server = EmbeddedSandbox()
    recorder = Recorder()
    server.app = recorder
    with server:
        yield server.base_url, recorder


def issued_tokens(sandbox: Any) -> list[str]:
    return list(sandbox.inner.state.sandbox.tokens._tokens)


# -- the token stays with the tenant's FHIR origins ------------------------------------------------

def test_discovery_naming_another_origin_never_gets_it_the_token(tmp_path: Path) -> None:
    """smart-configuration and the CapabilityStatement name endpoints on another origin, and search
    pages link there: not one request carries the token there (14 did before)."""
    with foreign_origin() as (foreign, recorder):
        def rewrite(scope: dict[str, Any], status: int, headers: list, body: bytes) -> tuple[int, list, bytes]:
            doc = _json(body)
            path = scope["path"]
            if isinstance(doc, dict) and path.endswith("/.well-known/smart-configuration"):
                for key in ("authorization_endpoint", "registration_endpoint", "jwks_uri", "management_endpoint",
                            "introspection_endpoint", "revocation_endpoint"):
                    doc[key] = f"{foreign}/oauth2/{key}"
            elif isinstance(doc, dict) and doc.get("resourceType") == "CapabilityStatement":
                for rest in doc.get("rest") or []:
                    for ext in (rest.get("security") or {}).get("extension") or []:
                        for inner in ext.get("extension") or []:
                            if inner.get("url") in ("authorize", "register", "manage"):
                                inner["valueUri"] = f"{foreign}/oauth2/{inner['url']}"
            elif isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
                for link in doc.get("link") or []:
                    if link.get("relation") == "next":
                        link["url"] = re.sub(r"^https?://[^/]+", foreign, link["url"])
            else:
                return status, headers, body
            return status, headers, json.dumps(doc).encode()

        with hostile_sandbox(rewrite) as sandbox:
            paging = tenant_variant(tmp_path, replace={"page_size = 10": "page_size = 1"})  # every search pages
            run = run_harness(tmp_path / "report", "--tenant", str(paging), "--base-url",
                              sandbox.base_url, pytest_args=["-m", "discovery or exercise", "-k",
                                                             "discovery or Practitioner or Location"])
            tokens = issued_tokens(sandbox)
    assert tokens, run.stdout[-2000:]
    with_token = [r for r in recorder.requests if any(t in r["authorization"] for t in tokens)]
    assert with_token == [], f"{len(with_token)} requests carried the token to {foreign}"
    assert recorder.requests == []  # not even without it: a next link elsewhere is not followed
    paged = [c for c in run.summary["checks"] if "leaves the tenant" in c["message"]]
    assert paged and all(_failed_or_blocked_by_its_exercise(c) for c in paged), run.summary["checks"][:3]
    assert any(c["outcome"] == "failed" for c in paged)
    assert run.exit_code == 1


def _failed_or_blocked_by_its_exercise(check: dict[str, Any]) -> bool:
    """An exercise check fails; a check judging its answer is blocked by it (one cause, one failure)."""
    if check["outcome"] == "failed":
        return True
    return check["outcome"] == "blocked" and (check.get("blocked_by") or "").startswith("exercise.")


def test_a_tenant_refusing_every_token_gets_a_bounded_number_of_token_requests(tmp_path: Path) -> None:
    """Every FHIR request with a token answers 401 invalid_token: the harness asks for a few fresh
    tokens, then stops and says why (67 token requests before)."""
    def rewrite(scope: dict[str, Any], status: int, headers: list, body: bytes) -> tuple[int, list, bytes]:
        if "/api/FHIR/" in scope["path"] and _header(scope, b"authorization").startswith("Bearer ") \
                and not scope["path"].endswith(("/metadata", "/smart-configuration")):
            return 401, [(b"www-authenticate", b'Bearer error="invalid_token"'), (b"content-type", b"text/plain")], b""
        return status, headers, body

    with hostile_sandbox(rewrite) as sandbox:
        run = run_harness(tmp_path / "report", "--tenant", str(tenant_variant(tmp_path)), "--base-url",
                          sandbox.base_url, pytest_args=["-m", "exercise", "-k", "not web"])
    import harness.client

    assert run.summary["stats"]["token_requests"] <= 1 + getattr(harness.client, "MAX_REAUTH", 3), run.summary["stats"]
    stopped = [c for c in run.summary["checks"] if "asks for no more" in c["message"]]
    assert len(stopped) > 10 and all(_failed_or_blocked_by_its_exercise(c) for c in stopped)
    assert sum(c["outcome"] == "failed" for c in stopped) > 10
    assert "Traceback" not in run.stdout + run.stderr


# -- no secret in a cassette or an attachment ---------------------------------------------------

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

    def rewrite(scope: dict[str, Any], status: int, headers: list, body: bytes) -> tuple[int, list, bytes]:
        path = scope["path"]
        if path.endswith("/leaky-jwks.json"):
            jwks = json.loads(Path(SANDBOX_TENANT.with_name("sandbox-app.jwks.json")).read_text())
            jwks["keys"][0].update(private)
            return 200, [(b"content-type", b"application/json")], json.dumps(jwks).encode()
        doc = _json(body)
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
