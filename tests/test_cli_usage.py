"""``epic-harness run`` refuses what cannot work in one line and exit 2, before it starts anything
(no sandbox, no request): an unwritable report folder, options that cannot apply, a misspelled
fault, a key that is not a PEM private key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import SANDBOX_TENANT


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert "embedded sandbox at" not in err + captured.out  # refused before anything started
    return err


def test_an_unwritable_report_folder_is_refused_before_the_run(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    err = _one_line_exit_2(["run", "--report-dir", str(blocker / "reports"), "--no-history"], capsys)
    assert err.startswith("epic-harness: ") and "--report-dir" in err and "cannot write there" in err


@pytest.mark.parametrize(("argv", "said"), [
    (["--base-url", "https://epic.example.org/api/FHIR/R4"], "--base-url: needs --tenant FILE"),
    (["--fault", "fhir-html-500:Practitionr"], "did you mean Practitioner?"),
    (["--fault", "no-such-fault"], "no-such-fault"),
    (["--fault", "fhir-html-500", "--mode", "replay"], "a replay answers from the cassettes"),
    (["--fault", "fhir-html-500", "--tenant", str(SANDBOX_TENANT)], "faults apply only to the embedded sandbox"),
])
def test_options_that_cannot_apply_are_refused(argv: list[str], said: str, capsys) -> None:
    assert said in _one_line_exit_2(["run", "--no-history", *argv], capsys)


def test_a_key_that_is_not_pem_names_the_field_and_what_it_found(tmp_path: Path, capsys) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not a key\n")
    text = SANDBOX_TENANT.read_text("utf-8")
    lines = [f'private_key = "{key}"' if line.startswith("private_key") else line for line in text.splitlines()]
    tenant = tmp_path / "tenant.toml"
    tenant.write_text("\n".join(lines) + "\n")
    err = _one_line_exit_2(["run", "--tenant", str(tenant), "--no-history", "--report-dir", str(tmp_path / "r")],
                           capsys)
    assert "auth.private_key: not a PEM private key" in err and "ValueError" not in err
