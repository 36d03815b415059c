"""Against a production tenant the harness sends reads only, whatever the tenant file says: no write, no
operation not known to be read-only, no forged assertion, no request without a token."""

from __future__ import annotations

from pathlib import Path

from harness.sandbox import create_app, default_settings
from tests.conftest import run_harness, tenant_variant
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


def production_tenant(tmp_path: Path) -> Path:
    return tenant_variant(tmp_path, replace={'environment = "non-production"': 'environment = "production"',
                                             "allow_writes = true": "allow_writes = false"})


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
    assert "production" in skipped["exercise.create"] and "production" in skipped["scheduling.book"]
    assert "production" in skipped["auth.token.refuses"] and "production" in skipped["auth.fhir.no-token"]
    assert "production" in skipped["exercise.questionnaire-log-errors"]
    assert len(recording.seen) > 100  # the reads did run


def test_negative_auth_or_writes_in_a_production_tenant_file_are_refused(tmp_path: Path) -> None:
    for line in ("negative_auth = true", "allow_writes = true"):
        tenant = tenant_variant(tmp_path, replace={'environment = "non-production"': 'environment = "production"',
                                                   "allow_writes = true": line}, file_name=f"{line[:5]}.toml")
        run = run_harness(tmp_path / f"report-{line[:5]}", "--tenant", str(tenant))
        assert run.exit_code == 2 and "never" in run.stderr and "Traceback" not in run.stderr, run.stderr
