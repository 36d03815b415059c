"""What the fleet tests share: the command as a user calls it, fast options, fleet.json without timings,
and a few tenants of the sandbox fleet that show its rules as well as a whole fleet does."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

import pytest

from harness.fleet.cli import add_fleet_parser
from harness.sandbox.fleet import VARIATION_COUNTS, FleetSpec, build_fleet

#: the sandbox fleet is served on loopback, which the fleet fetches only when allowed
FAST = ("--timeout", "1", "--retries", "1", "--per-host-rps", "0", "--allow-loopback")
RUN_TIMING = {"wall_s", "sum_tenant_s", "parallelism"}

#: every variation of the default fleet but "hang", whose documents cost two timeouts each: the others
#: answer (or fail) at once
QUICK_VARIATIONS = ("current", *(v for v in VARIATION_COUNTS if v != "hang"))


def fleet(*argv: str) -> int:
    """``epic-harness fleet ARGV`` in this process; its exit code."""
    parser = argparse.ArgumentParser(prog="epic-harness")
    add_fleet_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fleet", *argv])
    return args.handler(args)


def untimed(value: Any) -> Any:
    """A fleet.json value without its per-tenant timings."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k != "elapsed_s"}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def sample(spec: FleetSpec, variations: Iterable[str] = (), *, shared: int = 0, names: Iterable[str] = (),
           off_fleet: bool = True) -> FleetSpec:
    """A few tenants of ``spec``, in its order: the first single-address tenant of each variation named,
    the first ``shared`` addresses several organisations share, and the tenants ``names`` names; with
    ``off_fleet`` its unreachable and malformed addresses too. Every variation named must be there."""
    wanted = set(names)
    for variation in variations:
        found = [t for t in spec.of_variation(variation) if len(t.organizations) == 1]
        assert found, f"the fleet has no single-address tenant of variation {variation!r}"
        wanted.add(found[0].name)
    wanted.update(t.name for t in [t for t in spec.tenants if len(t.organizations) > 1][:shared])
    tenants = tuple(t for t in spec.tenants if t.name in wanted)
    return FleetSpec(spec.seed, tenants, spec.unreachable if off_fleet else (), spec.malformed if off_fleet else ())


def addresses(spec: FleetSpec) -> tuple[int, int, int]:
    """(directory entries, distinct addresses, addresses fetched) of ``spec``'s directory: one entry per
    organisation; the malformed addresses are never fetched."""
    entries = sum(len(t.organizations) for t in spec.tenants) + len(spec.unreachable) + len(spec.malformed)
    fetched = len(spec.tenants) + len(spec.unreachable)
    return entries, fetched + len(spec.malformed), fetched


#: the variations whose documents answer 503 first: retried after the command's backoff (half a second)
RETRIED = ("flaky", "metadata-503", "down-503")

#: the 60-tenant fleet of seed 3, every variation in the counts of the 420-tenant one
SMALL = build_fleet(seed=3, size=60)
#: one tenant of each quick variation, two shared addresses, the unreachable and malformed addresses
QUICK = sample(SMALL, QUICK_VARIATIONS, shared=2)
#: as QUICK, less the variations retried: every request is answered on its first attempt
AT_ONCE = sample(SMALL, [v for v in QUICK_VARIATIONS if v not in RETRIED], shared=2)


class ShardsInProcess:
    """Stands for the child ``pytest harness/fleet/xdist_shards.py -p xdist -n N`` that ``--workers N``
    starts: the plan's shards are run in this process, one after the other, by the test each xdist
    worker runs (``xdist_shards.test_shard``), so that the parent's planning, error reporting and merging
    are what a test sees, without starting pytest and its workers (the end-to-end test of
    ``test_fleet_workers.py`` starts them). No xdist worker name is recorded."""

    commands: list[list[str]] = []

    def __init__(self, argv: list[str], *, env: dict[str, str], **_: Any) -> None:
        from harness.fleet import xdist_shards
        from harness.fleet.distribute import PLAN_ENV, load_plan

        self.commands.append(list(argv))
        plan = load_plan(env[PLAN_ENV])
        self.returncode = 0
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(PLAN_ENV, env[PLAN_ENV])
            patch.delenv("PYTEST_XDIST_WORKER", raising=False)
            for shard in plan["shards"]:
                try:
                    xdist_shards.test_shard(shard["index"])
                except Exception:  # as pytest would: the shard's test fails, the others run
                    self.returncode = 1

    def poll(self) -> int:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode
