"""The gate policy, from a policy file or the tenant file's [gate] table: what it makes optional, which quirks it
accepts, and one ConfigError naming the file and the field for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_tenant
from harness.errors import ConfigError
from harness.policy import GatePolicy, load_policy_file, parse_policy
from tests.conftest import SANDBOX_TENANT, tenant_variant

APIS = {"Practitioner.Read (Organizational Directory) (R4)", "Slot.Search (R4)"}
GROUPS = {"Providers & organizational directory", "Scheduling"}


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, "utf-8")
    return path


def load(tmp_path: Path, text: str) -> GatePolicy:
    return load_policy_file(policy_file(tmp_path, text), known_apis=APIS, known_groups=GROUPS)


def test_a_policy_file_names_what_is_optional_and_what_is_accepted(tmp_path: Path) -> None:
    policy = load(tmp_path, '[gate]\noptional_groups = ["Providers & organizational directory"]\n'
                            'optional_apis = ["Slot.Search (R4)"]\naccepted_quirks = ["Signing_Alg"]\n'
                            'warnings_fail = ["scopes.granted-as-requested"]\n')
    assert policy.is_optional("Practitioner.Read (Organizational Directory) (R4)", "Providers & organizational directory")
    assert policy.is_optional("Slot.Search (R4)", "Scheduling") and not policy.is_optional("Other (R4)", "Scheduling")
    assert not policy.is_optional(None, "Providers & organizational directory")  # discovery and auth never are
    assert policy.accepts("token_endpoint_auth_signing_alg_values_supported is missing") and not policy.accepts("other")
    assert policy.warnings_fail == {"scopes.granted-as-requested"} and policy.required_groups is None
    assert policy.source == f"policy from {tmp_path / 'policy.toml'}"
    assert load(tmp_path, 'optional_apis = ["Slot.Search (R4)"]\n').optional_apis == {"Slot.Search (R4)"}  # no [gate]


def test_required_groups_make_every_other_group_optional(tmp_path: Path) -> None:
    policy = load(tmp_path, '[gate]\nrequired_groups = ["Scheduling"]\n')
    assert not policy.is_optional("Slot.Search (R4)", "Scheduling")
    assert policy.is_optional("Practitioner.Read (Organizational Directory) (R4)", "Providers & organizational directory")
    assert load(tmp_path, '[gate]\nrequired_groups = []\n').is_optional("Slot.Search (R4)", "Scheduling")


def test_no_policy_is_the_default() -> None:
    policy = parse_policy(None, file=None, known_apis=APIS, known_groups=GROUPS)
    assert policy == GatePolicy() and not policy.is_optional("Slot.Search (R4)", "Scheduling")


@pytest.mark.parametrize(("text", "field", "words"), [
    ('[gate]\noptional_groups = ["Nope"]\n', "gate", "no API group named 'Nope'; groups: Providers"),
    ('[gate]\nrequired_groups = ["Nope"]\n', "gate", "no API group named 'Nope'"),
    ('[gate]\noptional_apis = ["Slot.Serch (R4)"]\n', "gate.optional_apis", "'Slot.Serch (R4)' is not one of the requested"),
    ('[gate]\noptional_apis = "Slot.Search (R4)"\n', "gate.optional_apis", "must be a list of strings"),
    ('[gate]\naccepted_quirks = [1]\n', "gate.accepted_quirks", "must be a list of strings"),
    ('[gate]\noptional = ["x"]\n', "gate.optional", "unknown field; known fields: accepted_quirks, optional_apis"),
    ('gate = 3\n', "gate", "must be a table"),
])
def test_each_mistake_names_the_file_and_the_field(tmp_path: Path, text: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert raised.value.field == field and words in raised.value.why
    assert str(tmp_path / "policy.toml") in str(raised.value)


def test_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such policy file"):
        load_policy_file(tmp_path / "absent.toml", known_apis=APIS, known_groups=GROUPS)
    with pytest.raises(ConfigError, match="not a readable TOML policy"):
        load(tmp_path, "[gate\n")


def test_the_tenant_files_gate_table_is_its_policy(tmp_path: Path) -> None:
    tenant = load_tenant(tenant_variant(tmp_path, append='\n[gate]\noptional_groups = ["Scheduling"]\n'))
    assert tenant.policy.optional_groups == {"Scheduling"}
    assert tenant.policy.source == f"policy from {(tmp_path / 'variant.toml').resolve()}"
    with pytest.raises(ConfigError, match="no API group named 'Nope'"):
        load_tenant(tenant_variant(tmp_path, append='\n[gate]\noptional_groups = ["Nope"]\n'))
    assert load_tenant(SANDBOX_TENANT).policy == GatePolicy()


def test_a_bad_policy_file_given_to_the_cli_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from harness.cli import main

    monkeypatch.setattr(gc, "freeze", lambda: None)  # the command keeps what it loaded; a test process need not
    bad = policy_file(tmp_path, '[gate]\noptional_groups = ["Nope"]\n')
    code = main(["run", "--tenant", str(SANDBOX_TENANT), "--base-url", "http://127.0.0.1:9", "--policy", str(bad),
                 "--report-dir", str(tmp_path / "report"), "--no-history"])
    captured = capsys.readouterr()
    assert code == 2, captured
    line = captured.err.strip()
    assert line.startswith(f"ERROR: {bad}: gate: no API group named 'Nope'; groups: Appointments")
    assert "\n" not in line and "Traceback" not in captured.err + captured.out
