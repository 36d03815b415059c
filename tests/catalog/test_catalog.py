"""The Epic API catalog and the named requested-API sets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.catalog import load_catalog, load_named_set, requested_from_list
from harness.errors import ConfigError

SEED_LIST = Path(__file__).parents[1] / "data" / "careforce-phoenix-apis.txt"


def test_catalog_holds_epics_published_list() -> None:
    catalog = load_catalog()
    assert len(catalog) >= 627
    api = catalog.lookup("Practitioner.Read (Organizational Directory) (R4)")
    assert (api.resource, api.interaction, api.context, api.version, api.api_id) == (
        "Practitioner", "read", "Organizational Directory", "R4", 935)
    find = catalog.lookup("Appointment.$find (STU3)")
    assert (find.kind, find.interaction, find.version, find.context) == ("operation", "$find", "STU3", None)
    waits = catalog.lookup("GetWaitTimes")
    assert (waits.kind, waits.version, waits.is_fhir) == ("web-service", None, False)


def test_careforce_phoenix_is_the_integration_page_list() -> None:
    requested = load_named_set("careforce-phoenix")
    expected = [line for line in SEED_LIST.read_text("utf-8").splitlines() if line]
    assert [a.name for a in requested.apis] == expected
    assert len(requested.apis) == 149 and len(requested.groups) == 11
    sizes = {g.name: len(g.apis) for g in requested.groups}
    assert sizes["Clinical lists & flags"] == 29 and sizes["Scheduling"] == 11
    assert all(re.fullmatch(r"[a-z_]+", g.marker) for g in requested.groups)


def test_every_name_parses_to_resource_interaction_version() -> None:
    for api in load_catalog():
        if api.kind in ("rest", "operation"):
            assert api.interaction and api.version in ("R4", "STU3", "DSTU2"), api
            assert api.resource or api.kind == "operation", api  # $submit-attachment is system-level
            suffix = f"({api.version})"
            assert api.name.endswith(suffix)
            if api.context:
                assert f"({api.context})" in api.name


def test_unknown_name_is_a_config_error_that_suggests() -> None:
    with pytest.raises(ConfigError) as raised:
        requested_from_list(["Patient.Read (Demographic) (R4)"], file="t.toml", field="apis.list")
    assert "Patient.Read (Demographics) (R4)" in str(raised.value)
    assert raised.value.field == "apis.list[0]"
