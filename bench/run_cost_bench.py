"""The fixed cost of `epic-harness run`: wall time of a small selection, a group and the whole suite.

    python bench/run_cost_bench.py [--runs N] [--only NAME] [--source DIR ...]

Starts the sandbox in a child process (as `epic-harness sandbox` serves it), then times, N times each
(default 5), a child `python -m harness run --tenant harness/sandbox/tenant/sandbox.toml --base-url URL
--report-dir DIR --no-history` with CI=true and, after `--`:

- `refuses`: `-k refuses` (the token endpoint's bad requests, 18 checks; every other check deselected);
- `discovery`: `-m discovery`;
- `full`: no selection, every check.

Each `--source DIR` (repeatable) times the harness found in DIR instead of this checkout (its folder put
first on PYTHONPATH), e.g. an older checkout extracted with `git archive`, to compare two versions on
the same machine at the same moment: the runs of every source are interleaved, round by round, so that
other load on the machine falls on each alike. Prints, per selection and source, the median, fastest
and slowest wall seconds and the checks run; timings vary with the machine's load. It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TENANT = ROOT / "harness" / "sandbox" / "tenant" / "sandbox.toml"
SELECTIONS = {"refuses": ["-k", "refuses"], "discovery": ["-m", "discovery"], "full": []}


def one_run(source: Path, base_url: str, selection: list[str], work: Path) -> tuple[float, int]:
    """(wall seconds, checks run) of one `epic-harness run` in a child process."""
    report = work / f"report-{time.monotonic_ns()}"
    env = {**os.environ, "CI": "true", "PYTHONPATH": os.pathsep.join(
        [str(source), *filter(None, [os.environ.get("PYTHONPATH")])])}
    argv = [sys.executable, "-m", "harness", "run", "--tenant", str(TENANT), "--base-url", base_url,
            "--report-dir", str(report), "--no-history"] + (["--", *selection] if selection else [])
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=work, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1, 5):
        raise SystemExit(f"the run failed (exit {done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads((report / "summary.json").read_text("utf-8"))
    ran = sum(1 for c in summary["checks"] if not str(c.get("message", "")).startswith("deselected:"))
    return elapsed, ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each selection and source (default 5)")
    parser.add_argument("--only", choices=sorted(SELECTIONS), action="append", help="only this selection (repeatable)")
    parser.add_argument("--source", action="append", type=Path, help="time the harness in this folder (repeatable; "
                                                                      "default this checkout)")
    args = parser.parse_args()
    sources = [s.resolve() for s in args.source] if args.source else [ROOT]
    for source in sources:
        if not (source / "harness" / "cli.py").is_file():
            raise SystemExit(f"{source}: no harness/cli.py there")
    names = args.only or list(SELECTIONS)
    from harness.sandbox import EmbeddedSandbox

    times: dict[tuple[str, Path], list[float]] = {(n, s): [] for n in names for s in sources}
    checks: dict[tuple[str, Path], int] = {}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedSandbox(process=True) as sandbox:
        work = Path(tmp)
        for name in names:  # once each, unmeasured: the sandbox's and the files' first use
            for source in sources:
                one_run(source, sandbox.base_url, SELECTIONS[name], work)
        for _ in range(args.runs):
            for name in names:
                for source in sources:
                    elapsed, ran = one_run(source, sandbox.base_url, SELECTIONS[name], work)
                    times[(name, source)].append(elapsed)
                    checks[(name, source)] = ran
    bytecode = "not written (PYTHONDONTWRITEBYTECODE)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "cached"
    print(f"epic-harness run, wall seconds over {args.runs} runs each (median, fastest-slowest); "
          f"bytecode {bytecode}")
    for name in names:
        for source in sources:
            values = times[(name, source)]
            label = f"{name:9} {str(source):30}" if len(sources) > 1 else f"{name:9}"
            print(f"{label} median {statistics.median(values):6.2f} s  ({min(values):.2f}-{max(values):.2f})  "
                  f"{checks[(name, source)]} checks run")


if __name__ == "__main__":
    main()
