"""A fleet run split across pytest-xdist workers (``epic-harness fleet --workers N``).

The parent splits the distinct tenants into at most N *shards*, writes a plan (the endpoint file,
the API set, the fetch options, the cassettes, which tenants each shard holds) and runs
:mod:`harness.fleet.xdist_shards`, a pytest module with one test per shard, as
``pytest -p xdist -n <shards>`` in a child process. Each worker reads the same endpoint file,
fetches its shard with the same :class:`~harness.fleet.fetch.Fetcher` and options as a
single-process run, and writes its tenants' objects to ``shard-<i>.json``; the parent merges them
in directory order into one report, so ``fleet.json`` (and everything written from it) reads as a
single-process run's, tenant by tenant. Malformed addresses are never fetched; the parent
reports them itself.

**Sharding.** While a per-host rate limit is in force (``--per-host-rps`` above 0), every tenant
of one host (``host[:port]``, as the limiter counts) stays in one shard, so one process paces the
host exactly as a single run does; hosts are packed onto shards largest first, each onto the
shard with the fewest tenants. Real directories spread over hundreds of hosts with a handful of
tenants at most on each, so the shards come out even. Without a limit nothing ties a host to
one worker, and tenants are dealt out one by one. ``--concurrency`` bounds each worker.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.catalog import RequestedApis
from harness.errors import HarnessError
from harness.fleet.directory import Directory, Target
from harness.fleet.fetch import FetchOptions
from harness.fleet.run import TenantResult, report_dict

PLAN_ENV = "EPIC_HARNESS_FLEET_PLAN"
PLAN_FORMAT = "epic-harness-fleet-plan/1"
SHARD_MODULE = Path(__file__).with_name("xdist_shards.py")
_POLL_S = 0.2


@dataclass(frozen=True)
class Shard:
    index: int
    targets: tuple[int, ...]  # positions in the run's target list, in directory order
    hosts: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "targets": list(self.targets), "hosts": list(self.hosts)}


def plan_shards(targets: Sequence[Target], workers: int, *, keep_hosts: bool = True) -> list[Shard]:
    """At most ``workers`` non-empty shards of the fetchable targets. With ``keep_hosts`` a host's
    tenants are never split; without, tenants are dealt out in turn."""
    workers = max(1, workers)
    fetchable = [i for i, t in enumerate(targets) if not t.address.malformed and t.address.url is not None]
    bins: list[list[int]] = [[] for _ in range(workers)]
    if keep_hosts:
        by_host: dict[str, list[int]] = {}
        for i in fetchable:
            by_host.setdefault((targets[i].address.host or "").lower(), []).append(i)
        # largest host first, onto the shard with the fewest tenants (the lowest index on a tie)
        for _, members in sorted(by_host.items(), key=lambda kv: -len(kv[1])):
            smallest = min(range(workers), key=lambda b: (len(bins[b]), b))
            bins[smallest].extend(members)
    else:
        for n, i in enumerate(fetchable):
            bins[n % workers].append(i)
    shards = []
    for members in (sorted(b) for b in bins if b):
        hosts = tuple(dict.fromkeys((targets[i].address.host or "").lower() for i in members))
        shards.append(Shard(len(shards), tuple(members), hosts))
    return shards


def options_dict(options: FetchOptions) -> dict[str, Any]:
    return dataclasses.asdict(options)


def load_plan(path: str | Path) -> dict[str, Any]:
    plan = json.loads(Path(path).read_text("utf-8"))
    if plan.get("format") != PLAN_FORMAT:
        raise HarnessError(f"{path}: not a fleet worker plan")
    return plan


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    tmp.replace(path)


def shard_file(work: Path, index: int) -> Path:
    return work / f"shard-{index}.json"


def progress_file(work: Path, index: int) -> Path:
    return work / f"shard-{index}.progress"


def error_file(work: Path, index: int) -> Path:
    return work / f"shard-{index}.error"


def run_shard(plan: dict[str, Any], index: int) -> Path:
    """Fetch one shard of a plan (in a worker) and write its tenants' objects; returns the file.
    Whatever stops it is written to ``shard-<i>.error`` for the parent to report, then raised."""
    try:
        return _run_shard(plan, index)
    except BaseException as exc:
        text = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
        error_file(Path(plan["work"]), index).write_text(text, "utf-8")
        raise


def _run_shard(plan: dict[str, Any], index: int) -> Path:
    from harness.catalog import load_named_set
    from harness.fleet.cassettes import FleetCassettes
    from harness.fleet.directory import distinct_targets, load_directory
    from harness.fleet.run import run_fleet

    shard = next(s for s in plan["shards"] if s["index"] == index)
    work = Path(plan["work"])
    directory = load_directory(plan["endpoints"])
    targets = distinct_targets(directory)
    if plan.get("limit"):
        targets = targets[: plan["limit"]]
    if [t.key for t in targets] != plan["keys"]:
        raise HarnessError(f"{plan['endpoints']}: the endpoint file changed while the fleet ran")
    mine = [targets[i] for i in shard["targets"]]
    cassettes = FleetCassettes(plan["cassettes"]["mode"], plan["cassettes"]["dir"]) if plan.get("cassettes") else None
    with progress_file(work, index).open("a", encoding="utf-8") as ticks:
        def tick(_result: TenantResult) -> None:
            ticks.write(".")
            ticks.flush()

        run = run_fleet(directory, mine, load_named_set(plan["apis"]), FetchOptions(**plan["options"]),
                        progress=tick, cassettes=cassettes)
    out = shard_file(work, index)
    _write_json(out, {
        "index": index,
        "pid": os.getpid(),
        "worker": os.environ.get("PYTEST_XDIST_WORKER"),
        "tenants": [[i, row] for i, row in zip(shard["targets"], run.tenant_dicts())],
        "requests": run.requests,
        "wall_s": round(run.wall_s, 3),
    })
    return out


@dataclass
class DistributedRun:
    """A fleet run merged from its workers' shards; reads like a :class:`~harness.fleet.run.FleetRun`."""

    directory: Directory
    requested: RequestedApis
    options: FetchOptions
    rows: list[dict[str, Any]]
    workers: int
    shards: list[dict[str, Any]] = field(default_factory=list)
    keep_hosts: bool = True
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    wall_s: float = 0.0
    requests: int = 0
    paced: bool = True  # the per-host rate limit applied (not under replay)

    def tenant_dicts(self) -> list[dict[str, Any]]:
        return self.rows

    def as_dict(self) -> dict[str, Any]:
        report = report_dict(self.directory, self.requested, self.options, self.rows, started=self.started,
                             wall_s=self.wall_s, requests=self.requests, paced=self.paced)
        report["distribution"] = {
            "workers": self.workers,
            "sharding": "by host" if self.keep_hosts else "by tenant",
            "shards": self.shards,
        }
        return report


