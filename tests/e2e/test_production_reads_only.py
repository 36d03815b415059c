"""Against a production tenant the harness sends reads only, whatever the tenant file says: no write, no
operation not known to be read-only, no forged assertion, no request without a token. One whole run, watched
on the wire; each check's guard is shown stopping it in process in tests/run/test_production.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sandbox import create_app, default_settings
from tests.conftest import run_harness
from tests.run.test_production import NEVER_IN_PRODUCTION, production_tenant
from tests.support.served import Served

READ_ONLY_POSTS = ("/_search", "/$find", "/$match", "/$questionnaire-package")
UNAUTHENTICATED_READS = ("/metadata", "/.well-known/smart-configuration", "/.well-known/openid-configuration")


class Recording:
    """An ASGI wrapper that writes down every request the sandbox receives."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.seen: list[tuple[str, str, bool]] = []

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            self.seen.append((scope["method"], scope["path"], b"authorization" in headers))
        await self.app(scope, receive, send)


@pytest.mark.e2e
def test_a_production_tenant_gets_reads_only(tmp_path: Path) -> None:
    recording = Recording(create_app(default_settings()))
    with Served(recording) as url:  # type: ignore[arg-type]
        run = run_harness(tmp_path / "report", "--tenant", str(production_tenant(tmp_path)), "--base-url", url,
                          "--allow-writes")  # asked for, and still refused
    assert run.summary["environment"] == "production"
    writes = [(m, p) for m, p, _ in recording.seen
              if m not in ("GET", "POST") or (m == "POST" and not p.endswith("/oauth2/token")
                                              and not p.endswith(READ_ONLY_POSTS))]
    assert writes == [], writes
    tokens = [p for m, p, _ in recording.seen if m == "POST" and p.endswith("/oauth2/token")]
    assert len(tokens) == run.summary["stats"]["token_requests"] == 1  # no negative probe, no control
    unauthenticated = [p for m, p, auth in recording.seen if not auth and "/api/FHIR/" in p
                       and not p.endswith(UNAUTHENTICATED_READS)]
    assert unauthenticated == [], unauthenticated
    skipped = {c["check_id"]: c["message"] for c in run.summary["checks"] if c["outcome"] == "skipped"}
    assert all("production" in skipped[check] for check in NEVER_IN_PRODUCTION), skipped
    assert len(recording.seen) > 100  # the reads did run
