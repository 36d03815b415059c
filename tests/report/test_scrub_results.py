"""The reports' scrubbing boundary (``harness.report.writers.scrubbed``) scrubs each distinct string once
while the run knows the same secrets. That must never keep a secret the registry learnt meanwhile: on
any sequence of strings, repeated or not, some of which teach a secret, the result equals scrubbing
every string one by one, in order, with one registry."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report.writers import scrubbed
from harness.run.outcome import Outcome
from harness.run.results import CheckResult
from harness.scrub import REDACTED, SecretRegistry

LEARNT = "learnt-secret-0123456789"  # unknown at first; a JSON field names it
TEACHER = f'the tenant echoed {{"access_token": "{LEARNT}"}}'
KNOWN = "known-secret-abcdefghij"
STRINGS = st.sampled_from([f"before {LEARNT} after", TEACHER, f"has {KNOWN}", "plain words", LEARNT, ""])


def one_by_one(values: list[str]) -> list[str]:
    registry = SecretRegistry([KNOWN])
    return [registry.scrub_text(v) for v in values]


@settings(max_examples=300, deadline=None)
@given(st.lists(STRINGS, max_size=8))
def test_repeated_strings_are_scrubbed_as_one_by_one(values: list[str]) -> None:
    assert scrubbed(values, SecretRegistry([KNOWN])) == one_by_one(values)


def test_a_string_seen_before_a_secret_was_learnt_loses_it_when_seen_again() -> None:
    values = [f"before {LEARNT} after", TEACHER, f"before {LEARNT} after"]
    first, taught, again = scrubbed(values, SecretRegistry([KNOWN]))
    assert LEARNT in first  # not known yet when it was first met: as before
    assert LEARNT not in taught and LEARNT not in again and again == f"before {REDACTED} after"


def test_results_repeating_their_texts_keep_no_secret_in_any_field() -> None:
    def result(message: str) -> CheckResult:
        return CheckResult(id="c[x]", check_id="c", title=f"title {KNOWN}", why="why", source="s", source_url=None,
                           severity="normal", area="Auth", outcome=Outcome.FAILED, message=message,
                           warnings=[message], data={message: [message]})

    checks = scrubbed([result(f"says {LEARNT}"), result(TEACHER), result(f"says {LEARNT}")], SecretRegistry([KNOWN]))
    assert all(KNOWN not in str(c) for c in checks)
    last = checks[-1]
    assert last.message == f"says {REDACTED}" and last.warnings == [last.message] and last.data == {last.message: [last.message]}
    assert last.outcome is Outcome.FAILED and last.title == f"title {REDACTED}"
