"""Epic's non-FHIR web services of the requested set, served under api/epic/... and guarded by the
same bearer token as the FHIR API."""

from __future__ import annotations

import httpx
import pytest
from sandbox_helpers import INVALID_TOKEN, TestClient, bearer, get_token, sandbox_client

from harness.catalog import load_named_set
from harness.sandbox.population import MAIN_PRACTITIONER
from harness.sandbox.webservices import PATHS


@pytest.fixture
def authorised() -> tuple[TestClient, dict[str, str]]:
    client = sandbox_client()
    return client, {**bearer(get_token(client)["access_token"]), "accept": "application/json"}


def test_every_web_service_of_the_requested_set_is_served() -> None:
    requested = {api.name for api in load_named_set("careforce-phoenix").apis if api.kind == "web-service"}
    assert requested == set(PATHS)
    assert all(path.startswith("/api/epic/") for path in PATHS.values())


@pytest.mark.parametrize("name", sorted(PATHS))
def test_a_web_service_needs_the_bearer_token(name: str) -> None:
    client = sandbox_client()
    for headers in ({}, {"authorization": "Bearer not-a-token"}):
        response = client.get(PATHS[name], headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == INVALID_TOKEN
    assert sandbox_client(["fhir-reject-tokens"]).get(PATHS[name]).status_code == 401


@pytest.mark.parametrize("name, member", [("GetWaitTimes", "WaitTimes"), ("GetDepartmentWaitTimes", "Departments"),
                                          ("GetProviderWaitTimes", "Providers")])
def test_wait_times_answer_json_with_get_and_post(authorised, name: str, member: str) -> None:
    client, headers = authorised
    got = client.get(PATHS[name], headers=headers)
    assert got.status_code == 200 and got.headers["content-type"] == "application/json; charset=utf-8"
    rows = got.json()[member]
    assert rows and all(isinstance(row["WaitTimeMinutes"], int) for row in rows)
    posted = client.post(PATHS[name], json={}, headers=headers)
    assert posted.status_code == 200 and posted.json()[member] == rows


def test_provider_and_department_wait_times_narrow_and_refuse_unknown_ids(authorised) -> None:
    client, headers = authorised
    one = client.get(PATHS["GetProviderWaitTimes"], params={"ProviderID": MAIN_PRACTITIONER}, headers=headers).json()
    assert [row["ProviderID"] for row in one["Providers"]] == [MAIN_PRACTITIONER]
    department = client.post(PATHS["GetDepartmentWaitTimes"], json={"DepartmentID": "10500"}, headers=headers).json()
    assert [row["DepartmentName"] for row in department["Departments"]] == ["Harness Family Medicine Clinic"]
    unknown = client.get(PATHS["GetProviderWaitTimes"], params={"ProviderID": "nobody"}, headers=headers)
    assert unknown.status_code == 400 and "nobody" in unknown.json()["ExceptionMessage"]
    bad = client.post(PATHS["GetWaitTimes"], content=b"{not json", headers=headers)
    assert bad.status_code == 400 and bad.json()["Message"] == "An error has occurred."


def test_update_user_demographics(authorised) -> None:
    client, headers = authorised
    response = client.post(PATHS["UpdateUserDemographics"],
                           json={"UserID": MAIN_PRACTITIONER, "Phone": "608-555-0199"}, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"Success": True, "UserID": MAIN_PRACTITIONER, "UpdatedFields": ["Phone"]}
    assert client.get(PATHS["UpdateUserDemographics"], headers=headers).json()["Success"] is True


def test_web_services_over_http_under_the_interconnect_root() -> None:
    from sandbox_helpers import assertion, token_form

    from harness.sandbox import EmbeddedSandbox

    with EmbeddedSandbox() as sandbox:
        token = httpx.post(sandbox.token_url, data=token_form(assertion(aud=sandbox.token_url))).json()
        response = httpx.get(sandbox.base_url + PATHS["GetWaitTimes"],
                             headers={"authorization": f"Bearer {token['access_token']}"})
    assert response.status_code == 200 and response.json()["WaitTimes"]


def test_the_sandbox_tenant_files_list_every_web_service_where_the_sandbox_serves_it() -> None:
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in (root / "harness" / "sandbox" / "tenant" / "sandbox.toml", root / "tenants" / "sandbox.toml"):
        data = tomllib.loads(path.read_text("utf-8"))
        services = data["test_data"]["web_services"]
        assert {name: url.removeprefix(data["base_url"]) for name, url in services.items()} == PATHS, path


def test_the_tenant_file_at_the_embedded_sandboxs_address(tmp_path) -> None:
    import tomllib

    from harness.config import load_tenant
    from harness.sandbox.tenant_file import at_address, shipped

    copy = at_address("http://127.0.0.1:41234", tmp_path)
    assert copy.parent == tmp_path
    data = tomllib.loads(copy.read_text("utf-8"))
    assert data["base_url"] == "http://127.0.0.1:41234"
    assert {name: url.removeprefix("http://127.0.0.1:41234") for name, url in
            data["test_data"]["web_services"].items()} == PATHS
    original = tomllib.loads(shipped().read_text("utf-8"))
    assert {k: v for k, v in data["test_data"].items() if k != "web_services"} == \
        {k: v for k, v in original["test_data"].items() if k != "web_services"}
    tenant = load_tenant(copy)  # the key files are found from the copy's folder
    assert tenant.base_url == "http://127.0.0.1:41234" and tenant.auth.kid == "sandbox-rs384-1"
    assert at_address("http://127.0.0.1:8765", tmp_path) == shipped()  # its own address: the file itself
