"""A recorded tenant replays offline without the app's secrets: the tenant file's environment variables may be
unset (a throwaway key signs, nothing is sent), and the app's own credentials are reported as not checked.
Recorded and replayed in process; tests/test_cassettes.py replays so through the whole command."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import STAND_IN_CLIENT, load_tenant
from harness.errors import ConfigError
from tests.conftest import SANDBOX_TENANT, tenant_variant
from tests.support.checks import ROOT
from tests.support.recorded import Offline, differing, outcomes, recorded_state
from tests.test_cassettes import battery

KEY = (SANDBOX_TENANT.parent / "keys" / "sandbox-rs384.pem").read_text()
SECRETS = {"TEST_EPIC_CLIENT_ID": "harness-sandbox-nonprod", "TEST_EPIC_PRIVATE_KEY": KEY}
OWN = ("auth.assertion.rules", "auth.jwks.matches-key")  # the checks of the app's own credentials


def _tenant_file(tmp_path: Path) -> Path:
    return tenant_variant(tmp_path, replace={
        'client_id = "harness-sandbox-nonprod"': 'client_id_env = "TEST_EPIC_CLIENT_ID"',
        'private_key = "keys/sandbox-rs384.pem"': 'private_key_env = "TEST_EPIC_PRIVATE_KEY"'})


def _unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)


def test_a_live_run_still_needs_the_client_id_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = _tenant_file(tmp_path)
    _unset(monkeypatch)
    with pytest.raises(ConfigError, match="TEST_EPIC_CLIENT_ID is not set"):
        load_tenant(file, base_url=ROOT)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    given = load_tenant(file, base_url=ROOT)
    assert given.auth.client_id == "harness-sandbox-nonprod" and not given.auth.stand_in
    assert load_tenant(file, base_url=ROOT, replay=True).auth.stand_in is False  # given, they are used


def test_replay_needs_no_client_id_or_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file, cassettes = _tenant_file(tmp_path), tmp_path / "cassettes"
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with recorded_state("record", cassettes, tenant=load_tenant(file, base_url=ROOT), tmp_path=tmp_path) as state:
        recorded = {j.result.id: j for j in battery(state)}
    _unset(monkeypatch)
    stand_in = load_tenant(file, base_url=ROOT, replay=True)
    assert stand_in.auth.stand_in and stand_in.auth.client_id == STAND_IN_CLIENT
    offline = Offline()
    with recorded_state("replay", cassettes, tenant=stand_in, offline=offline, tmp_path=tmp_path) as state:
        replayed = {j.result.id: j for j in battery(state)}
    assert offline.sent == []
    for check_id in OWN:
        assert recorded[check_id].outcome == "passed"
        result = replayed[check_id].result
        assert result.outcome.value == "skipped" and "stand-in" in result.message and result.required is False
    before = [j for k, j in recorded.items() if k not in OWN]
    after = [j for k, j in replayed.items() if k not in OWN]
    assert not differing(before, after) and len(before) > 50, differing(before, after)
    assert not {"failed", "broken", "blocked"} & set(outcomes(before).values())
