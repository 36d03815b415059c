"""The tenant file: every mistake is a ConfigError naming the file and the field, and the CLI exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_tenant
from harness.errors import ConfigError

KEYS = Path(__file__).resolve().parents[1] / "harness" / "sandbox" / "tenant" / "keys"

GOOD = f"""
name = "t"
environment = "non-production"
base_url = "https://epic.example.org/interconnect-fhir-oauth"
[auth]
client_id = "abc"
private_key = "{KEYS / 'sandbox-rs384.pem'}"
kid = "k1"
[apis]
set = "careforce-phoenix"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tenant.toml"
    path.write_text(text, "utf-8")
    return path


def test_good_file_loads(tmp_path: Path) -> None:
    tenant = load_tenant(write(tmp_path, GOOD))
    assert tenant.fhir_base("R4") == "https://epic.example.org/interconnect-fhir-oauth/api/FHIR/R4"
    assert len(tenant.requested.apis) == 149
    assert tenant.checks.negative_auth is True
    assert "PRIVATE" not in repr(tenant)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (('environment = "non-production"', 'environment = "staging"'), "environment", "production"),
        (('base_url = "https://epic.example.org/interconnect-fhir-oauth"', 'base_url = "http://epic.example.org"'),
         "base_url", "plain http"),
        (('base_url = "https://epic.example.org/interconnect-fhir-oauth"', "base_url = 42"), "base_url", "absolute URL"),
        (('client_id = "abc"', ""), "auth.client_id", "required"),
        (('kid = "k1"', 'kid = "k1"\nalgorithm = "HS256"'), "auth.algorithm", "RS384"),
        (('kid = "k1"', 'kid = "k1"\nalgorithm = "ES384"'), "auth.private_key", "EC key"),
        (('set = "careforce-phoenix"', 'set = "nope"'), "apis.set", "careforce-phoenix"),
        (('set = "careforce-phoenix"', 'list = ["Patient.Read (Demographics) (R4)", "Patient.Raed (R4)"]'),
         "apis.list[1]", "unknown Epic API"),
        (('name = "t"', 'name = "t"\ncolour = "blue"'), "colour", "unknown field"),
        (('kid = "k1"', 'kid = "k1"\nprivate_key_env = "EPIC_HARNESS_TEST_UNSET"'), "auth.private_key", "either"),
    ],
)
def test_each_mistake_names_its_field(tmp_path: Path, change: tuple[str, str], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_tenant(write(tmp_path, GOOD.replace(*change)))
    assert raised.value.field == field
    assert words in raised.value.why
    assert str(tmp_path / "tenant.toml") in str(raised.value)


def test_unreadable_and_wrong_keys(tmp_path: Path) -> None:
    missing = GOOD.replace(str(KEYS / "sandbox-rs384.pem"), str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match="cannot read key file"):
        load_tenant(write(tmp_path, missing))
    (tmp_path / "bad.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="not a readable PEM private key") as raised:
        load_tenant(write(tmp_path, GOOD.replace(str(KEYS / "sandbox-rs384.pem"), str(tmp_path / "bad.pem"))))
    assert raised.value.field == "auth.private_key"


def test_secrets_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = GOOD.replace('client_id = "abc"', 'client_id_env = "EH_CLIENT"').replace(
        f'private_key = "{KEYS / "sandbox-rs384.pem"}"', 'private_key_env = "EH_KEY"')
    with pytest.raises(ConfigError, match="EH_CLIENT is not set"):
        load_tenant(write(tmp_path, text))
    monkeypatch.setenv("EH_CLIENT", "from-env")
    monkeypatch.setenv("EH_KEY", (KEYS / "sandbox-rs384.pem").read_text())
    assert load_tenant(write(tmp_path, text)).auth.client_id == "from-env"


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_tenant(write(tmp_path, "name = \n"))
    with pytest.raises(ConfigError, match="no such tenant file"):
        load_tenant(tmp_path / "absent.toml")


def test_production_never_allows_writes(tmp_path: Path) -> None:
    tenant = load_tenant(write(tmp_path, GOOD.replace("non-production", "production")), allow_writes=True)
    assert tenant.checks.allow_writes is False
    assert tenant.checks.negative_auth is False


def test_cli_exits_2_with_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    path = write(tmp_path, GOOD.replace('kid = "k1"', 'kid = 7'))
    assert main(["run", "--tenant", str(path), "--no-history"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"epic-harness: {path}: auth.kid: ") and err.count("\n") == 1 and "Traceback" not in err


def test_the_repository_sandbox_tenant_matches_the_embedded_one() -> None:
    import dataclasses

    root = Path(__file__).resolve().parents[1]
    embedded = load_tenant(root / "harness" / "sandbox" / "tenant" / "sandbox.toml")
    shipped = load_tenant(root / "tenants" / "sandbox.toml")
    assert shipped.auth.jwks_file == embedded.auth.jwks_file
    for field in ("name", "environment", "base_url", "test_data", "checks", "client", "probing", "requested"):
        assert getattr(shipped, field) == getattr(embedded, field), field
    assert dataclasses.replace(shipped.auth, private_key=None) == dataclasses.replace(embedded.auth, private_key=None)
