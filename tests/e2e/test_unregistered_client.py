"""End to end: a tenant that refuses the app's token, through the whole path. The token checks themselves are
judged in process in tests/suites/test_token_endpoint.py, test_auth.py, test_scopes_checks.py and test_credentials.py."""

from __future__ import annotations

import pytest

from tests.conftest import FAILED, tenant_variant


@pytest.mark.e2e
def test_an_unregistered_client_is_one_failure_and_the_rest_blocked(sandbox_run, tmp_path) -> None:
    tenant = tenant_variant(tmp_path, replace={'client_id = "harness-sandbox-nonprod"': 'client_id = "nobody-0000"'})
    run = sandbox_run(tenant=tenant)
    assert run.exit_code == FAILED
    failed = [c for c in run.summary["checks"] if c["outcome"] == "failed"]
    assert [c["id"] for c in failed] == ["auth.token.issued"], [(c["id"], c["message"][:80]) for c in failed]
    assert failed[0]["category"] == "vendor-credentials" and "invalid_client" in failed[0]["message"]
    assert run.summary["counts"]["blocked"] > 250
    assert run.summary["root_causes"][0]["check"] == "auth.token.issued"
    assert len(run.stdout.splitlines()) < 250  # the blocked checks are told once, by their root cause
    assert "auth.token.issued" in run.stdout and "invalid_client" in run.stdout
    assert "Not proven" in (run.report_dir / "summary.html").read_text()
