"""The embedded sandbox against a separately started one: `epic-harness run` wall time each way,
and the cost of one request to an EmbeddedSandbox in the same process.

    python bench/embedded_bench.py [--repeat N] [-- PYTEST ARGS]

Run A is `epic-harness run` (the embedded sandbox, which the run starts, serves from a child
process and stops). Run B starts `epic-harness sandbox --port P` itself, then runs
`epic-harness run --tenant T --base-url http://127.0.0.1:P`, T being `tenants/sandbox.toml` with
its URLs at port P (as the embedded run does). Both are the same checks against the same sandbox;
the ratio A/B says what embedding costs (goal: at most 1.3).
Arguments after `--` go to pytest in both runs (e.g. `-- -m discovery` for a quick one). With
``--repeat N`` each run is made N times, the two kinds in turn, and the best of each is kept.

The last figures are a GET and a POST to an EmbeddedSandbox from httpx in this process, in
milliseconds per request (the embedding once cost about 40 ms per answer: its listening socket
was not created as a TCP socket, so asyncio left Nagle's algorithm on).

Prints one line; timings vary with the machine's load. It asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import ROOT
from harness.sandbox import EmbeddedSandbox
from harness.sandbox.tenant_file import at_address

SHIPPED_TENANT = ROOT / "tenants" / "sandbox.toml"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the sandbox exited ({process.returncode}): {process.stderr.read() if process.stderr else ''}")
        try:
            httpx.get(f"{base}/api/FHIR/R4/metadata", timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("the sandbox did not start within 30 s")


def run_harness(*args: str, cwd: Path) -> float:
    """Wall seconds of one `epic-harness run` in a child process; any gate verdict will do (a
    selection of checks leaves the gate incomplete), a crash or a usage error will not."""
    report = cwd / f"report-{time.monotonic_ns()}"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--report-dir", str(report), *args],
                          capture_output=True, text=True, cwd=cwd, env={**os.environ, "CI": "true"})
    elapsed = time.perf_counter() - started
    if not (report / "summary.json").is_file():
        raise SystemExit(f"harness run failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def embedded(work: Path, pytest_args: list[str]) -> float:
    return run_harness(*(["--", *pytest_args] if pytest_args else []), cwd=work)


def separate(work: Path, pytest_args: list[str]) -> float:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "harness", "sandbox", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, process)
        tenant = at_address(base, Path(tempfile.mkdtemp(dir=work)), SHIPPED_TENANT)
        return run_harness("--tenant", str(tenant), "--base-url", base,
                           *(["--", *pytest_args] if pytest_args else []), cwd=work)
    finally:
        process.terminate()
        process.wait(10)


def per_request_ms(count: int = 200) -> tuple[float, float]:
    """(GET, POST) milliseconds per request to an EmbeddedSandbox from httpx in this process."""
    with EmbeddedSandbox() as sandbox, httpx.Client(base_url=sandbox.base_url) as http:
        http.get("/api/FHIR/R4/.well-known/smart-configuration")
        started = time.perf_counter()
        for _ in range(count):
            http.get("/api/FHIR/R4/.well-known/smart-configuration")
        get_ms = (time.perf_counter() - started) * 1000 / count
        started = time.perf_counter()
        for _ in range(count):
            http.post("/oauth2/token", data={"grant_type": "client_credentials"})
        post_ms = (time.perf_counter() - started) * 1000 / count
    return get_ms, post_ms


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    pytest_args = args[args.index("--") + 1:] if "--" in args else []
    own = args[: args.index("--")] if "--" in args else args
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind; the best is kept (default 1)")
    options = parser.parse_args(own)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        pairs = [(embedded(work, pytest_args), separate(work, pytest_args)) for _ in range(max(1, options.repeat))]
        a, b = min(p[0] for p in pairs), min(p[1] for p in pairs)  # interleaved, so that load changes hit both
    get_ms, post_ms = per_request_ms()
    print(f"embedded run {a:.1f} s, separate sandbox {b:.1f} s, ratio {a / b:.2f}; "
          f"in-process request GET {get_ms:.2f} ms, POST {post_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
