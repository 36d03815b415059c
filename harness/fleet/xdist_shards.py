"""The pytest module behind ``epic-harness fleet --workers N``: one test per shard of the fleet.

Run by :func:`harness.fleet.distribute.run_fleet_distributed` as
``pytest harness/fleet/xdist_shards.py -p xdist -n N`` with the plan's path in
``EPIC_HARNESS_FLEET_PLAN``; each xdist worker takes a shard, fetches its tenants and writes
``shard-<i>.json`` next to the plan. Collected without a plan, it holds no test.
"""

from __future__ import annotations

import os

import pytest

from harness.fleet.distribute import PLAN_ENV, load_plan, run_shard


def _plan() -> dict | None:
    path = os.environ.get(PLAN_ENV)
    return load_plan(path) if path else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "shard" not in metafunc.fixturenames:
        return
    plan = _plan()
    shards = plan["shards"] if plan else []
    metafunc.parametrize("shard", [s["index"] for s in shards],
                         ids=[f"shard-{s['index']}-{len(s['targets'])}-tenants" for s in shards])


def test_shard(shard: int) -> None:
    plan = _plan()
    assert plan is not None, f"{PLAN_ENV} names no plan"
    run_shard(plan, shard)
