"""``epic-harness fleet --workers N``: the tenants split across pytest-xdist workers, merged into the
same report a single process writes; a host kept on one worker while a per-host limit is in force.

One test starts pytest and its workers, as the command does; the others run the shards in this process
(``shards_in_process``), where the parent's planning, merging and error reports are the same."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.catalog import load_named_set
from harness.errors import HarnessError
from harness.fleet.directory import distinct_targets, load_directory, parse_text
from harness.fleet.distribute import plan_shards, run_fleet_distributed
from harness.sandbox.fleet import EmbeddedFleet, build_fleet, write_endpoint_directory
from tests.fleet.fleet_helpers import FAST, RUN_TIMING, SMALL, addresses, fleet, untimed


def load(folder: Path) -> dict:
    return json.loads((folder / "fleet.json").read_text("utf-8"))


def csv_rows(folder: Path) -> list[dict]:
    with (folder / "fleet.csv").open(encoding="utf-8", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in csv.DictReader(handle)]


def targets_of(text: str):
    return distinct_targets(parse_text(text, "list"))


def test_a_host_stays_on_one_shard_and_hosts_are_packed_evenly():
    hosts = {"a.example.org": 3, "b.example.org": 2, "c.example.org": 1, "d.example.org": 1, "e.example.org": 1}
    lines = [f"https://{h}/t{i}/api/FHIR/R4" for h, n in hosts.items() for i in range(n)]
    lines += ["https://a.example.org:8443/t0/api/FHIR/R4", "ftp://bad.example.org/api/FHIR/R4", "not a url"]
    targets = targets_of("\n".join(lines))
    shards = plan_shards(targets, 2)
    assert [len(s.targets) for s in shards] == [5, 4]
    owner: dict[str, int] = {}
    for shard in shards:
        for i in shard.targets:
            assert owner.setdefault(targets[i].address.host, shard.index) == shard.index
    assert set(owner) == set(hosts) | {"a.example.org:8443"}  # another port is another host, as the limiter counts
    assert sorted(i for s in shards for i in s.targets) == list(range(9))  # every fetchable tenant, once; no malformed
    assert all(list(s.targets) == sorted(s.targets) for s in shards)  # directory order within a shard


def test_without_a_limit_tenants_are_dealt_out_and_shards_never_outnumber_the_work():
    targets = targets_of("\n".join(f"https://one.example.org/t{i}/api/FHIR/R4" for i in range(5)))
    assert [s.targets for s in plan_shards(targets, 2, keep_hosts=False)] == [(0, 2, 4), (1, 3)]
    assert [s.targets for s in plan_shards(targets, 2, keep_hosts=True)] == [(0, 1, 2, 3, 4)]
    assert [len(s.targets) for s in plan_shards(targets, 8, keep_hosts=False)] == [1] * 5
    assert plan_shards(targets_of("not a url\n"), 4) == []


@pytest.mark.e2e
def test_workers_2_writes_what_one_process_writes(at_once_fleet, tmp_path):
    endpoints = at_once_fleet.write_directory(tmp_path / "endpoints.json")
    _, distinct, fetched = addresses(at_once_fleet.spec)
    one, two = tmp_path / "one", tmp_path / "two"
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(one), *FAST) == 0
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(two), "--workers", "2", *FAST) == 0
    single, merged = load(one), load(two)

    assert len(merged["tenants"]) == len(single["tenants"]) == distinct
    for a, b in zip(single["tenants"], merged["tenants"], strict=True):
        assert untimed(a) == untimed(b), a["key"]
    assert ({k: v for k, v in merged["stats"].items() if k not in RUN_TIMING}
            == {k: v for k, v in single["stats"].items() if k not in RUN_TIMING})
    assert merged["options"] == single["options"] and merged["directory"] == single["directory"]
    assert "distribution" not in single

    spread = merged["distribution"]
    assert spread["workers"] == 2 and spread["sharding"] == "by tenant"  # no per-host limit to keep
    assert [s["tenants"] for s in spread["shards"]] == [(fetched + 1) // 2, fetched // 2]  # malformed: none, dealt out
    assert {s["worker"] for s in spread["shards"]} == {"gw0", "gw1"}
    assert sum(s["requests"] for s in spread["shards"]) == merged["stats"]["requests"]

    assert csv_rows(one) == csv_rows(two)
    assert len(list((two / "allure-results").glob("*-result.json"))) == distinct
    assert (two / "fleet.html").read_text("utf-8").startswith("<!DOCTYPE html>")


def test_with_a_per_host_limit_each_host_is_fetched_by_one_worker(small_fleet, shards_in_process, tmp_path, capsys):
    other_spec = build_fleet(seed=4, size=50)
    with EmbeddedFleet(other_spec) as other:
        lines = [f"{small_fleet.tenant_base(t.name)}  {t.name}" for t in small_fleet.spec.of_variation("current")[:6]]
        lines += [f"{other.tenant_base(t.name)}  {t.name}" for t in other_spec.of_variation("current")[:5]]
        endpoints = tmp_path / "bases.txt"
        endpoints.write_text("\n".join(lines) + "\n", "utf-8")
        limited = ("--timeout", "2", "--retries", "1", "--per-host-rps", "50", "--allow-loopback")
        assert fleet("--endpoints", str(endpoints), "--report-dir", str(tmp_path / "one"), *limited) == 0
        assert fleet("--endpoints", str(endpoints), "--report-dir", str(tmp_path / "two"), "--workers", "3",
                     *limited) == 0
    single, merged = load(tmp_path / "one"), load(tmp_path / "two")
    assert [untimed(t) for t in merged["tenants"]] == [untimed(t) for t in single["tenants"]]
    assert all(t["status"] == "ok" for t in merged["tenants"])
    spread = merged["distribution"]
    # two hosts: two shards, whatever the workers asked for, each host whole on one of them
    assert spread["sharding"] == "by host"
    assert [(s["tenants"], s["hosts"]) for s in spread["shards"]] == [(6, 1), (5, 1)]
    [command] = shards_in_process
    assert command[command.index("-n") + 1] == "2"  # pytest asked for two workers, not three
    out = capsys.readouterr().out
    assert "workers: 3, sharded by host (tenants per shard: 6, 5)" in out


def test_a_worker_that_cannot_do_its_shard_is_one_clear_error(shards_in_process, tmp_path):
    endpoints = write_endpoint_directory(SMALL, "http://127.0.0.1:9", tmp_path / "endpoints.json")  # nothing fetched
    directory = load_directory(endpoints)
    targets = distinct_targets(directory)[:4]
    changed = tmp_path / "changed.txt"
    changed.write_text("https://other.example.org/api/FHIR/R4\n", "utf-8")
    with pytest.raises(HarnessError, match=r"^fleet worker for shard 0 \(2 tenants\) failed: .*changed\.txt: "
                                           r"the endpoint file changed while the fleet ran$"):
        run_fleet_distributed(directory, targets, load_named_set("careforce-phoenix"), _options(), workers=2,
                              endpoints=changed)
    assert len(shards_in_process) == 1


def _options():
    from harness.fleet.fetch import FetchOptions

    return FetchOptions(per_host_rps=None, connect_timeout=1.0, read_timeout=1.0, retries=0)
