"""The shipped requirements data loads and holds together; a wrong data file is one clear error."""

from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
from pathlib import Path

import pytest

import suites
from harness.checks import REGISTRY
from harness.requirements import VERBS, RequirementsDataError, load_catalogue, requirements_for
from harness.requirements.catalogue import build_catalogue
from harness.token_probes import PROBES

DATA = Path(__file__).resolve().parents[2] / "harness" / "requirements" / "data"

# The checks the harness has today (issue of the brief); each must verify at least one requirement.
CURRENT_CHECKS = """
auth.assertion.rules auth.fhir.expired-token auth.fhir.invalid-token auth.fhir.no-token auth.jwks.matches-key
auth.token.issued auth.token.refuses auth.token.refuses-replayed-jti auth.token.response auth.token.scopes-parse
coverage.declared coverage.granted discovery.metadata.fhir-version discovery.metadata.json-format
discovery.metadata.oauth-uris discovery.metadata.served discovery.smart-configuration.capabilities
discovery.smart-configuration.client-credentials discovery.smart-configuration.pkce
discovery.smart-configuration.private-key-jwt discovery.smart-configuration.scopes-supported
discovery.smart-configuration.served discovery.smart-configuration.signing-algorithms
discovery.smart-configuration.token-endpoint exercise.create exercise.patient-match
exercise.questionnaire-log-errors exercise.questionnaire-next-question exercise.questionnaire-package
exercise.read exercise.search exercise.update exercise.web-service probe.find probe.search scheduling.book
scheduling.find
""".split()

# The words that carry each verb in the sources' own language (RFC 2119 MUST, Epic's plain English, the
# SMART Conformance page's REQUIRED / RECOMMENDED / OPTIONAL).
VERB_WORDS = {
    "SHALL": r"\bSHALL\b|\bMUST\b|\bmust\b|\bREQUIRED\b",
    "SHALL NOT": r"\bSHALL NOT\b|\bMUST NOT\b|\bcannot\b",
    "SHOULD": r"\bSHOULD\b|\bshould\b|\bRECOMMENDED\b",
    "SHOULD NOT": r"\bSHOULD NOT\b|\bshould not\b",
    "MAY": r"\bMAY\b|\bmay\b|\bOPTIONAL\b|\boptionally\b|\bcan\b",
}


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_the_shipped_data_loads_with_every_source_in_its_own_file(catalogue) -> None:
    files = sorted(p.name for p in DATA.glob("*.toml") if p.name != "mapping.toml")
    assert sorted(s.file for s in catalogue.sources.values()) == files
    assert {"smart-backend-services", "smart-client-asymmetric", "smart-conformance", "smart-scopes", "rfc7523",
            "rfc6749", "fhir-r4", "us-core-6.1.0", "epic"} <= set(catalogue.sources)
    for source in catalogue.sources.values():
        assert catalogue.of_source(source.key), f"{source.file} has no requirement"
        assert source.url.startswith("https://") or source.url.startswith("http://fhir.org/")
        assert source.version and source.licence


def test_ids_are_unique_across_files_and_verbs_actors_and_urls_are_known(catalogue) -> None:
    raw_ids = [row["id"] for p in DATA.glob("*.toml") if p.name != "mapping.toml"
               for row in tomllib.loads(p.read_text("utf-8"))["requirement"]]
    assert len(raw_ids) == len(set(raw_ids)) == len(catalogue.requirements)
    for r in catalogue.requirements.values():
        assert r.verb in VERBS and r.url.startswith(("https://", "http://fhir.org/")), r.id
        assert r.testable or r.reason, r.id


def test_the_smart_ids_are_inferno_requirement_numbers(catalogue) -> None:
    smart = [r for r in catalogue.requirements.values() if r.source.startswith("smart-")]
    assert smart and all(re.fullmatch(r"hl7\.fhir\.uv\.smart-app-launch_2\.2\.0@\d+", r.id) for r in smart)


def test_a_sentence_carries_its_verb_unless_marked_implied(catalogue) -> None:
    for r in catalogue.requirements.values():
        if not r.verb_implied:
            assert re.search(VERB_WORDS[r.verb], r.text), f"{r.id}: text does not say {r.verb}"


def test_every_mapped_requirement_id_is_in_the_catalogue(catalogue) -> None:
    mapping = tomllib.loads((DATA / "mapping.toml").read_text("utf-8"))["checks"]
    for check_id, table in mapping.items():
        listed = list(table["requirements"]) + [i for p in (table.get("params") or {}).values() for i in p["requirements"]]
        assert listed, check_id
        for rid in listed:
            assert rid in catalogue.requirements, f"{check_id} maps to unknown {rid}"
            assert catalogue.requirements[rid].testable, f"{check_id} maps to untestable {rid}"


def test_every_current_check_maps_to_at_least_one_requirement() -> None:
    for check_id in CURRENT_CHECKS:
        assert requirements_for(check_id), f"{check_id} verifies no requirement"
    assert requirements_for("no.such.check") == ()


