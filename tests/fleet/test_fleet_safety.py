"""A hostile directory entry cannot make the fleet reach an internal address: every target is
judged after resolution, the connection goes to the address judged, redirects are judged too,
and what an internal service answers is never written down."""

from __future__ import annotations

import asyncio
import json

import httpcore
import pytest

from harness.catalog import load_named_set
from harness.fleet.directory import distinct_targets, parse_text
from harness.fleet.fetch import Fetcher, FetchOptions
from harness.fleet.report import write_all
from harness.fleet.run import run_fleet
from harness.fleet.targets import REFUSALS
from tests.fleet.fleet_helpers import FAST, fleet
from tests.fleet.local_servers import FakeDNS, Reply, Server, TestCA, json_reply, tcp_banner

STATEMENT = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
             "software": {"name": "Epic", "version": "February 2026"}, "rest": []}
SMART = {"grant_types_supported": ["client_credentials"]}
QUICK = FetchOptions(per_host_rps=None, connect_timeout=1.0, read_timeout=1.0, retries=0, tls_probes=False)


@pytest.fixture
def connections(monkeypatch):
    """Every TCP connection the fleet opens: (host, port) as given to the network backend."""
    made: list[tuple[str, int]] = []
    real = httpcore.AnyIOBackend.connect_tcp

    async def spy(self, host, port, *args, **kwargs):
        made.append((host, port))
        return await real(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", spy)
    return made


@pytest.fixture
def dns(monkeypatch):
    import harness.fleet.fetch as fetch_module

    def install(answers):
        fake = FakeDNS(answers)
        monkeypatch.setattr(fetch_module.socket, "getaddrinfo", fake)
        return fake

    return install


def run(lines: list[str], options: FetchOptions = QUICK):
    directory = parse_text("\n".join(lines) + "\n", "list")
    return run_fleet(directory, distinct_targets(directory), load_named_set("careforce-phoenix"), options)


def tenant_server() -> Server:
    return Server({"/t/*": lambda path: json_reply(STATEMENT if path.endswith("/metadata") else SMART)})


def test_internal_targets_are_refused_after_resolution_and_nothing_is_sent(dns, connections):
    fake = dns({
        "cloud-metadata.example.org": ["169.254.169.254"],
        "intranet.example.org": ["10.0.0.5"],
        "two-faced.example.org": ["93.184.216.34", "192.168.1.7"],
        "mapped.example.org": ["::ffff:10.0.0.5"],
        "carrier.example.org": ["100.64.1.1"],
        "ula.example.org": ["fd00:ec2::254"],
        "zero.example.org": ["0.0.0.0"],
        "group.example.org": ["239.1.2.3"],
        "future.example.org": ["240.0.0.9"],
        "home.example.org": ["127.0.0.1"],
    })
    cases = {
        "https://169.254.169.254/api/FHIR/R4": ("refused-link-local", "refused: link-local address 169.254.169.254"),
        "https://[fd00:ec2::254]/api/FHIR/R4": ("refused-private", "refused: private address fd00:ec2::254"),
        "https://0.0.0.0/api/FHIR/R4": ("refused-unspecified", "refused: unspecified address 0.0.0.0"),
        "https://[::ffff:169.254.169.254]/api/FHIR/R4": (
            "refused-link-local", "refused: link-local address 169.254.169.254 (IPv4-mapped ::ffff:169.254.169.254)"),
        "https://localhost:22/api/FHIR/R4": ("refused-loopback", "refused: localhost is a loopback name"),
        "http://127.0.0.1:8080/api/FHIR/R4": ("refused-loopback", "refused: loopback address 127.0.0.1"),
        "https://metadata.google.internal/computeMetadata/api/FHIR/R4": (
            "refused-private", "refused: metadata.google.internal is a private-use name (.internal)"),
        "https://cloud-metadata.example.org/api/FHIR/R4": (
            "refused-link-local", "refused: link-local address 169.254.169.254 (cloud-metadata.example.org)"),
        "https://intranet.example.org/api/FHIR/R4": (
            "refused-private", "refused: private address 10.0.0.5 (intranet.example.org)"),
        "https://two-faced.example.org/api/FHIR/R4": (
            "refused-private", "refused: private address 192.168.1.7 (two-faced.example.org)"),
        "https://mapped.example.org/api/FHIR/R4": (
            "refused-private", "refused: private address 10.0.0.5 (IPv4-mapped ::ffff:10.0.0.5, mapped.example.org)"),
        "https://carrier.example.org/api/FHIR/R4": (
            "refused-cgnat", "refused: shared (carrier-grade NAT) address 100.64.1.1 (carrier.example.org)"),
        "https://ula.example.org/api/FHIR/R4": (
            "refused-private", "refused: private address fd00:ec2::254 (ula.example.org)"),
        "https://zero.example.org/api/FHIR/R4": (
            "refused-unspecified", "refused: unspecified address 0.0.0.0 (zero.example.org)"),
        "https://group.example.org/api/FHIR/R4": (
            "refused-multicast", "refused: multicast address 239.1.2.3 (group.example.org)"),
        "https://future.example.org/api/FHIR/R4": (
            "refused-reserved", "refused: reserved address 240.0.0.9 (future.example.org)"),
        "https://home.example.org/api/FHIR/R4": (
            "refused-loopback", "refused: loopback address 127.0.0.1 (home.example.org)"),
    }
    rows = run(list(cases)).tenant_dicts()
    for row, (address, (outcome, detail)) in zip(rows, cases.items(), strict=True):
        for doc in (row["metadata"], row["smart_configuration"]):
            assert (doc["outcome"], doc["detail"], doc["attempts"]) == (outcome, detail, 0), address
        assert row["failure"] == outcome and row["status"] == "failed"
    assert connections == []  # not one connection was opened
    assert "metadata.google.internal" not in fake.asked and "localhost" not in fake.asked  # refused by name
    assert sorted(set(fake.asked)) == sorted(n for n in fake.answers)  # each name looked up
    assert all(fake.asked.count(n) == 1 for n in fake.answers)  # once


def test_allow_loopback_allows_loopback_and_nothing_else(dns, connections):
    dns({"intranet.example.org": ["10.0.0.5"], "meta.example.org": ["169.254.169.254"], "localhost": ["127.0.0.1"]})
    with tenant_server() as server:
        rows = run([f"{server.origin()}/t/a/api/FHIR/R4", f"{server.origin('localhost')}/t/b/api/FHIR/R4",
                    "https://intranet.example.org/api/FHIR/R4", "https://meta.example.org/api/FHIR/R4",
                    "https://192.168.0.10/api/FHIR/R4"],
                   FetchOptions(**{**QUICK.__dict__, "allow_loopback": True})).tenant_dicts()
        assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed", "failed"]
        assert [r["failure"] for r in rows[2:]] == ["refused-private", "refused-link-local", "refused-private"]
        assert len(server.seen) == 4
    assert {host for host, _ in connections} <= {"127.0.0.1", "::1"}


def test_the_connection_goes_to_the_address_judged_not_to_a_second_answer(dns, connections):
    """DNS rebinding: the name answers a public address when judged and loopback afterwards."""
    with tenant_server() as server:
        fake = dns({"rebind.example.org": [["93.184.216.34"], ["127.0.0.1"]]})
        rows = run([f"https://rebind.example.org:{server.port}/t/a/api/FHIR/R4"],
                   FetchOptions(**{**QUICK.__dict__, "connect_timeout": 0.3}))
        assert server.seen == []  # the loopback server never heard of it
    assert fake.asked == ["rebind.example.org"]  # looked up once, by the fleet
    assert connections and all(host == "93.184.216.34" for host, _ in connections)
    assert rows.tenants[0].metadata.outcome in ("connect", "timeout")


def test_tls_and_host_name_the_tenant_while_the_socket_goes_to_its_checked_address(dns, tmp_path, connections):
    ca = TestCA(tmp_path)
    with Server({"/t/*": lambda p: json_reply(STATEMENT if p.endswith("/metadata") else SMART)},
                ca.server_context("tenant.example.org")) as server:
        dns({"tenant.example.org": ["127.0.0.1"]})
        options = FetchOptions(**{**QUICK.__dict__, "allow_loopback": True, "ca_file": str(ca.pem)})
        rows = run([f"https://tenant.example.org:{server.port}/t/a/api/FHIR/R4"], options).tenant_dicts()
        assert rows[0]["status"] == "ok"
        assert set(server.sni) == {"tenant.example.org"}
        assert {s.headers["host"] for s in server.seen} == {f"tenant.example.org:{server.port}"}
    assert set(connections) == {("127.0.0.1", server.port)}


def test_redirects_are_judged_before_they_are_followed(dns, tmp_path, connections):
    ca = TestCA(tmp_path)
    dns({"intranet.example.org": ["10.0.0.5"]})
    with Server({"*": Reply(200, {"content-type": "text/plain"}, b"plain http answered")}) as plain:
        def route(path: str) -> Reply:
            tenant = path.split("/")[2]
            if tenant == "ok":
                return json_reply(STATEMENT if path.endswith("/metadata") else SMART)
            target = {
                "moved": path.replace("/t/moved/", "/t/ok/"),
                "downgrade": f"{plain.origin()}{path}",
                "inward": f"https://intranet.example.org{path}",
                "loop": path,
                "gopher": "gopher://example.org/1",
            }[tenant]
            return Reply(302, {"location": target, "content-type": "text/html"}, b"")

        with Server({"/t/*": route}, ca.server_context("127.0.0.1")) as server:
            options = FetchOptions(**{**QUICK.__dict__, "allow_loopback": True, "ca_file": str(ca.pem)})
            rows = {r["name"]: r for r in run([f"{server.origin()}/t/{n}/api/FHIR/R4 {n}" for n in
                                               ("moved", "downgrade", "inward", "loop", "gopher")],
                                              options).tenant_dicts()}
            loops = [s for s in server.seen if s.path.startswith("/t/loop/") and s.path.endswith("/metadata")]
        assert plain.seen == []  # https never fell back to plain http
    moved = rows["moved"]["metadata"]
    assert moved["outcome"] == "ok" and moved["redirected_to"].endswith("/t/ok/api/FHIR/R4/metadata")
    down = rows["downgrade"]["metadata"]
    assert (down["outcome"], down["http_status"]) == ("refused-redirect", 302)
    assert down["detail"].startswith("refused: a redirect from https to plain http (http://127.0.0.1:")
    inward = rows["inward"]["metadata"]
    assert inward["outcome"] == "refused-private"
    assert inward["detail"] == ("refused: private address 10.0.0.5 (intranet.example.org) (redirected to "
                                "https://intranet.example.org/t/inward/api/FHIR/R4/metadata)")
    loop = rows["loop"]["metadata"]
    assert (loop["outcome"], loop["detail"]) == ("http-other", "more than 3 redirects")
    assert len(loops) == 4  # the first request and three redirects, then no more
    assert rows["gopher"]["metadata"]["outcome"] == "refused-redirect"
    assert all(host == "127.0.0.1" for host, _ in connections)


SECRET = "ssh-rsa-INTERNAL-SECRET root:x:0:0"


def test_what_an_internal_or_broken_service_answers_is_never_written_down(tmp_path):
    served = {
        "text": Reply(200, {"content-type": "text/plain"}, SECRET.encode()),
        "html": Reply(200, {"content-type": "text/html"}, f"<html>{SECRET}</html>".encode()),
        "xml": Reply(200, {"content-type": "application/xml"}, f"<x>{SECRET}</x>".encode()),
        "error": Reply(500, {"content-type": "text/plain"}, SECRET.encode()),
        "list": Reply(200, {"content-type": "application/json"}, json.dumps([SECRET]).encode()),
        "ctype": Reply(200, {"content-type": f"text/plain; {SECRET}"}, b"x"),
    }
    with Server({"/t/*": lambda p: served[p.split("/")[2]]}) as server, \
            tcp_banner(f"SSH-2.0-OpenSSH {SECRET}\r\n".encode()) as ssh:
        lines = [f"{server.origin()}/t/{n}/api/FHIR/R4 {n}" for n in served]
        lines.append(f"http://127.0.0.1:{ssh.port}/t/ssh/api/FHIR/R4 ssh")
        report = run(lines, FetchOptions(**{**QUICK.__dict__, "allow_loopback": True})).as_dict()
    rows = {r["name"]: r["metadata"] for r in report["tenants"]}
    assert rows["text"]["outcome"] == "not-json"
    assert rows["text"]["detail"] == "HTTP 200: the body is not JSON (Content-Type text/plain; 34 bytes)"
    assert rows["html"]["outcome"] == "html" and rows["html"]["detail"].endswith("(Content-Type text/html; 47 bytes)")
    assert rows["xml"]["outcome"] == "not-json" and rows["list"]["outcome"] == "not-json"
    assert (rows["error"]["outcome"], rows["error"]["detail"]) == ("http-5xx", "HTTP 500")
    assert rows["ssh"]["outcome"] == "connect"
    assert rows["ssh"]["detail"] == "the answer is not valid HTTP/1.1 (RemoteProtocolError)"
    write_all(report, tmp_path)
    for name in ("fleet.json", "fleet.csv", "fleet.html"):
        assert "INTERNAL-SECRET" not in (tmp_path / name).read_text("utf-8"), name
    # of a content type only the media type and charset are kept
    assert rows["ctype"]["content_type"] == "text/plain"


def test_hostile_bodies_are_classified_and_the_run_goes_on():
    nested = b"[" * 100_000 + b"]" * 100_000
    served = {
        "deep": Reply(200, {"content-type": "application/json"}, nested),
        "odd": Reply(200, {"content-type": "application/fhir+json"},
                     json.dumps({"resourceType": "CapabilityStatement", "rest": "not a list",
                                 "software": ["x"]}).encode()),
        "ok": json_reply(STATEMENT),
    }
    def route(path: str) -> Reply:
        return served[path.split("/")[2]] if path.endswith("/metadata") else json_reply(SMART)

    with Server({"/t/*": route}) as server:
        rows = {r["name"]: r for r in run([f"{server.origin()}/t/{n}/api/FHIR/R4 {n}" for n in served],
                                          FetchOptions(**{**QUICK.__dict__, "allow_loopback": True})).tenant_dicts()}
    assert (rows["deep"]["metadata"]["outcome"], rows["deep"]["metadata"]["detail"]) == (
        "not-json", "HTTP 200: JSON nested too deeply to read (200,000 bytes)")
    assert rows["odd"]["metadata"]["outcome"] == "wrong-document"
    assert "cannot read" in rows["odd"]["metadata"]["detail"]
    assert rows["ok"]["status"] == "ok"


def test_every_refusal_class_is_a_failure_class():
    from harness.fleet.fetch import FAILURES

    assert set(REFUSALS) <= set(FAILURES)


def test_without_allow_loopback_the_sandbox_fleet_is_refused_and_the_run_is_an_error(small_fleet, tmp_path, capsys):
    endpoints = small_fleet.write_directory(tmp_path / "endpoints.json")
    without = [a for a in FAST if a != "--allow-loopback"]
    assert fleet("--endpoints", str(endpoints), "--report-dir", str(tmp_path / "r"), *without) == 1
    assert small_fleet.fleet.requests == 0
    out, err = capsys.readouterr()
    assert "refused (not public addresses, nothing sent): refused-loopback 65" in out
    assert err.strip() == ("epic-harness fleet: no tenant answered: 69 fetched, none answered a document (metadata: "
                           "refused-loopback 65, dns 4); loopback addresses are fetched only with --allow-loopback "
                           "(the sandbox fleet, tests)")
    report = json.loads((tmp_path / "r" / "fleet.json").read_text("utf-8"))
    assert report["options"]["allow_loopback"] is False and report["stats"]["answered"] == 0


def test_the_fetcher_never_switches_verification_off():
    import dataclasses

    assert "verify" not in {f.name for f in dataclasses.fields(FetchOptions)}

    async def go():
        async with Fetcher(FetchOptions()) as fetcher:
            return fetcher._client._transport  # type: ignore[union-attr]

    transport = asyncio.run(go())
    context = transport._pool._pool._ssl_context
    assert context.verify_mode.name == "CERT_REQUIRED" and context.check_hostname
