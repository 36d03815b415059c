"""A recording replayed against another base URL: the recording's own origins are found in its session
cassette, and given to the client they let the recorded next links be followed (nothing leaves the
process in replay); without them the bearer guard refuses them."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.cassettes import make_vcr, recorded_origins
from harness.client import TenantClient
from harness.config import load_tenant
from harness.fhir.paging import follow_search
from harness.scrub import SecretRegistry
from tests.conftest import SANDBOX_TENANT

RECORDED = "http://127.0.0.1:8765"


def pages(request: httpx.Request) -> httpx.Response:
    page = int(request.url.params.get("page", "1"))
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "link": [{"relation": "next", "url": f"{RECORDED}/api/FHIR/R4/Practitioner?page={page + 1}"}] if page < 3 else [],
              "entry": [{"resource": {"resourceType": "Practitioner", "id": f"p{page}"}, "search": {"mode": "match"}}]}
    return httpx.Response(200, json=bundle, headers={"Content-Type": "application/fhir+json"})


def client(base_url: str, transport: httpx.BaseTransport | None = None, **kw) -> TenantClient:
    made = TenantClient(load_tenant(SANDBOX_TENANT, base_url=base_url), transport=transport, **kw)
    made.use_tokens(lambda: "token-0000000000", lambda: None)
    return made


def test_a_recording_replays_its_next_links_against_another_base_url(tmp_path: Path) -> None:
    vcr_record = make_vcr("record", SecretRegistry())
    with vcr_record.use_cassette(str(tmp_path / "_session.yaml")):
        recorder = client(RECORDED, httpx.MockTransport(pages))
        assert follow_search(recorder, recorder.url("R4", "Practitioner")).ids == ["p1", "p2", "p3"]
    assert recorded_origins(tmp_path) == {"http://127.0.0.1:8765"}
    replay = make_vcr("replay", SecretRegistry())
    elsewhere = "http://127.0.0.1:9999"
    with replay.use_cassette(str(tmp_path / "_session.yaml"), allow_playback_repeats=True):
        guarded = client(elsewhere, httpx.MockTransport(pages))
        refused = follow_search(guarded, guarded.url("R4", "Practitioner"))
        assert refused.ids == ["p1"] and "leaves the tenant" in refused.problems[0]
        replaying = client(elsewhere, httpx.MockTransport(pages), bearer_origins=recorded_origins(tmp_path))
        assert follow_search(replaying, replaying.url("R4", "Practitioner")).ids == ["p1", "p2", "p3"]


def test_no_recording_has_no_origins(tmp_path: Path) -> None:
    assert recorded_origins(tmp_path) == frozenset()
    (tmp_path / "_session.yaml").write_text(": not yaml [")
    assert recorded_origins(tmp_path) == frozenset()
