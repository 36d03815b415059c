"""No secret reaches a report, and the bearer token never leaves the tenant's own origins."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest

from harness.config import load_tenant
from harness.client import TenantClient
from harness.errors import OriginError
from harness.fhir.paging import follow_search
from harness.scrub import REDACTED, SecretRegistry, scrub_body
from tests.conftest import SANDBOX_TENANT, run_harness

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")


KEY_BODY = "".join(SANDBOX_TENANT.with_name("keys").joinpath("sandbox-rs384.pem").read_text().splitlines()[1:3])


def assert_no_secret(texts: list[str], issued: list[str]) -> None:
    """No issued token, no JWT (a client assertion), no private key in any of ``texts``; and some redaction seen,
    so that the scan is known to have met the exchanges that carried them."""
    assert issued, "no token was issued, so the scan would prove nothing"
    redactions = 0
    for text in texts:
        for token in issued:
            assert token not in text
        assert not JWT.search(text)
        assert "PRIVATE KEY" not in text and KEY_BODY not in text
        redactions += text.count(REDACTED)
    assert redactions > 0, "nothing was redacted: the scan did not see the exchanges it should have"


def echo_expired_assertion(request: httpx.Request) -> httpx.Response | None:
    """A hostile token endpoint: its refusal of an expired client assertion quotes the assertion as its error."""
    if not request.url.path.endswith("/oauth2/token"):
        return None
    assertion = parse_qs(request.content.decode()).get("client_assertion", [""])[0]
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    if claims.get("exp", time.time()) < time.time() - 1:
        return httpx.Response(400, json={"error": assertion})
    return None


def test_reports_of_the_token_checks_hold_no_token_assertion_or_key(tmp_path: Path) -> None:
    """In process: the checks that handle every token and assertion of a run (a probe wrongly issued a token, a
    refusal quoting the assertion it refused), then every writer, fed the whole exchange log as evidence."""
    from harness.report.writers import WriteContext, prepare_report_dir, write_all
    from tests.support.checks import judge_run, results_of, sandbox_app, tenant_state

    app = sandbox_app("token-skip:aud")
    with tenant_state(app=app, answer=echo_expired_assertion, tmp_path=tmp_path) as state:
        judged = judge_run(state, lambda found: found.group in ("preflight", "discovery", "auth"))
        exchanges = [e.as_dict() for e in state.client.log]
        assert prepare_report_dir(state.report_dir) is None
        _, errors = write_all(results_of(state), WriteContext(
            report_dir=state.report_dir, secrets=state.secrets, allure_dir=tmp_path / "allure",
            pseudonymizer=state.client.pseudonymizer,
            evidence={judged["auth.token.issued"].result.nodeid: {"HTTP exchanges (scrubbed)": exchanges}}))
        issued = list(app.state.sandbox.tokens._tokens)
    assert not errors
    assert judged["auth.token.refuses[aud]"].message.startswith("SECURITY")  # the probe's token was issued
    assert JWT.search(judged["auth.token.refuses[exp-expired]"].message)  # the assertion quoted: in the results
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"summary.json", "summary.html", "junit.xml"} <= {p.name for p in written}
    assert len([p for p in written if p.parent.name == "allure"]) > 10
    assert_no_secret([p.read_text("utf-8", "replace") for p in written], issued)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One whole run in a child process against a sandbox in this one, whose issued tokens are known: every check,
    a probe wrongly issued a token among them."""
    from harness.sandbox import EmbeddedSandbox, default_settings

    tmp_path = tmp_path_factory.mktemp("full-run")
    with EmbeddedSandbox(default_settings(["token-skip:aud"])) as sandbox:
        run = run_harness(tmp_path / "report", "--tenant", str(SANDBOX_TENANT), "--base-url", sandbox.base_url)
        issued = list(sandbox.app.state.sandbox.tokens._tokens)
    return run, issued, tmp_path


@pytest.mark.e2e
def test_a_full_run_writes_no_token_assertion_or_key(full_run) -> None:  # type: ignore[no-untyped-def]
    run, issued, folder = full_run
    assert run.exit_code == 1 and run.outcomes()["auth.token.refuses[aud]"] == "failed"
    written = [p for p in folder.rglob("*") if p.is_file()]  # the report folder and the run's history beside it
    assert len(written) > 10 and any(p.suffix == ".sqlite" for p in written)
    assert_no_secret([p.read_bytes().decode("utf-8", "replace") for p in written] + [run.stdout, run.stderr], issued)


def _client(handler) -> TenantClient:
    tenant = load_tenant(SANDBOX_TENANT, base_url="https://epic.example.org/interconnect")
    client = TenantClient(tenant, transport=httpx.MockTransport(handler))
    client.use_tokens(lambda: "secret-token-value-123", lambda: None)
    return client


def test_next_link_to_another_origin_is_not_followed_and_gets_no_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Type": "application/fhir+json"}, json={
            "resourceType": "Bundle", "type": "searchset", "total": 1,
            "link": [{"relation": "next", "url": "https://attacker.example/api/FHIR/R4/Patient?sessionID=1"}],
            "entry": [{"resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "match"}}]})

    client = _client(handler)
    result = follow_search(client, client.url("R4", "Patient"), params={"_id": "p1"}, resource_type="Patient")
    assert [r.url.host for r in seen] == ["epic.example.org"]
    assert any("leaves the tenant" in p for p in result.problems)
    with pytest.raises(OriginError):
        client.get("https://attacker.example/api/FHIR/R4/Patient")
    assert all("secret-token" not in str(r.headers) for r in seen if r.url.host != "epic.example.org")


def test_plain_http_refused_for_non_loopback() -> None:
    client = _client(lambda request: httpx.Response(200))
    with pytest.raises(OriginError, match="plain http"):
        client.get("http://epic.example.org/api/FHIR/R4/metadata", auth=False)


def test_scrubbing_is_idempotent_and_covers_forms_and_json() -> None:
    secrets = SecretRegistry()
    secrets.add("tok-abcdefgh-123")
    form = "grant_type=client_credentials&client_assertion=eyJhbGciOi.eyJpc3MiOi.sig"
    once = scrub_body(form, "application/x-www-form-urlencoded", secrets)
    assert "eyJ" not in once and scrub_body(once, "application/x-www-form-urlencoded", secrets) == once
    body = '{"access_token": "tok-abcdefgh-123", "scope": "system/Patient.r", "note": "tok-abcdefgh-123"}'
    cleaned = scrub_body(body, "application/json", secrets)
    assert "tok-abcdefgh" not in cleaned and "system/Patient.r" in cleaned
