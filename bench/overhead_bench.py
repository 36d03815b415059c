"""Harness overhead: the full suite against the local sandbox, against the same requests sent by a bare
httpx loop (one token, then each recorded request in turn).

    python bench/overhead_bench.py

Prints one line: harness seconds (whole process), bare loop seconds, requests, ratio.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import yaml

from common import TENANT, run_harness
from harness.auth import AssertionSpec, sign_assertion
from harness.config import load_tenant
from harness.sandbox import EmbeddedSandbox


def recorded_requests(cassettes: Path) -> list[dict]:
    requests = []
    for path in sorted(cassettes.rglob("*.yaml")):
        for interaction in yaml.safe_load(path.read_text())["interactions"]:
            requests.append(interaction["request"])
    return requests


def bare_loop(base_url: str, requests: list[dict]) -> float:
    tenant = load_tenant(TENANT, base_url=base_url)
    token_url = f"{base_url}/oauth2/token"
    started = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        assertion = sign_assertion(AssertionSpec.for_client(tenant.auth, token_url), tenant.auth.private_key)
        token = client.post(token_url, data={"grant_type": "client_credentials", "client_assertion": assertion,
                                             "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
                            ).json()["access_token"]
        for request in requests:
            path = request["uri"].split("/", 3)[3]
            headers = {k: v[0] for k, v in request.get("headers", {}).items() if k.lower() in ("accept", "content-type")}
            headers["Authorization"] = f"Bearer {token}"
            client.request(request["method"], f"{base_url}/{path}", headers=headers, content=request.get("body") or None)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedSandbox() as sandbox:
        work = Path(tmp)
        base = ["--tenant", str(TENANT), "--base-url", sandbox.base_url]
        run_harness(*base, "--mode", "record", "--cassette-dir", str(work / "cassettes"), cwd=work)
        requests = recorded_requests(work / "cassettes")
        harness_seconds, summary = run_harness(*base, cwd=work)
        bare_seconds = bare_loop(sandbox.base_url, requests)
    print(f"harness overhead: harness {harness_seconds:.2f} s ({summary['stats']['requests_sent']} requests, "
          f"{len(summary['checks'])} checks, whole process) vs bare httpx loop {bare_seconds:.2f} s "
          f"({len(requests)} recorded requests); ratio {harness_seconds / bare_seconds:.2f}")


if __name__ == "__main__":
    main()
