"""Replay against live for the same suite: record the embedded sandbox once, then time live and replay runs.

    python bench/replay_bench.py [--runs 3]

Prints one line: median live seconds, median replay seconds, their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import TENANT, run_harness
from harness.sandbox import EmbeddedSandbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedSandbox() as sandbox:
        work = Path(tmp)
        cassettes = work / "cassettes"
        base = ["--tenant", str(TENANT), "--base-url", sandbox.base_url]
        run_harness(*base, "--mode", "record", "--cassette-dir", str(cassettes), cwd=work)
        live = [run_harness(*base, cwd=work)[0] for _ in range(args.runs)]
        replay = [run_harness(*base, "--mode", "replay", "--cassette-dir", str(cassettes), cwd=work)[0]
                  for _ in range(args.runs)]
    lm, rm = statistics.median(live), statistics.median(replay)
    print(f"replay vs live (whole suite, {args.runs} runs each): live {lm:.2f} s, replay {rm:.2f} s, "
          f"replay/live {rm / lm:.2f}")


if __name__ == "__main__":
    main()
