"""Fleet throughput: one fleet run over the sandbox fleet, wall time against the sum of per-tenant times.

    python bench/fleet_bench.py [--size 420] [--slow 40] [--slow-delay 1.0] [--concurrency 32] [--seed 7]
                                [--workers N]

The sandbox fleet (``harness.sandbox.fleet``) is served on a loopback port, from a child process
so that the simulator does not compete with the client for the interpreter (``--in-process``
serves it from a thread of this one), with every variation of the real fleet, ``--slow`` of its tenants answering each document after ``--slow-delay``
seconds, plus unreachable and malformed addresses. The run fetches every tenant's
smart-configuration and CapabilityStatement as ``epic-harness fleet --allow-loopback`` does,
without a per-host rate limit (this bench serves them on one host; ``hosts=`` spreads them), with timeouts of 2 s (or
twice the slow delay) and one retry.

A tenant's time is the time its two requests took (retries and their backoff included), as if
fetched one after the other; their sum is what a sequential run would cost. The ratio says how
much of that the concurrent run hides: the wall time should follow the slowest tenants, not
their number. The line printed holds the figures; timings vary from run to run.

``--workers N`` (N >= 2) runs the fleet a second time, on a freshly served fleet, as
``epic-harness fleet --workers N`` does (pytest-xdist workers in a child process, tenants dealt
out since there is no per-host limit), and prints both runs' wall times and their ratio. The
workers' time includes starting pytest and its workers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.catalog import load_named_set  # noqa: E402
from harness.fleet.directory import distinct_targets, parse_bundle  # noqa: E402
from harness.fleet.distribute import run_fleet_distributed  # noqa: E402
from harness.fleet.fetch import FetchOptions  # noqa: E402
from harness.fleet.run import run_fleet  # noqa: E402
from harness.sandbox.fleet import EmbeddedFleet, build_fleet  # noqa: E402


def _serve(spec: Any, ready: Any, stop: Any) -> None:
    with EmbeddedFleet(spec) as fleet:
        ready.put(fleet.directory())
        stop.wait()


@contextmanager
def served(spec: Any, in_process: bool) -> Iterator[dict[str, Any]]:
    """The fleet's endpoint directory while the fleet is served."""
    if in_process:
        with EmbeddedFleet(spec) as fleet:
            yield fleet.directory()
        return
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    child = context.Process(target=_serve, args=(spec, ready, stop), daemon=True)
    child.start()
    try:
        yield ready.get(timeout=60)
    finally:
        stop.set()
        child.join(10)
        if child.is_alive():
            child.terminate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=420, help="served tenants (default 420)")
    parser.add_argument("--slow", type=int, default=40, help="tenants that answer late (default 40)")
    parser.add_argument("--slow-delay", type=float, default=1.0, help="their delay per document in s (default 1.0)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--in-process", action="store_true", help="serve the fleet from a thread of this process")
    parser.add_argument("--workers", type=int, default=1,
                        help="also run across N pytest-xdist workers and compare (default 1: one run, one process)")
    args = parser.parse_args(argv)

    spec = build_fleet(seed=args.seed, size=args.size, slow=args.slow, slow_delay=args.slow_delay)
    timeout = max(2.0, 2 * args.slow_delay)  # slow tenants are slow, not failing
    options = FetchOptions(concurrency=args.concurrency, per_host_rps=None, connect_timeout=timeout,
                           read_timeout=timeout, retries=1, backoff=0.1, allow_loopback=True)
    walls = []
    for workers in ([1, args.workers] if args.workers > 1 else [1]):
        with served(spec, args.in_process) as bundle:  # a fresh fleet each time: flaky tenants fail first again
            directory = parse_bundle(bundle, "sandbox-fleet")
            targets = distinct_targets(directory)
            started = time.perf_counter()
            if workers > 1:
                with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
                    endpoints = Path(tmp) / "endpoints.json"
                    endpoints.write_text(json.dumps(bundle), "utf-8")
                    run: Any = run_fleet_distributed(directory, targets, load_named_set("careforce-phoenix"),
                                                     options, workers=workers, endpoints=endpoints)
            else:
                run = run_fleet(directory, targets, load_named_set("careforce-phoenix"), options)
            wall = time.perf_counter() - started
        rows = run.tenant_dicts()
        total = sum(t["elapsed_s"] for t in rows)
        answered = sum(1 for t in rows if t["answered"])
        walls.append(wall)
        how = f"{workers} workers" if workers > 1 else "one process"
        print(f"fleet bench ({how}): {len(targets)} addresses ({args.size} tenants, {args.slow} slow at "
              f"{args.slow_delay:g} s, {answered} answered, concurrency {args.concurrency}, server "
              f"{'in' if args.in_process else 'out of'} process): wall {wall:.2f} s, "
              f"sum of per-tenant times {total:.2f} s, ratio {total / wall:.1f}x")
    if len(walls) == 2:
        print(f"fleet bench: {args.workers} workers {walls[1]:.2f} s against one process {walls[0]:.2f} s "
              f"({walls[0] / walls[1]:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
