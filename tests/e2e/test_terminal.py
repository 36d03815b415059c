"""`epic-harness run` typed at a real terminal (a pseudo-terminal): it runs, shows the live progress line, and
ends with the harness's own summary."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SANDBOX_TENANT


def _run_in_a_terminal(argv: list[str], cwd: Path, timeout: float = 240) -> tuple[int, str]:
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    else:
        process.kill()
        pytest.fail("the run did not end in time at a terminal")
    os.close(master)
    return process.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.e2e
def test_run_at_a_terminal_shows_live_progress_and_its_summary(tmp_path: Path) -> None:
    from harness.sandbox import EmbeddedSandbox

    with EmbeddedSandbox() as sandbox:
        code, screen = _run_in_a_terminal(
            [sys.executable, "-m", "harness", "run", "--tenant", str(SANDBOX_TENANT), "--base-url", sandbox.base_url,
             "--report-dir", str(tmp_path / "report"), "--no-history", "--", "-m", "discovery or preflight"], tmp_path)
    assert "unrecognized arguments" not in screen and "Traceback" not in screen, screen[-2000:]
    assert code == 5, screen[-2000:]  # a selection: incomplete, nothing failed
    assert "\x1b[" in screen and "›" in screen  # rich's live line: group › check, drawn and redrawn
    assert "gate:" in screen and "INCOMPLETE" in screen and "API coverage: sandbox" in screen
    assert (tmp_path / "report" / "summary.json").is_file()
