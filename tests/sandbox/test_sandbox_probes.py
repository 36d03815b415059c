"""Every read and search probe of harness/catalog/data/probes.toml, for every API of the
careforce-phoenix set, answers 200 with the right resourceType on the default sandbox.

The probe file is read here the way it documents itself: keys are looked up most specific first
(the exact API name, then "Resource (Context)", then "Resource"); "{name}" placeholders come from
the sandbox tenant file's [test_data]; a read without an id reads the first entry of the matching
search.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import TestClient, bearer, get_token, sandbox_client

from harness.fhir.validation import validator_for

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "harness" / "catalog" / "data"
PROBES = CATALOG / "probes.toml"
API_SET = CATALOG / "sets" / "careforce-phoenix.toml"
TENANT = ROOT / "harness" / "sandbox" / "tenant" / "sandbox.toml"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Api:
    name: str
    resource: str
    interaction: str
    context: str | None
    version: str


def _load_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text("utf-8"))


def _apis() -> list[Api]:
    catalog = {row["name"]: row for row in json.loads((CATALOG / "apis.json").read_text("utf-8"))["apis"]}
    names = [name for group in _load_toml(API_SET)["group"] for name in group["apis"]]
    apis = []
    for name in names:
        row = catalog[name]
        if row["kind"] == "rest" and row["interaction"] in ("read", "search"):
            apis.append(Api(name, row["resource"], row["interaction"], row["context"], row["version"]))
    return apis


def _keys(api: Api) -> list[str]:
    keys = [api.name, api.name.replace(".Read ", ".Search ")]
    if api.context:
        keys.append(f"{api.resource} ({api.context})")
    keys.append(api.resource)
    return keys


def _fill(text: str, data: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        assert key in data, f"the sandbox tenant's [test_data] has no {key!r}"
        return str(data[key])

    return PLACEHOLDER.sub(value, text)


def _probe(api: Api, probes: dict[str, Any], data: dict[str, str]) -> tuple[str, dict[str, str] | None]:
    """("read", {"id": ...}) or ("search", params) for ``api``."""
    if api.interaction == "read":
        for key in _keys(api):
            read = probes.get("read", {}).get(key)
            if read and "id" in read:
                return "read", {"id": _fill(read["id"], data)}
    for key in _keys(api):
        found = probes.get("search", {}).get(key)
        if found is not None:
            return "search", {name: _fill(str(value), data) for name, value in found["params"].items()}
    raise AssertionError(f"no probe for {api.name}")


APIS = _apis()


@pytest.fixture(scope="module")
def client() -> tuple[TestClient, dict[str, str]]:
    sandbox = sandbox_client()
    return sandbox, bearer(get_token(sandbox)["access_token"])


def test_the_set_has_read_and_search_apis_in_every_version() -> None:
    assert {api.version for api in APIS} == {"R4", "STU3", "DSTU2"}
    assert len(APIS) > 100


@pytest.mark.parametrize("api", APIS, ids=[api.name for api in APIS])
def test_probe_answers_200_with_the_right_resource_type(client, api: Api) -> None:
    sandbox, headers = client
    probes = _load_toml(PROBES)
    data = _load_toml(TENANT)["test_data"]
    kind, spec = _probe(api, probes, data)
    base = f"/api/FHIR/{api.version}/{api.resource}"
    if kind == "read":
        response = sandbox.get(f"{base}/{spec['id']}", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["resourceType"] == api.resource
        assert response.json()["id"] == spec["id"]
        assert validator_for(api.version).validate(response.json()) == []
        return
    response = sandbox.get(base, params=spec, headers=headers)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    matches = [entry for entry in bundle["entry"] if entry["search"]["mode"] == "match"]
    assert matches, f"{api.name}: the probe {spec} finds nothing"
    assert {entry["resource"]["resourceType"] for entry in matches} == {api.resource}
    assert validator_for(api.version).validate(bundle) == []
    if api.interaction == "read":
        first = matches[0]["resource"]["id"]
        read = sandbox.get(f"{base}/{first}", headers=headers)
        assert read.status_code == 200, read.text
        assert read.json()["resourceType"] == api.resource
