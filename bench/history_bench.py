"""History size and speed: the database's size per 1,000 fleet tenant-runs, and write and query times.

    python bench/history_bench.py [--size 420] [--days 12] [--seed 7] [--url URL]

One fleet run over the sandbox fleet (``--size`` tenants, plus its unreachable and malformed
addresses) gives a real fleet.json; ``--days`` simulated days are derived from it
(``harness.history.simulate``: upgrades, outages, returns, TLS facts) and written into a fresh
SQLite history (or ``--url``, which must name an empty database), one transaction per day. Three
tenant runs are added. Then each query is timed once: the run list, the availability of every
tenant, every change since the first day, one tenant's timeline, a forecast and history.html.

The size is the SQLite file's size after the writes, divided by the tenant rows written, per
1,000. The line printed holds the figures; timings vary from run to run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.catalog import load_named_set  # noqa: E402
from harness.fleet.directory import distinct_targets, parse_bundle  # noqa: E402
from harness.fleet.fetch import FetchOptions  # noqa: E402
from harness.fleet.run import run_fleet  # noqa: E402
from harness.history import forecast, page, queries  # noqa: E402
from harness.history.record import record_fleet, record_run  # noqa: E402
from harness.history.simulate import release_profile, simulate_days  # noqa: E402
from harness.history.store import History  # noqa: E402
from harness.sandbox.fleet import EmbeddedFleet, build_fleet  # noqa: E402
from tests.history.history_helpers import tenant_runs  # noqa: E402


def _timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=420)
    parser.add_argument("--days", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--url", help="an empty database to write into instead of a new SQLite file")
    args = parser.parse_args()
    options = FetchOptions(concurrency=32, per_host_rps=None, connect_timeout=2.0, read_timeout=2.0, retries=1,
                           backoff=0.05, allow_loopback=True)  # the sandbox fleet is served on loopback
    with EmbeddedFleet(build_fleet(seed=args.seed, size=args.size)) as fleet:
        directory = parse_bundle(fleet.directory(), "sandbox-fleet.json")
        run = run_fleet(directory, distinct_targets(directory), load_named_set("careforce-phoenix"), options)
    start = datetime.now(timezone.utc) - timedelta(days=args.days)
    days = simulate_days(run.as_dict(), args.days, seed=args.seed, start=start)
    with tempfile.TemporaryDirectory() as folder:
        target = args.url or str(Path(folder) / "history.sqlite")
        history = History(target)
        writes = []
        for day in days:
            _, seconds = _timed(lambda day=day: record_fleet(day, history=history))
            writes.append(seconds)
        tenant_writes = [_timed(lambda s=s: record_run(s, history=history))[1] for s in tenant_runs()]
        tenant_rows = sum(len(d["tenants"]) for d in days)
        profile = release_profile(days[0])
        with history.read() as conn:
            timings = {}
            _, timings["list"] = _timed(lambda: queries.list_runs(conn, limit=20))
            avail, timings["availability"] = _timed(lambda: queries.availability(conn))
            changes, timings["changes"] = _timed(lambda: queries.changes_since(conn, None))
            key = next(t["key"] for t in days[-1]["tenants"] if t.get("release") and profile
                       and t["release"] != profile.release)
            _, timings["timeline"] = _timed(lambda: queries.tenant_timeline(conn, queries.find_tenant(conn, key)))
            _, timings["forecast"] = _timed(
                lambda: forecast.forecast(conn, queries.find_tenant(conn, key), profile.release))
            _, timings["html"] = _timed(lambda: page.render_history_html(conn, label="bench", window="400d"))
        size = Path(target).stat().st_size if not args.url else None
        history.close()
    per_1000 = f"{size / tenant_rows * 1000 / 1024:.0f} KiB" if size else "n/a (not SQLite)"
    answered = days[0]["stats"]["answered"]
    print(f"history: {len(days)} fleet runs x {len(days[0]['tenants'])} addresses ({answered} answering on day 1) = "
          f"{tenant_rows} fleet tenant-runs; size {f'{size / 1024:.0f} KiB' if size else 'n/a'}, {per_1000} per "
          f"1,000 tenant-runs; "
          f"write per fleet run mean {1000 * sum(writes) / len(writes):.0f} ms (max {1000 * max(writes):.0f} ms), "
          f"per tenant run {1000 * sum(tenant_writes) / len(tenant_writes):.0f} ms; "
          + ", ".join(f"{name} {1000 * t:.0f} ms" for name, t in timings.items())
          + f" ({len(avail)} tenants, {len(changes)} changes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