def _tenants(count: int) -> str:
    return f"{count} tenant" + ("" if count == 1 else "s")


def _child_env(plan_path: Path) -> dict[str, str]:
    # nothing of an enclosing pytest run (options, plugins, its own xdist worker's identity)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_CURRENT_TEST") and not k.startswith("PYTEST_XDIST")}
    env[PLAN_ENV] = str(plan_path)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only xdist, named below: not the harness's plugin, nor any other
    root = str(Path(__file__).resolve().parents[2])  # the harness importable even when not installed
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _command(work: Path, workers: int) -> list[str]:
    ini = work / "pytest.ini"
    ini.write_text("[pytest]\naddopts =\npython_functions = test_*\n", "utf-8")
    return [sys.executable, "-m", "pytest", str(SHARD_MODULE), "-c", str(ini), "--rootdir", str(work),
            "-p", "xdist", "-n", str(workers), "--dist", "load", "-p", "no:cacheprovider", "--noconftest",
            "-q", "-rfE", "--color=no"]


def _ticks(work: Path, shards: Sequence[Shard]) -> int:
    total = 0
    for shard in shards:
        try:
            total += progress_file(work, shard.index).stat().st_size
        except FileNotFoundError:
            pass
    return total


def _stop(child: subprocess.Popen[bytes]) -> None:
    """Interrupt the child's pytest and its workers (their own process group), then make sure."""
    try:
        os.killpg(child.pid, signal.SIGINT)
        child.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()