def test_every_registered_check_maps_to_at_least_one_requirement() -> None:
    for module in pkgutil.iter_modules(suites.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"suites.{module.name}")
    assert set(CURRENT_CHECKS) <= set(REGISTRY)
    unmapped = sorted(c for c in REGISTRY if not requirements_for(c))
    assert not unmapped, f"checks without a requirement in harness/requirements/data/mapping.toml: {unmapped}"


def test_every_token_probe_adds_requirements_of_its_own(catalogue) -> None:
    base = set(requirements_for("auth.token.refuses"))
    for probe in PROBES:
        own = set(requirements_for("auth.token.refuses", probe.id)) - base
        assert own, f"probe {probe.id} has no requirement of its own"
    assert set(requirements_for("auth.token.refuses", "aud")) != set(requirements_for("auth.token.refuses", "exp-expired"))
    assert "rfc7523@3-3" in requirements_for("auth.token.refuses", "aud")
    assert "rfc7523@3-3" not in requirements_for("auth.token.refuses", "exp-expired")


def test_a_parameter_the_mapping_does_not_name_gets_the_checks_own_requirements() -> None:
    assert requirements_for("exercise.read", "Patient.Read (Demographics) (R4)") == requirements_for("exercise.read")


# --- a wrong data file is one clear error ----------------------------------------------------------------

def _source(**requirement):
    row = {"id": "x@1", "url": "https://example.org/spec.html#a", "text": "The server SHALL answer.",
           "verb": "SHALL", "actor": "server", "topic": "t"}
    row.update(requirement)
    return {"source": {"key": "x", "title": "X", "document": "X spec", "version": "1", "url": "https://example.org/",
                       "licence": "CC0", "id_scheme": "x@N"},
            "requirement": [{k: v for k, v in row.items() if v is not None}]}


MAPPING = {"checks": {"a.check": {"requirements": ["x@1"]}}}


def test_a_minimal_catalogue_builds() -> None:
    catalogue = build_catalogue({"x.toml": _source()}, MAPPING)
    assert catalogue.requirements_for("a.check") == ("x@1",)
    assert catalogue.verifiers_of("x@1") == (("a.check", None),)


@pytest.mark.parametrize("change, message", [
    ({"verb": "MUST"}, "verb 'MUST' is not one of"),
    ({"actor": "browser"}, "actor 'browser' is not one of"),
    ({"url": "hl7.org/fhir"}, "is not an absolute http(s) URL"),
    ({"url": "javascript:alert(1)"}, "is not an absolute http(s) URL"),
    ({"text": ""}, "'text' must be a non-empty string"),
    ({"text": "SHALL\x1b[31m"}, "control character"),
    ({"text": "The server SHALL. " * 60}, "quote a single sentence"),
    ({"testable": False}, "testable = false needs a reason"),
    ({"reason": "because"}, "a reason is given but testable is not false"),
    ({"testable": "no"}, "'testable' must be true or false"),
    ({"colour": "red"}, "unknown field(s) colour"),
])
def test_a_bad_requirement_is_refused_naming_the_file_and_the_entry(change, message) -> None:
    with pytest.raises(RequirementsDataError, match=re.escape(message)) as caught:
        build_catalogue({"x.toml": _source(**change)}, MAPPING)
    assert str(caught.value).startswith("x.toml: ")


def test_a_duplicate_id_across_files_is_refused() -> None:
    other = _source()
    other["source"] = dict(other["source"], key="y")
    with pytest.raises(RequirementsDataError, match="id is also used in x.toml"):
        build_catalogue({"x.toml": _source(), "y.toml": other}, MAPPING)


@pytest.mark.parametrize("mapping, message", [
    ({"checks": {"a.check": {"requirements": ["x@2"]}}}, "unknown requirement id(s) x@2"),
    ({"checks": {"a.check": {"requirements": []}}}, "non-empty list"),
    ({"checks": {"a.check": {"requirements": ["x@1", "x@1"]}}}, "listed twice"),
    ({"checks": {"a.check": {"requirements": ["x@1"], "params": {"p": {"requirements": ["nope"]}}}}}, "nope"),
    ({"checks": {}}, "no [checks"),
])
def test_a_bad_mapping_is_refused(mapping, message) -> None:
    with pytest.raises(RequirementsDataError, match=re.escape(message)):
        build_catalogue({"x.toml": _source()}, mapping)


def test_an_untestable_requirement_cannot_be_mapped() -> None:
    with pytest.raises(RequirementsDataError, match="marked not testable"):
        build_catalogue({"x.toml": _source(testable=False, reason="server-internal")}, MAPPING)


def test_a_folder_with_a_broken_file_gives_one_message(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text("[source\nkey = 1\n", "utf-8")
    (tmp_path / "mapping.toml").write_text('[checks."a"]\nrequirements = ["x@1"]\n', "utf-8")
    with pytest.raises(RequirementsDataError, match=r"x\.toml: is not valid TOML"):
        load_catalogue(tmp_path)
    with pytest.raises(RequirementsDataError, match="is not a folder"):
        load_catalogue(tmp_path / "missing")
