"""A recorded tenant replays offline without the app's secrets: the tenant file's environment variables may be
unset (a throwaway key signs, nothing is sent), and the app's own credentials are reported as not checked."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SANDBOX_TENANT, run_harness, tenant_variant

SELECTION = ["-m", "discovery or auth or coverage", "-k", "not refuses and not expired"]


def test_replay_needs_no_client_id_or_key(tmp_path: Path) -> None:
    from harness.sandbox import EmbeddedSandbox

    key = (SANDBOX_TENANT.parent / "keys" / "sandbox-rs384.pem").read_text()
    tenant = tenant_variant(tmp_path, replace={
        'client_id = "harness-sandbox-nonprod"': 'client_id_env = "TEST_EPIC_CLIENT_ID"',
        'private_key = "keys/sandbox-rs384.pem"': 'private_key_env = "TEST_EPIC_PRIVATE_KEY"'})
    cassettes = tmp_path / "cassettes"
    secrets = {"TEST_EPIC_CLIENT_ID": "harness-sandbox-nonprod", "TEST_EPIC_PRIVATE_KEY": key}
    with EmbeddedSandbox() as sandbox:
        recorded = run_harness(tmp_path / "recorded", "--tenant", str(tenant), "--base-url", sandbox.base_url,
                               "--mode", "record", "--cassette-dir", str(cassettes), pytest_args=SELECTION,
                               env=secrets)
        url = sandbox.base_url
    assert recorded.exit_code == 5, recorded.stdout[-2000:]  # a selection: incomplete, nothing failed
    live_only = run_harness(tmp_path / "live", "--tenant", str(tenant), "--base-url", url, pytest_args=SELECTION,
                            env={k: "" for k in secrets})
    assert live_only.exit_code == 2 and "TEST_EPIC_CLIENT_ID is not set" in live_only.stderr  # live still needs them
    replay = run_harness(tmp_path / "replayed", "--tenant", str(tenant), "--base-url", url, "--mode", "replay",
                         "--cassette-dir", str(cassettes), pytest_args=SELECTION, env={k: "" for k in secrets})
    assert replay.exit_code == recorded.exit_code, replay.stdout[-2000:] + replay.stderr[-1000:]
    rules = replay.check("auth.assertion.rules")
    assert rules["outcome"] == "skipped" and "stand-in" in rules["message"] and rules["required"] is False
    before = {k: v for k, v in recorded.outcomes().items() if not k.startswith(("auth.assertion", "auth.jwks"))}
    after = {k: v for k, v in replay.outcomes().items() if not k.startswith(("auth.assertion", "auth.jwks"))}
    assert before == after