def run_fleet_distributed(
    directory: Directory,
    targets: Sequence[Target],
    requested: RequestedApis,
    options: FetchOptions,
    *,
    workers: int,
    endpoints: str | Path,
    limit: int | None = None,
    cassettes: tuple[str, str | Path] | None = None,
    progress: Callable[[Any], None] | None = None,
) -> DistributedRun:
    """Run ``targets`` (the first ``limit`` distinct targets of ``endpoints``) across ``workers``
    pytest-xdist workers; ``cassettes`` is (mode, folder) for record or replay."""
    if requested.name is None:
        raise HarnessError("fleet workers need a named API set")
    started_at = datetime.now(timezone.utc)
    started = time.monotonic()
    keep_hosts = bool(options.per_host_rps)
    shards = plan_shards(targets, workers, keep_hosts=keep_hosts)
    rows: dict[int, dict[str, Any]] = {}
    sharded = {i for s in shards for i in s.targets}
    for i, target in enumerate(targets):
        if i not in sharded:
            rows[i] = TenantResult(target).as_dict()  # a malformed address: nothing to fetch
            if progress is not None:
                progress(None)
    run = DistributedRun(directory, requested, options, [], workers=workers, keep_hosts=keep_hosts,
                         started=started_at, paced=not (cassettes is not None and cassettes[0] == "replay"))
    if shards:
        with tempfile.TemporaryDirectory(prefix="epic-harness-fleet-") as tmp:
            work = Path(tmp)
            plan = {
                "format": PLAN_FORMAT,
                "work": str(work),
                "endpoints": str(Path(endpoints).resolve()),
                "limit": limit,
                "apis": requested.name,
                "options": options_dict(options),
                "cassettes": {"mode": cassettes[0], "dir": str(Path(cassettes[1]).resolve())} if cassettes else None,
                "keys": [t.key for t in targets],
                "shards": [s.as_dict() for s in shards],
            }
            plan_path = work / "plan.json"
            _write_json(plan_path, plan)
            log_path = work / "pytest.log"
            with log_path.open("wb") as log:
                child = subprocess.Popen(_command(work, len(shards)), stdout=log, stderr=subprocess.STDOUT,
                                         env=_child_env(plan_path), cwd=work, start_new_session=True)
                try:
                    seen = 0
                    while child.poll() is None:
                        time.sleep(_POLL_S)
                        if progress is not None:
                            now = _ticks(work, shards)
                            for _ in range(now - seen):
                                progress(None)
                            seen = now
                except BaseException:
                    _stop(child)
                    raise
            results = []
            for shard in shards:
                path = shard_file(work, shard.index)
                error = error_file(work, shard.index)
                if error.is_file():
                    raise HarnessError(f"fleet worker for shard {shard.index} ({_tenants(len(shard.targets))}) "
                                       f"failed: {error.read_text('utf-8', 'replace')}")
                if not path.is_file():
                    tail = log_path.read_text("utf-8", "replace").strip().splitlines()[-25:]
                    raise HarnessError(f"fleet worker for shard {shard.index} ({_tenants(len(shard.targets))}) "
                                       f"wrote no result (pytest exit {child.returncode}):\n" + "\n".join(tail))
                results.append(json.loads(path.read_text("utf-8")))
        for shard, result in zip(shards, results):
            for i, row in result["tenants"]:
                rows[i] = row
            run.requests += result["requests"]
            run.shards.append({"index": shard.index, "tenants": len(shard.targets), "hosts": len(shard.hosts),
                               "worker": result.get("worker"), "requests": result["requests"],
                               "wall_s": result["wall_s"]})
    run.rows = [rows[i] for i in range(len(targets))]
    run.wall_s = time.monotonic() - started
    return run
