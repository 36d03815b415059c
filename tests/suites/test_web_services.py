"""exercise.web-service (suites/test_web_services.py) judged in process: every web service of the requested set
answers on the correct sandbox; an error status fails it; an address on another origin is refused before the
token goes there; a service without an address is not checkable and says what to give."""

from __future__ import annotations

from tests.support.checks import ROOT, judge, judge_each, sandbox_tenant, tenant_state


def test_every_web_service_answers_on_the_correct_sandbox() -> None:
    with tenant_state() as state:
        judged = judge_each(state, "exercise.web-service")
    assert set(judged) == {f"exercise.web-service[{n}]" for n in
                           ("GetWaitTimes", "GetDepartmentWaitTimes", "GetProviderWaitTimes", "UpdateUserDemographics")}
    assert {j.outcome for j in judged.values()} == {"passed"}, judged


def test_an_error_status_fails_the_service() -> None:
    services = {"GetWaitTimes": f"{ROOT}/api/epic/2017/Scheduling/External/NOSUCHSERVICE/GetWaitTimes"}
    with tenant_state(tenant=sandbox_tenant(test_data={"web_services": services})) as state:
        judged = judge(state, "exercise.web-service", api="GetWaitTimes")
    assert judged.outcome == "failed" and "HTTP 404" in judged.message and judged.result.category == "tenant-fault"


def test_an_address_on_another_origin_never_gets_the_token() -> None:
    services = {"GetWaitTimes": "https://elsewhere.example/api/epic/2017/GetWaitTimes"}
    with tenant_state(tenant=sandbox_tenant(test_data={"web_services": services})) as state:
        judged = judge(state, "exercise.web-service", api="GetWaitTimes")
        sent = [e.url for e in state.client.log if "elsewhere" in e.url]
    assert judged.outcome == "failed" and "not one of the tenant's own origins" in judged.message
    assert judged.result.category == "tenant-configuration" and sent == []


def test_a_service_without_an_address_is_not_checkable() -> None:
    with tenant_state(tenant=sandbox_tenant(test_data={"web_services": None})) as state:
        judged = judge(state, "exercise.web-service", api="GetWaitTimes")
    assert judged.outcome == "skipped" and "test_data.web_services.GetWaitTimes" in judged.message
