"""Bodies read with a cap: one Content-Encoding at most, a cap on the wire and once decoded, a
bomb stopped before it expands; live and under --mode record alike."""

from __future__ import annotations

import json
import zlib

import pytest

from harness.catalog import load_named_set
from harness.fleet.body import BodyTooLarge, BoundedBody, EncodingRefused, encodings
from harness.fleet.cassettes import FleetCassettes
from harness.fleet.directory import distinct_targets, parse_text
from harness.fleet.fetch import FetchOptions
from harness.fleet.run import run_fleet
from tests.fleet.local_servers import Reply, Server, json_reply

MB = 1024 * 1024
STATEMENT = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
             "software": {"name": "Epic", "version": "February 2026"}, "rest": []}


def gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return packer.compress(data) + packer.flush()


def deflate(data: bytes, raw: bool = False) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def bomb(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(MB)
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


def read(body: BoundedBody, data: bytes, chunk: int = 16384) -> bytes:
    out = bytearray()
    for i in range(0, len(data), chunk):
        out += body.feed(data[i:i + chunk])
    return bytes(out + body.close())


@pytest.mark.parametrize("coding, encode", [(None, lambda d: d), ("gzip", gzip), ("x-gzip", gzip),
                                            ("deflate", deflate), ("deflate", lambda d: deflate(d, raw=True)),
                                            ("identity", lambda d: d), ("GZIP", gzip)])
def test_one_encoding_decodes(coding, encode):
    data = json.dumps(STATEMENT).encode() * 50
    assert read(BoundedBody(coding, 1 * MB), encode(data)) == data


def test_a_bomb_stops_at_the_cap_without_expanding():
    body = BoundedBody("gzip", 1 * MB)
    packed = bomb(64)  # 64 MB of zeros in about 64 KB
    assert len(packed) < 100_000
    with pytest.raises(BodyTooLarge, match="decodes .gzip. to more than 1 MB"):
        body.feed(packed)  # one chunk: decompression is asked for the room left, never the whole
    assert body.decoded <= 1 * MB + 1


@pytest.mark.parametrize("header", ["gzip, gzip", "gzip,deflate", "deflate, gzip"])
def test_more_than_one_encoding_is_refused(header):
    with pytest.raises(EncodingRefused, match="more than one encoding"):
        BoundedBody(header, MB)


@pytest.mark.parametrize("header", ["br", "zstd", "compress"])
def test_an_encoding_not_offered_is_refused(header):
    with pytest.raises(EncodingRefused, match="was not offered"):
        BoundedBody(header, MB)


def test_the_raw_cap_and_the_declared_length():
    with pytest.raises(BodyTooLarge, match="Content-Length"):
        BoundedBody(None, MB, str(2 * MB))
    body = BoundedBody(None, MB)
    body.feed(b"x" * MB)
    with pytest.raises(BodyTooLarge, match="more than 1 MB"):
        body.feed(b"x")
    with pytest.raises(EncodingRefused, match="does not decode"):
        read(BoundedBody("gzip", MB), b"\x1f\x8b\x08\x00garbage" * 10)
    assert encodings("identity, gzip") == ["gzip"]


def hostile_server() -> Server:
    statement = json.dumps(STATEMENT).encode()
    served = {
        "bomb": Reply(200, {"content-type": "application/fhir+json", "content-encoding": "gzip"}, bomb(20)),
        "double": Reply(200, {"content-type": "application/fhir+json", "content-encoding": "gzip, gzip"},
                        gzip(bomb(20))),
        "brotli": Reply(200, {"content-type": "application/fhir+json", "content-encoding": "br"}, b"\x00" * 10),
        "big": Reply(200, {"content-type": "application/fhir+json"}, b" " * (2 * MB) + statement),
        "endless": Reply(200, {"content-type": "application/fhir+json"}, endless=True),
        "zipped": Reply(200, {"content-type": "application/fhir+json", "content-encoding": "gzip"}, gzip(statement)),
    }

    def route(path: str) -> Reply:
        name = path.split("/")[2]
        return served[name] if path.endswith("/metadata") else json_reply({"grant_types_supported": []})

    return Server({"/t/*": route})


NAMES = ("bomb", "double", "brotli", "big", "endless", "zipped")
EXPECTED = {
    "bomb": ("too-large", "the body decodes (gzip) to more than 1 MB, the cap"),
    "double": ("bad-encoding", "Content-Encoding 'gzip, gzip': more than one encoding; the fleet decodes at most one"),
    "brotli": ("bad-encoding", "Content-Encoding 'br' was not offered (the fleet accepts gzip and deflate)"),
    "big": ("too-large", "the body is 2 MB (Content-Length), over the 1 MB cap"),
    "endless": ("too-large", "the body is more than 1 MB, the cap"),
    "zipped": ("ok", None),
}


def _run(server: Server, cassettes: FleetCassettes | None = None) -> dict[str, dict]:
    directory = parse_text("".join(f"{server.origin()}/t/{n}/api/FHIR/R4 {n}\n" for n in NAMES), "list")
    options = FetchOptions(per_host_rps=None, connect_timeout=2, read_timeout=5, retries=0, max_body_bytes=MB,
                           allow_loopback=True)
    rows = run_fleet(directory, distinct_targets(directory), load_named_set("careforce-phoenix"), options,
                     cassettes=cassettes).tenant_dicts()
    return {r["name"]: r["metadata"] for r in rows}


def test_hostile_bodies_are_classified_live():
    with hostile_server() as server:
        rows = _run(server)
    assert {n: (r["outcome"], r["detail"]) for n, r in rows.items()} == EXPECTED
    assert rows["zipped"]["bytes"] == len(json.dumps(STATEMENT))


def test_hostile_bodies_are_bounded_while_recording_and_replay_as_recorded(tmp_path):
    with hostile_server() as server:
        recorded = _run(server, FleetCassettes("record", tmp_path))
    replayed = _run(server, FleetCassettes("replay", tmp_path))
    assert {n: (r["outcome"], r["detail"]) for n, r in recorded.items()} == EXPECTED
    assert {n: (r["outcome"], r["detail"]) for n, r in replayed.items()} == EXPECTED
    sizes = {p.name: p.stat().st_size for p in tmp_path.rglob("*.yaml")}
    assert len(sizes) == len(NAMES) and max(sizes.values()) < 64 * 1024, sizes  # no bomb, decoded or not, kept


def test_the_cap_is_the_max_body_mb_option(tmp_path, capsys):
    from tests.fleet.fleet_helpers import FAST, fleet

    padded = json.dumps({**STATEMENT, "padding": " " * (2 * MB)}).encode()

    def route(path: str) -> Reply:
        return Reply(200, {"content-type": "application/fhir+json"}, padded) if path.endswith("/metadata") else \
            json_reply({"grant_types_supported": []})

    with Server({"/t/*": route}) as server:
        listing = tmp_path / "bases.txt"
        listing.write_text(f"{server.origin()}/t/a/api/FHIR/R4\n", "utf-8")
        assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "one"), "--max-body-mb", "1",
                     *FAST) == 0
        assert fleet("--endpoints", str(listing), "--report-dir", str(tmp_path / "four"), *FAST) == 0
    small = json.loads((tmp_path / "one" / "fleet.json").read_text("utf-8"))
    default = json.loads((tmp_path / "four" / "fleet.json").read_text("utf-8"))
    assert small["tenants"][0]["metadata"]["outcome"] == "too-large"
    assert small["options"]["max_body_bytes"] == MB
    assert default["tenants"][0]["metadata"]["outcome"] == "ok"
    assert default["tenants"][0]["metadata"]["bytes"] == len(padded)
