"""The simulated fleet on several loopback host names, as the real fleet sits on many hosts, and
its tenants served as sandboxes with the faults of their variation."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import httpx

from harness.sandbox.faults.catalog import CATALOG
from harness.sandbox.fleet import EmbeddedFleet, build_fleet, host_aliases, host_of


def test_aliases_are_loopback_addresses_after_the_host() -> None:
    assert host_aliases("127.0.0.1", 3) == ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    assert host_aliases("localhost", 5) == ("localhost",)
    assert host_aliases("10.0.0.1", 5) == ("10.0.0.1",)


def test_tenants_are_spread_over_hosts_and_each_host_serves() -> None:
    spec = build_fleet(seed=3, size=60)
    with EmbeddedFleet(spec, hosts=6) as fleet, httpx.Client(timeout=5) as client:
        addresses = [e["resource"]["address"] for e in fleet.directory()["entry"]
                     if "/t/" in e["resource"]["address"] and "broken" not in e["resource"]["address"]]
        hosts = Counter(urlsplit(address).hostname for address in addresses)
        assert set(hosts) <= set(fleet.hosts) and len(hosts) == 6
        for tenant in spec.of_variation("current")[:6]:
            base = fleet.tenant_base(tenant.name)
            assert urlsplit(base).hostname == host_of(tenant.name, fleet.hosts)
            body = client.get(f"{base}/metadata", headers={"accept": "application/fhir+json"}).json()
            assert body["software"]["version"] == tenant.release
            assert body["implementation"]["url"] == base  # every URL under the host it was asked on


def test_a_tenants_host_stays_when_the_fleet_changes() -> None:
    spec = build_fleet(seed=3, size=60)
    hosts = host_aliases("127.0.0.1", 8)
    before = {t.name: host_of(t.name, hosts) for t in spec.tenants}
    smaller = spec.tenants[5:]
    assert all(host_of(t.name, hosts) == before[t.name] for t in smaller)


def test_every_fleet_tenant_is_described_by_sandbox_faults() -> None:
    for tenant in build_fleet(seed=7, size=420).tenants:
        for fault in tenant.faults():
            CATALOG.parse(fault)  # each is a fault the sandbox knows


def test_the_fleet_module_refuses_a_busy_port_in_one_line(tmp_path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "harness.sandbox.fleet", "--port", str(port), "--directory",
                               str(tmp_path / "d.json")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and f"port {port}" in done.stderr
    assert not (tmp_path / "d.json").exists()
