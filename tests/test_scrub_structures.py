"""Scrubbing a structure looks at all its strings together first and goes string by string only
where something is there to take out. That shortcut must never keep a secret: on any nested
structure, with secrets placed anywhere (plain, URL- or JSON-escaped, inside JSON or form text
held in a string, as a key, as bytes), the result equals scrubbing every string one by one."""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scrub import REDACTED, SecretRegistry

TOKEN = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
OPAQUE = "opaque-token-0123456789abcdef"  # not a JWT: only known values find it

FRAGMENTS = st.sampled_from([
    TOKEN, OPAQUE, quote(OPAQUE, safe=""), json.dumps(OPAQUE)[1:-1],
    f'{{"access_token": "{OPAQUE}x"}}', f"client_assertion={OPAQUE}y", '{"kty": "RSA", "d": "secret-d-member"}',
    "Patient/erXuFYUfucBZaryVksYEcMg3", "final", "", "eyJ", "PRIVATE KEY-----",
])
TEXTS = st.lists(st.one_of(FRAGMENTS, st.text(max_size=12)), max_size=4).map(" ".join)
LEAVES = st.one_of(TEXTS, st.integers(), st.booleans(), st.none(), TEXTS.map(str.encode))
KEYS = st.one_of(st.sampled_from(["id", "access_token", "d", "kty", "diagnostics", OPAQUE]), st.text(max_size=6))
STRUCTURES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4), st.lists(inner, max_size=3).map(tuple)),
    max_leaves=25)


def registry() -> SecretRegistry:
    return SecretRegistry([OPAQUE])


@settings(max_examples=300, deadline=None)
@given(STRUCTURES)
def test_the_shortcut_changes_nothing(obj: object) -> None:
    fast = registry().scrub(obj)
    slow_registry = registry()
    slow_registry._learn(obj)
    assert fast == slow_registry._scrub(obj, texts=True)


def test_a_structure_with_nothing_secret_is_copied_as_it_is() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "e63wRTbPfr1p8UW81d8Seiw3",
                                                                "name": [{"family": "Lopez"}]}}], "total": 1}
    out = registry().scrub(bundle)
    assert out == bundle and out is not bundle


def test_a_token_echoed_deep_in_a_body_is_taken_out() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "security",
                                                              "diagnostics": f"Authorization: Bearer {OPAQUE} refused"}]}
    text = json.dumps(registry().scrub(outcome))
    assert OPAQUE not in text and REDACTED in text
