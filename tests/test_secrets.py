"""No secret reaches a report, and the bearer token never leaves the tenant's own origins."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from harness.config import load_tenant
from harness.client import TenantClient
from harness.errors import OriginError
from harness.fhir.paging import follow_search
from harness.scrub import REDACTED, SecretRegistry, scrub_body
from tests.conftest import SANDBOX_TENANT, run_harness

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")


def test_a_full_run_writes_no_token_assertion_or_key(tmp_path: Path) -> None:
    from harness.sandbox import EmbeddedSandbox

    with EmbeddedSandbox() as sandbox:
        run = run_harness(tmp_path / "report", "--tenant", str(SANDBOX_TENANT), "--base-url", sandbox.base_url)
        issued = list(sandbox.app.state.sandbox.tokens._tokens)
    assert issued, "the run obtained no token, so this test would prove nothing"
    key_body = "".join(SANDBOX_TENANT.with_name("keys").joinpath("sandbox-rs384.pem").read_text().splitlines()[1:3])
    written = [p for p in run.report_dir.rglob("*") if p.is_file()]
    assert len(written) > 10
    redactions = 0
    for text in [p.read_text("utf-8", "replace") for p in written] + [run.stdout, run.stderr]:
        for token in issued:
            assert token not in text
        assert not JWT.search(text)
        assert "PRIVATE KEY" not in text and key_body not in text
        redactions += text.count(REDACTED)
    assert redactions > 0, "nothing was redacted: the scan did not see the exchanges it should have"


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
