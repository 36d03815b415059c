"""The app's own credentials (suites/test_credentials.py) judged in process: the client assertion the harness
builds, and the JWK Set the app publishes, from a file or from its URL as Epic fetches it (unauthenticated, its
Cache-Control reported); each passing, and failing with the mistake it exists to catch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import httpx
import pytest

import suites.test_credentials as credential_checks
from harness.auth import AssertionSpec
from tests.conftest import SANDBOX_TENANT, tenant_variant
from tests.support.checks import Judged, judge, results_of, tenant_state

PUBLISHED = json.loads((SANDBOX_TENANT.parent / "sandbox-app.jwks.json").read_text())
JWKS_URL = "http://127.0.0.1:8766/epic/jwks"  # another loopback origin than the tenant's
LEAKED = {"keys": [dict(PUBLISHED["keys"][0], d="c2VjcmV0")] + PUBLISHED["keys"][1:]}


def test_the_harness_assertion_follows_the_rules() -> None:
    with tenant_state() as state:
        assert judge(state, "auth.assertion.rules").outcome == "passed"


@pytest.mark.parametrize(("change", "words"), [
    ({"kid": None}, "no kid in the header"),
    ({"subject": "someone-else"}, "iss and sub must both be the client id"),
    ({"jti": "j" * 152}, "jti must be a string of at most 151 characters"),
])
def test_an_assertion_breaking_a_rule_fails_for_the_vendor(monkeypatch: pytest.MonkeyPatch, change: dict,
                                                           words: str) -> None:
    def built(auth: Any, audience: str) -> AssertionSpec:
        return dataclasses.replace(AssertionSpec.for_client(auth, audience), **change)

    monkeypatch.setattr(credential_checks, "AssertionSpec", SimpleNamespace(for_client=built))
    with tenant_state() as state:
        rules = judge(state, "auth.assertion.rules")
    assert rules.outcome == "failed" and words in rules.message, rules
    assert rules.result.category == "vendor-credentials"


# -- the JWK Set file --------------------------------------------------------------------------------------

def _with_jwks_file(tmp_path: Path, content: str) -> Judged:
    path = tmp_path / "app.jwks.json"
    path.write_text(content)
    tenant = tenant_variant(tmp_path, replace={'jwks = "sandbox-app.jwks.json"': f'jwks = "{path}"'})
    with tenant_state(tenant_file=tenant) as state:
        return judge(state, "auth.jwks.matches-key")


def test_the_published_jwks_file_holds_the_signing_key(tmp_path: Path) -> None:
    judged = _with_jwks_file(tmp_path, json.dumps(PUBLISHED))
    assert judged.outcome == "passed", judged


@pytest.mark.parametrize(("jwks", "words"), [
    (json.dumps(LEAKED), "publishes private members d"),
    (json.dumps({"keys": PUBLISHED["keys"][1:]}), "no key with kid 'sandbox-rs384-1'"),
    ("{not json", "cannot read the JWK Set file"),
])
def test_a_jwks_file_that_is_unsafe_or_wrong_fails(tmp_path: Path, jwks: str, words: str) -> None:
    judged = _with_jwks_file(tmp_path, jwks)
    assert judged.outcome == "failed" and words in judged.message, judged
    assert judged.result.category == "vendor-credentials"


def test_no_jwks_given_is_not_checked(tmp_path: Path) -> None:
    tenant = tenant_variant(tmp_path, replace={'jwks = "sandbox-app.jwks.json"\n': ""})
    with tenant_state(tenant_file=tenant) as state:
        judged = judge(state, "auth.jwks.matches-key")
    assert judged.outcome == "skipped" and "no JWK Set given" in judged.message


# -- the JWK Set URL -----------------------------------------------------------------------------------------

def _with_jwks_url(tmp_path: Path, serve: Callable[[httpx.Request], httpx.Response]
                   ) -> tuple[Judged, list[httpx.Request], int]:
    fetched: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response | None:
        if str(request.url) != JWKS_URL:
            return None  # the tenant answers the rest
        fetched.append(request)
        return serve(request)

    tenant = tenant_variant(tmp_path, replace={'jwks = "sandbox-app.jwks.json"': f'jwks_url = "{JWKS_URL}"'})
    with tenant_state(answer=answer, tenant_file=tenant) as state:
        judged = judge(state, "auth.jwks.matches-key")
        return judged, fetched, results_of(state).gate.exit_code


def _json(body: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, json=body, headers={"Cache-Control": "max-age=3600"})


def test_the_jwks_url_is_fetched_unauthenticated_and_its_cache_control_reported(tmp_path: Path) -> None:
    judged, fetched, _ = _with_jwks_url(tmp_path, _json(PUBLISHED))
    assert judged.outcome == "warning" and "not https" in judged.message  # Epic requires TLS for the URL
    assert any("Cache-Control: max-age=3600" in n for n in judged.result.notes)
    assert len(fetched) == 1 and "authorization" not in fetched[0].headers


@pytest.mark.parametrize(("serve", "words"), [
    (_json(LEAKED), "publishes private members d"),
    (lambda request: httpx.Response(404), "the JWK Set URL answered HTTP 404 without credentials"),
    (lambda request: httpx.Response(200, text="<html>keys</html>"), "the JWK Set URL did not answer JSON"),
])
def test_a_jwks_url_that_is_unsafe_or_unusable_fails(tmp_path: Path, serve: Callable, words: str) -> None:
    judged, _, gate = _with_jwks_url(tmp_path, serve)
    assert judged.outcome == "failed" and words in judged.message, judged
    assert judged.result.category == "vendor-credentials"
    assert gate == 1  # not required to run, but a failure fails the gate
