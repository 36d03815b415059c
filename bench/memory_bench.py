"""Peak memory of a run: the full suite against the embedded sandbox, and runs against hostile tenants
whose bodies try to blow the memory up (built here: the sandbox behind a front that rewrites answers).

    python bench/memory_bench.py [--case NAME ...] [--limit-mb 6000]

Cases:
  full           `epic-harness run`, the whole suite against the embedded sandbox (goal: under 300 MB), twice
                 in one fresh folder: Hypothesis scans the source of every local (editable) module for
                 constants on its first run in a folder, and caches them in .hypothesis/ for the next
  gzip-bomb      Practitioner searches answered `Content-Encoding: gzip, gzip`: ~7 KB that inflate to 4 GB
  big-gzip       Practitioner searches answered with a 2 MB single gzip body that inflates to 2 GB
  big-pages      Practitioner searches answered with 20 pages of 25 MB, each linking to the next
  big-errors     probing of Practitioner searches, every answer a 40 MB HTML error page (Hypothesis keeps
                 the failing examples)
  scrub          not a run: seconds to scrub a 5 MB body against 300 known secrets

Prints one line per case: peak RSS of the run's process (from wait4), exit code and seconds. Goal: no
hostile case past 500 MB. Each run's address space is capped at --limit-mb, so that a run without the
bounds fails with MemoryError instead of taking the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TENANT = ROOT / "harness" / "sandbox" / "tenant" / "sandbox.toml"
MB = 1_000_000


def gzip_of_zeros(size: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 22)
    parts = [z.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + z.flush()


def gzip_once(data: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return z.compress(data) + z.flush()


def page(number: int, size: int, base: str) -> bytes:
    filler = "x" * 900
    entries, length = [], 0
    while length < size:
        entry = {"fullUrl": f"{base}/Practitioner/p{number}-{len(entries)}", "search": {"mode": "match"},
                 "resource": {"resourceType": "Practitioner", "id": f"p{number}-{len(entries)}",
                              "name": [{"family": "Bench", "text": filler}]}}
        entries.append(entry)
        length += 1000
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries,
              "link": [{"relation": "next", "url": f"{base}/Practitioner?benchPage={number + 1}"}] if number < 20 else []}
    return json.dumps(bundle).encode()


class HostileFront:
    """ASGI: Practitioner searches (and reads) get the case's answer; everything else is the sandbox's."""

    def __init__(self, app: Any, case: str) -> None:
        self.app = app
        self.case = case
        self.bomb = gzip_once(gzip_of_zeros(4_000 * MB)) if case == "gzip-bomb" else b""
        self.single = gzip_of_zeros(2_000 * MB) if case == "big-gzip" else b""

    def _hits(self, scope: dict[str, Any]) -> bool:
        return "/api/FHIR/R4/Practitioner" in scope["path"] and scope["method"] == "GET"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self._hits(scope):
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"application/fhir+json")]
        status = 200
        if self.case == "gzip-bomb":
            body, headers = self.bomb, headers + [(b"content-encoding", b"gzip, gzip")]
        elif self.case == "big-gzip":
            body, headers = self.single, headers + [(b"content-encoding", b"gzip")]
        elif self.case == "big-pages":
            query = scope.get("query_string", b"").decode()
            number = int(query.split("benchPage=")[1].split("&")[0]) if "benchPage=" in query else 1
            host = dict(scope["headers"]).get(b"host", b"127.0.0.1").decode()
            body = page(number, 25 * MB, f"http://{host}/api/FHIR/R4")
        else:  # big-errors
            status, headers = 500, [(b"content-type", b"text/html")]
            body = b"<html><body>" + b"Internal Server Error " * (40 * MB // 22) + b"</body></html>"
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for i in range(0, len(body), 1 << 20):
            await send({"type": "http.response.body", "body": body[i:i + (1 << 20)], "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def tenant_file(folder: Path, examples: int) -> Path:
    text = TENANT.read_text().replace('"keys/', f'"{TENANT.parent}/keys/').replace(
        '"sandbox-app.jwks.json"', f'"{TENANT.parent}/sandbox-app.jwks.json"').replace(
        "examples = 5", f"examples = {examples}")
    path = folder / "bench-tenant.toml"
    path.write_text(text)
    return path


def run_measured(argv: list[str], cwd: Path, limit_mb: int) -> tuple[float, int, float]:
    """(peak RSS in MB, exit code, seconds) of one child process."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 1024 * 1024, limit_mb * 1024 * 1024))

    started = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, "CI": "true"}, preexec_fn=cap)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, child.returncode, time.perf_counter() - started


def hostile_run(case: str, folder: Path, limit_mb: int) -> tuple[float, int, float]:
    from harness.sandbox import EmbeddedSandbox

    sandbox = EmbeddedSandbox()
    sandbox.app = HostileFront(sandbox.app, case)
    selection = ["-m", "probing", "-k", "Practitioner"] if case == "big-errors" else \
        ["-m", "exercise", "-k", "Practitioner and search"]
    with sandbox:
        argv = [sys.executable, "-m", "harness", "run", "--tenant", str(tenant_file(folder, 40)),
                "--base-url", sandbox.base_url, "--report-dir", str(folder / f"report-{case}"), "--", *selection]
        return run_measured(argv, folder, limit_mb)


def scrub_seconds() -> float:
    from harness.scrub import SecretRegistry

    registry = SecretRegistry()
    for i in range(300):
        registry.add(f"secret-{i:04d}-" + "s" * (40 + (i % 4) * 400))
    body = ('{"resourceType": "Patient", "id": "e1", "name": [{"family": "Lopez"}]},' * 70_000)[:5 * MB]
    started = time.perf_counter()
    registry.scrub_text(body + "secret-0007-" + "s" * 1240)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=["full", "gzip-bomb", "big-gzip", "big-pages",
                                                            "big-errors", "scrub"])
    parser.add_argument("--limit-mb", type=int, default=6000, help="address-space cap of each run (MB)")
    args = parser.parse_args()
    cases = args.case or ["full", "gzip-bomb", "big-gzip", "big-pages", "big-errors", "scrub"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for case in cases:
            if case == "scrub":
                print(f"scrub: {scrub_seconds():.3f} s for 5 MB against 300 secrets", flush=True)
                continue
            if case == "full":
                for label in ("first run in a fresh folder", "second run"):
                    argv = [sys.executable, "-m", "harness", "run", "--report-dir", str(folder / f"report-full-{label}")]
                    peak, code, seconds = run_measured(argv, folder, args.limit_mb)
                    print(f"full ({label}): peak RSS {peak:.0f} MB, exit {code}, {seconds:.1f} s", flush=True)
                continue
            else:
                peak, code, seconds = hostile_run(case, folder, args.limit_mb)
            print(f"{case}: peak RSS {peak:.0f} MB, exit {code}, {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
