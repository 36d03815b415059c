"""Each token-endpoint probe, built by the harness, against the sandbox in process: refused by the
correct sandbox, and accepted once exactly the rule(s) it breaks are skipped, at the HTTP level. The
checks judging such answers are in tests/suites/test_token_endpoint.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from harness.config import load_tenant
from harness.sandbox import create_app, default_settings
from harness.token_probes import OAUTH_ERRORS, PROBES, BadTokenRequest, control
from tests.conftest import SANDBOX_TENANT
from tests.suites.test_token_endpoint import SKIPPED_RULES

ROOT = "http://127.0.0.1:8765"  # never connected to: the app answers in process
TOKEN_URL = f"{ROOT}/oauth2/token"
BY_ID = {p.id: p for p in PROBES}


def _auth():  # type: ignore[no-untyped-def]
    return load_tenant(SANDBOX_TENANT, base_url=ROOT).auth


def _post(faults: tuple[str, ...], request: BadTokenRequest):  # type: ignore[no-untyped-def]
    with TestClient(create_app(default_settings(faults)), base_url=ROOT) as client:
        return client.post("/oauth2/token", content=request.content,
                           headers={"content-type": request.content_type, "accept": "application/json"})


def test_the_control_is_accepted() -> None:
    response = _post((), control(_auth(), TOKEN_URL))
    assert response.status_code == 200 and response.json()["access_token"], response.text


@pytest.mark.parametrize("probe", sorted(SKIPPED_RULES))
def test_each_probe_is_refused_and_accepted_with_its_rules_skipped(probe: str, tmp_path: Path) -> None:
    auth = _auth()
    request = BY_ID[probe].build(auth, TOKEN_URL)
    refused = _post((), request)
    assert refused.status_code in (400, 401), (probe, refused.status_code, refused.text[:200])
    assert refused.json().get("error") in OAUTH_ERRORS, refused.text[:200]
    accepted = _post(tuple(f"token-skip:{rule}" for rule in SKIPPED_RULES[probe]), BY_ID[probe].build(auth, TOKEN_URL))
    assert accepted.status_code == 200 and accepted.json().get("access_token"), (probe, accepted.text[:200])
