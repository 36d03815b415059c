"""The repository's cassettes, recorded from the sandbox, replay offline on a fresh clone, with the shipped tenant
file and with the embedded sandbox's own (which differs from it only in where its key files are named)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main, sandbox_tenant_file
from tests.conftest import ROOT, run_harness

SHIPPED = ROOT / "cassettes" / "sandbox"
SHIPPED_TENANT = ROOT / "tenants" / "sandbox.toml"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")


@pytest.mark.e2e
def test_shipped_cassettes_replay_offline_with_the_recorded_results(tmp_path: Path) -> None:
    recorded = json.loads((SHIPPED / "summary.json").read_text())
    run = run_harness(tmp_path / "report", "--tenant", str(SHIPPED_TENANT), "--mode", "replay",
                      "--cassette-dir", str(SHIPPED))
    replayed = {c["id"]: c["outcome"] for c in run.summary["checks"]}
    expected = {c["id"]: c["outcome"] for c in recorded["checks"]}
    changed = {k: (expected.get(k), replayed.get(k)) for k in expected.keys() | replayed.keys()
               if expected.get(k) != replayed.get(k)}
    assert not changed, (f"the checks or the sandbox changed since cassettes/sandbox was recorded; record it again "
                         f"from the repository root with `epic-harness run --mode record`: {list(changed.items())[:5]}")
    assert run.exit_code == 0 and run.summary["gate"] == "passed", run.stderr[-2000:]
    assert run.summary["stats"]["requests_sent"] > 100 and len(replayed) > 1000


def _without_paths(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.strip() and not line.startswith("#") and line.split("=")[0].strip() not in ("private_key", "jwks")]


def test_the_shipped_tenant_file_is_the_embedded_one_but_for_its_paths() -> None:
    """So that the replay above, with tenants/sandbox.toml, is also the replay of `epic-harness run --mode replay`."""
    from harness.config import load_tenant

    embedded = sandbox_tenant_file()
    assert _without_paths(SHIPPED_TENANT.read_text("utf-8")) == _without_paths(embedded.read_text("utf-8"))
    shipped, own = load_tenant(SHIPPED_TENANT), load_tenant(embedded)
    assert shipped.auth.jwks_file is not None and own.auth.jwks_file is not None
    assert shipped.auth.jwks_file.read_bytes() == own.auth.jwks_file.read_bytes()
    assert shipped.auth.private_key.private_numbers() == own.auth.private_key.private_numbers()  # type: ignore[union-attr]


def test_a_replay_without_tenant_replays_the_embedded_tenant_file_and_serves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import harness.sandbox

    def no_sandbox(*args: object, **kwargs: object) -> None:
        raise AssertionError("a replay started a sandbox")

    ran: list[list[str]] = []
    monkeypatch.setattr(harness.sandbox, "EmbeddedSandbox", no_sandbox)
    monkeypatch.setattr(pytest, "main", lambda argv, plugins=(): ran.append(list(argv)) or 0)
    monkeypatch.setattr(gc, "freeze", lambda: None)
    report = tmp_path / "report"
    assert main(["run", "--mode", "replay", "--cassette-dir", str(SHIPPED), "--report-dir", str(report)]) == 0
    [argv] = ran
    assert argv[argv.index("--tenant") + 1] == str(sandbox_tenant_file())
    assert argv[argv.index("--cassette-mode") + 1] == "replay" and argv[argv.index("--cassette-dir") + 1] == str(SHIPPED)
    assert "--base-url" not in argv
    with pytest.raises(AssertionError, match="started a sandbox"):  # the control: a live run does start one
        main(["run", "--report-dir", str(report)])


def test_the_shipped_cassettes_hold_no_token_assertion_key_or_authorization() -> None:
    text = "\n".join(p.read_text("utf-8") for p in SHIPPED.rglob("*.yaml"))
    assert "/oauth2/token" in text and "client_assertion" in text
    assert not JWT.search(text) and "PRIVATE KEY" not in text
    assert "authorization:" not in text.lower() and '"access_token": "[redacted]"' in text
