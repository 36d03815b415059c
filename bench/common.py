"""Shared by the benchmarks: run the harness as a user does and time it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TENANT = ROOT / "harness" / "sandbox" / "tenant" / "sandbox.toml"


def run_harness(*args: str, cwd: Path) -> tuple[float, dict]:
    """(wall seconds, summary.json) of one `epic-harness run` in a child process."""
    report = cwd / f"report-{time.monotonic_ns()}"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--report-dir", str(report), *args],
                          capture_output=True, text=True, cwd=cwd, env={"CI": "true", **_env()})
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"harness run failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, json.loads((report / "summary.json").read_text())


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "CI"}
