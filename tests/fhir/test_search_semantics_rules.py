"""Each search-semantics rule against a tenant behind httpx.MockTransport: passing and failing on hand-built answers
(a HAPI-like server: Bundle.total counts the matches, next links carry _getpages), and passing on Epic's real
answers (tests/data/epic), so that a correct Epic tenant is not failed."""

from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import parse_qsl

import httpx
import pytest

from harness.client import TenantClient
from harness.config import load_tenant
from harness.fhir.paging import SearchResult, follow_search
from harness.fhir.search_semantics import (
    NO_SUCH_CODE, NO_SUCH_ID, SearchContext, Searcher, Verdict, category, count, date_prefixes, declared_params,
    identifier, ignored_parameters, or_list, patient_restriction, post_equivalence, restricting_params, token,
)
from tests.conftest import DATA, SANDBOX_TENANT

ROOT = "https://fhir.example.org/interconnect"
BASE = f"{ROOT}/api/FHIR/R4"
EPIC = DATA / "epic"
P1, P2 = "p-one", "p-two"
Choose = Callable[[str, dict[str, str]], "list[dict[str, Any]] | httpx.Response"]


def _epic(name: str) -> dict[str, Any]:
    return json.loads((EPIC / name).read_text("utf-8"))


def _body(name: str) -> dict[str, Any]:
    return _epic(name)["body"]


CAPABILITY = _epic("r4-capabilitystatement-sandbox-may2026.json")
EPIC_ENCOUNTERS = _body("mh-encounter-search-erXuFYUfucBZaryVksYEcMg3.json")
EPIC_EMPTY = _body("mh-condition-search-empty-result-outcome.json")
EPIC_VITALS = _body("mh-observation-vitals-page1-1000-EXCERPT.json")
EPIC_PATIENT_400 = _body("mh-error-search-with-unsupported-param.json")
EPIC_PATIENT = "erXuFYUfucBZaryVksYEcMg3"


def fhir(body: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"Content-Type": "application/fhir+json"})


class Tenant:
    """A FHIR server for the tests: ``choose(method, params)`` picks the entries of each search (or answers itself).

    ``shape="hapi"``: Bundle.total is the match count, next links are ``?_getpages=...``. ``shape="epic"``: total
    counts the page, next links are ``?sessionID=...``, an empty answer carries Epic's 4101 outcome entry.
    """

    def __init__(self, choose: Choose, *, shape: str = "hapi", resource: str = "Encounter") -> None:
        self.choose = choose
        self.shape = shape
        self.resource = resource
        self.sent: list[tuple[str, dict[str, str]]] = []
        self.sessions: dict[str, list[dict[str, Any]]] = {}
        tenant = load_tenant(SANDBOX_TENANT, base_url=ROOT)
        self.client = TenantClient(tenant, transport=httpx.MockTransport(self.handle))
        self.client.use_tokens(lambda: "token-0000000000", lambda: None)

    def handle(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        if request.method == "POST":
            params.update(dict(parse_qsl(request.content.decode())))
        token = params.get("sessionID") or params.get("_getpages")
        if token:
            return self.page(self.sessions[token], int(params.get("offset", 0)), int(params.get("size", 0)), token)
        self.sent.append((request.method, params))
        chosen = self.choose(request.method, params)
        if isinstance(chosen, httpx.Response):
            return chosen
        size = int(params.get("_count", 0)) or 1000
        token = f"s{len(self.sessions)}"
        self.sessions[token] = chosen
        return self.page(chosen, 0, size, token)

    def page(self, found: list[dict[str, Any]], offset: int, size: int, token: str) -> httpx.Response:
        entries = [{"fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                   for r in found[offset:offset + size]]
        links = [{"relation": "self", "url": f"{BASE}/{self.resource}"}]
        if offset + size < len(found):
            key = "sessionID" if self.shape == "epic" else "_getpages"
            links.append({"relation": "next",
                          "url": f"{BASE}/{self.resource}?{key}={token}&offset={offset + size}&size={size}"})
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries,
                                  "total": len(entries) if self.shape == "epic" else len(found)}
        if self.shape == "epic" and not entries:
            bundle["entry"] = [e for e in EPIC_EMPTY["entry"]]
        return fhir(bundle)

    def context(self, params: dict[str, str], *, version: str = "R4", resource: str | None = None,
                declared: dict[str, str] | None = None) -> tuple[SearchContext, Searcher]:
        """The base search sent now (as the run's search cache would), and a searcher for the variants."""
        resource = resource or self.resource
        base = follow_search(self.client, f"{ROOT}/api/FHIR/{version}/{resource}", params=params,
                             resource_type=resource)
        self.sent.clear()
        found = declared if declared is not None else declared_params(CAPABILITY, resource)
        return SearchContext(version, resource, params, base, found), Searcher(self.client, version, resource)


def encounter(rid: str, patient: str = P1, start: str | None = "2024-01-01T10:00:00Z", end: str | None = None,
              **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Encounter", "id": rid, "status": "finished",
                                "subject": {"reference": f"Patient/{patient}"}}
    if start or end:
        resource["period"] = {k: v for k, v in (("start", start), ("end", end)) if v}
    resource.update(extra)
    return resource


def ids(verdict_text: str, *wanted: str) -> bool:
    return all(w in verdict_text for w in wanted)


def everything(verdict: Verdict) -> str:
    return " | ".join(verdict.failures + verdict.warnings + verdict.notes + [verdict.inconclusive or ""])


# --- patient restriction -----------------------------------------------------------------------


def correct_patient_server(resources: list[dict[str, Any]]) -> Choose:
    def choose(method: str, params: dict[str, str]) -> list[dict[str, Any]]:
        wanted = params.get("patient", "").removeprefix("Patient/")
        return [r for r in resources if r["subject"]["reference"] == f"Patient/{wanted}"]
    return choose


def test_patient_restriction_passes_when_every_entry_is_the_patients_and_no_one_else_has_any() -> None:
    data = [encounter("e1"), encounter("e2"), encounter("e3", P2)]
    server = Tenant(correct_patient_server(data))
    ctx, searcher = server.context({"patient": P1})
    verdict = patient_restriction(ctx, searcher)
    assert verdict.passed and not verdict.warnings, everything(verdict)
    assert server.sent == [("GET", {"patient": NO_SUCH_ID})]
    assert "all 2 entries belong to patient=p-one" in verdict.notes[0]


def test_patient_restriction_fails_naming_the_entries_of_another_patient() -> None:
    data = [encounter("e1"), encounter("e2", P2), encounter("e3", P2)]
    server = Tenant(lambda method, params: data)  # ignores patient
    ctx, searcher = server.context({"patient": P1, "_count": "2"})
    verdict = patient_restriction(ctx, searcher)
    assert len(verdict.failures) == 2
    assert ids(verdict.failures[0], "2 of 3 entries do not belong to patient=p-one",
               "Encounter/e2 (Patient/p-two)", "Encounter/e3 (Patient/p-two)")
    assert ids(verdict.failures[1], "does not exist answered 3 entries", "Encounter/e1", "does not apply patient")


def test_patient_restriction_control_catches_a_server_ignoring_patient_with_one_patients_data() -> None:
    data = [encounter("e1"), encounter("e2")]
    server = Tenant(lambda method, params: data)
    ctx, searcher = server.context({"patient": P1})
    verdict = patient_restriction(ctx, searcher)
    assert len(verdict.failures) == 1 and ids(verdict.failures[0], "Encounter/e1", "Encounter/e2")


def test_patient_restriction_accepts_a_refused_control_and_is_inconclusive_without_entries() -> None:
    def choose(method: str, params: dict[str, str]) -> Any:
        if params["patient"] == NO_SUCH_ID:
            return fhir({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]},
                        404)
        return []
    ctx, searcher = Tenant(choose).context({"patient": P1})
    verdict = patient_restriction(ctx, searcher)
    assert not verdict.failures and "refused (HTTP 404)" in verdict.notes[0]
    assert verdict.inconclusive and "no Encounter came back" in verdict.inconclusive


def test_patient_restriction_reads_absolute_stu3_references_and_patient_id_searches() -> None:
    stu3 = [encounter("e1", subject=None)]
    stu3[0]["subject"] = {"reference": f"{ROOT}/api/FHIR/STU3/Patient/{P1}"}
    server = Tenant(lambda m, p: stu3 if p["patient"] == P1 else [])
    ctx, searcher = server.context({"patient": P1}, version="STU3", declared={})
    assert patient_restriction(ctx, searcher).passed
    patients = [{"resourceType": "Patient", "id": P1}, {"resourceType": "Patient", "id": P2}]
    server = Tenant(lambda m, p: [r for r in patients if r["id"] == p["_id"]], resource="Patient")
    ctx, searcher = server.context({"_id": P1})
    assert patient_restriction(ctx, searcher).passed
    server = Tenant(lambda m, p: patients, resource="Patient")  # _id ignored
    ctx, searcher = server.context({"_id": P1})
    failures = patient_restriction(ctx, searcher).failures
    assert ids(failures[0], "1 of 2 entries do not belong to _id=p-one", "Patient/p-two")


def test_patient_restriction_passes_on_epics_real_encounter_search() -> None:
    def choose(method: str, params: dict[str, str]) -> Any:
        return fhir(EPIC_ENCOUNTERS) if params["patient"] == EPIC_PATIENT else fhir(EPIC_EMPTY)
    ctx, searcher = Tenant(choose).context({"patient": EPIC_PATIENT})
    verdict = patient_restriction(ctx, searcher)
    assert verdict.passed, everything(verdict)
    assert "all 10 entries" in verdict.notes[0]


def test_what_restricts_the_patient() -> None:
    assert restricting_params("Encounter", {"patient": "x", "date": "ge2024", "_count": "5"}) == {"patient": "x"}
    assert restricting_params("Communication", {"subject": "Patient/x", "category": "crm"}) == {"subject": "Patient/x"}
    assert restricting_params("Communication", {"subject": "Group/x"}) == {}
    assert restricting_params("PractitionerRole", {"practitioner": "x"}) == {}
    assert restricting_params("Patient", {"_id": "x", "family": "y"}) == {"_id": "x"}
    assert restricting_params("Coverage", {"beneficiary": "x"}) == {"beneficiary": "x"}


# --- the probe's narrowing parameters ------------------------------------------------------------


def appointment(rid: str, service: str, patient: str = P1) -> dict[str, Any]:
    return {"resourceType": "Appointment", "id": rid, "status": "booked", "start": "2024-01-01T10:00:00Z",
            "serviceCategory": [{"coding": [{"system": "http://example.org/cat", "code": service}]}],
            "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}]}


APPOINTMENTS = [appointment("a1", "surgery"), appointment("a2", "appointment"), appointment("a3", "surgery")]


def category_server(honours: bool) -> Choose:
    def choose(method: str, params: dict[str, str]) -> list[dict[str, Any]]:
        wanted = params.get("service-category", "").split("|")[-1]
        if not honours:
            return APPOINTMENTS
        return [a for a in APPOINTMENTS if a["serviceCategory"][0]["coding"][0]["code"] == wanted]
    return choose


def test_ignored_parameters_pass_when_the_category_narrows_and_an_unknown_value_finds_nothing() -> None:
    server = Tenant(category_server(True), resource="Appointment")
    ctx, searcher = server.context({"patient": P1, "service-category": "surgery"})
    verdict = ignored_parameters(ctx, searcher)
    assert verdict.passed and not verdict.warnings, everything(verdict)
    assert server.sent == [("GET", {"patient": P1, "service-category": NO_SUCH_CODE})]


def test_ignored_parameters_warn_naming_the_parameter_the_api_and_the_entries() -> None:
    server = Tenant(category_server(False), resource="Appointment")
    ctx, searcher = server.context({"patient": P1, "service-category": "surgery"})
    verdict = ignored_parameters(ctx, searcher)
    assert not verdict.failures and len(verdict.warnings) == 2
    assert ids(verdict.warnings[0], "service-category=surgery (Appointment) is ignored or applied loosely",
               "1 of 3 entries", "Appointment/a2")
    assert ids(verdict.warnings[1], "service-category (Appointment) is ignored", "still answered 3 entries")


def test_ignored_parameters_warn_when_only_the_unknown_value_shows_the_parameter_ignored() -> None:
    surgeries = [a for a in APPOINTMENTS if a["id"] != "a2"]
    server = Tenant(lambda m, p: surgeries, resource="Appointment")  # every entry happens to be a surgery
    ctx, searcher = server.context({"patient": P1, "service-category": "surgery"})
    verdict = ignored_parameters(ctx, searcher)
    assert len(verdict.warnings) == 1 and ids(verdict.warnings[0], "is ignored", "Appointment/a1", "Appointment/a3")


def test_ignored_parameters_do_not_judge_what_the_tenant_does_not_declare_or_fhir_does_not_define() -> None:
    server = Tenant(lambda m, p: [{"resourceType": "Organization", "id": "o1", "name": "Other"}],
                    resource="Organization")
    ctx, searcher = server.context({"name": "Harness"})
    verdict = ignored_parameters(ctx, searcher)
    assert verdict.inconclusive and "not declared by the CapabilityStatement for Organization" in verdict.inconclusive
    assert not verdict.warnings and not server.sent
    flags = Tenant(lambda m, p: [{"resourceType": "Flag", "id": "f1"}], resource="Flag")
    ctx, searcher = flags.context({"patient": P1, "category": "infection"})
    assert "FHIR R4 defines no such parameter for Flag" in (ignored_parameters(ctx, searcher).inconclusive or "")


def test_ignored_parameters_pass_on_epics_real_vital_signs_search() -> None:
    def choose(method: str, params: dict[str, str]) -> Any:
        wanted = params["category"] == "vital-signs" and params["patient"] == "eq081-VQEgP8drUUqCWzHfw3"
        return fhir(EPIC_VITALS) if wanted else fhir(EPIC_EMPTY)
    server = Tenant(choose, resource="Observation", shape="epic")
    ctx, searcher = server.context({"patient": "eq081-VQEgP8drUUqCWzHfw3", "category": "vital-signs"})
    verdict = ignored_parameters(ctx, searcher)
    assert verdict.passed and not verdict.warnings, everything(verdict)
    assert patient_restriction(ctx, searcher).failures == []


# --- date prefixes -------------------------------------------------------------------------------

DATED = [encounter("e1", start="2024-01-01T10:00:00Z", end="2024-01-01T10:30:00Z"),
         encounter("e2", start="2024-02-01T10:00:00Z", end="2024-02-01T10:30:00Z"),
         encounter("e3", start="2024-03-01T10:00:00Z", end="2024-03-01T10:30:00Z")]
CORRECT_DATES = {"gt2024-02-01T10:00:00Z": ["e2", "e3"], "ge2024-02-01T10:00:00Z": ["e2", "e3"],
                 "lt2024-02-01T10:00:00Z": ["e1"], "le2024-02-01T10:00:00Z": ["e1"], "eq2024-02-01": ["e2"]}


def dates_server(answers: dict[str, list[str]] | Callable[[str], list[str]]) -> Choose:
    def choose(method: str, params: dict[str, str]) -> list[dict[str, Any]]:
        if "date" not in params:
            return DATED
        wanted = answers(params["date"]) if callable(answers) else answers[params["date"]]
        return [r for r in DATED if r["id"] in wanted]
    return choose


def test_date_prefixes_pass_with_each_prefix_answered_by_fhirs_range_semantics() -> None:
    server = Tenant(dates_server(CORRECT_DATES))
    ctx, searcher = server.context({"patient": P1})
    verdict = date_prefixes(ctx, searcher)
    assert verdict.passed and not verdict.warnings, everything(verdict)
    assert [p["date"] for _, p in server.sent] == list(CORRECT_DATES)
    assert "value 2024-02-01T10:00:00Z from Encounter/e2" in verdict.notes[0]


def test_date_prefixes_fail_when_the_prefix_is_ignored_naming_the_missing_and_the_extra_entries() -> None:
    same_day = lambda value: ["e2"]  # noqa: E731  every prefix read as eq
    verdict = date_prefixes(*Tenant(dates_server(same_day)).context({"patient": P1}))
    assert len(verdict.failures) == 4, everything(verdict)
    for prefix, lost in (("gt", "e3"), ("ge", "e3"), ("lt", "e1"), ("le", "e1")):
        assert any(f"date={prefix}2024-02-01T10:00:00Z: 1 of the " in f and f"Encounter/{lost}" in f
                   for f in verdict.failures), (prefix, verdict.failures)
    assert not any("Encounter/e2" in f for f in verdict.failures)  # e2 spans the value: every prefix may keep it


def test_date_prefixes_warn_when_the_date_is_ignored_altogether() -> None:
    verdict = date_prefixes(*Tenant(dates_server(lambda value: ["e1", "e2", "e3"])).context({"patient": P1}))
    assert not verdict.failures  # nothing lost: the app gets more than it asked for
    assert any("gt2024-02-01T10:00:00Z: date is ignored or applied loosely: 1 of 3 entries" in w and "Encounter/e1" in w
               for w in verdict.warnings)


def test_date_prefixes_refused_gt_fails_and_refused_eq_warns() -> None:
    def answers(method: str, params: dict[str, str]) -> Any:
        if "date" not in params:
            return DATED
        if params["date"].startswith(("gt", "eq")):
            return fhir({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]}, 400)
        return [r for r in DATED if r["id"] in CORRECT_DATES[params["date"]]]
    verdict = date_prefixes(*Tenant(answers).context({"patient": P1}))
    assert len(verdict.failures) == 1 and "gt2024-02-01T10:00:00Z was refused" in verdict.failures[0]
    assert any("eq2024-02-01 was refused" in w for w in verdict.warnings)


def test_date_prefixes_keep_the_values_time_zone_and_read_dates_without_one_in_any_zone() -> None:
    data = [encounter("z1", start="2024-02-01T23:30:00-05:00", end="2024-02-02T00:10:00-05:00"),
            encounter("z2", start="2024-02-05T08:00:00-05:00", end="2024-02-05T09:00:00-05:00"),
            encounter("z3", start="2024-01-20", end="2024-01-20")]
    answers = {"gt2024-02-01T23:30:00-05:00": ["z1", "z2"], "ge2024-02-01T23:30:00-05:00": ["z1", "z2"],
               "lt2024-02-01T23:30:00-05:00": ["z3"], "le2024-02-01T23:30:00-05:00": ["z3"],
               "eq2024-02-01": ["z1"]}
    server = Tenant(lambda m, p: data if "date" not in p else [r for r in data if r["id"] in answers[p["date"]]])
    verdict = date_prefixes(*server.context({"patient": P1}))
    assert verdict.passed and not verdict.warnings, everything(verdict)
    assert [p["date"] for _, p in server.sent] == list(answers)  # the offset as written; eq by the day, no zone


def test_date_prefixes_inconclusive_without_a_dated_entry_and_skipped_without_a_declared_date() -> None:
    verdict = date_prefixes(*Tenant(lambda m, p: [encounter("e1", start=None)]).context({"patient": P1}))
    assert verdict.inconclusive and "no entry carries a value for" in verdict.inconclusive
    verdict = date_prefixes(*Tenant(lambda m, p: [encounter("e1")]).context({"patient": P1}, declared={"patient": "reference"}))
    assert verdict.skip and "declares no date parameter" in verdict.skip


def test_date_prefixes_pass_on_epics_real_encounters() -> None:
    """Epic's real Encounter periods: open zoned starts, closed date-only days. An answer by each encounter's start,
    with days in the server's local time (not FHIR's ongoing reading of an open Period), passes: servers differ
    there, and the rule only fails what every reading requires."""
    encounters = [e["resource"] for e in EPIC_ENCOUNTERS["entry"] if e["resource"]["resourceType"] == "Encounter"]
    by_id = {r["id"][:6]: r for r in encounters}
    before = ["eoIRZg", "eMT95R", "eeDwmA", "eg7g5t", "exfbAt", "elMz2m", "eEyT8i"]  # by start, days in US Central
    answers = {
        "gt2023-06-02T20:49:58Z": ["eoK8nL", "eGmO0h"],
        "ge2023-06-02T20:49:58Z": ["eoK8nL", "eGmO0h", "ej567A"],
        "lt2023-06-02T20:49:58Z": before,
        "le2023-06-02T20:49:58Z": before + ["ej567A"],
        "eq2023-06-02": ["ej567A", "eoIRZg", "eMT95R", "eeDwmA", "eg7g5t"],
    }

    def choose(method: str, params: dict[str, str]) -> Any:
        if "date" not in params:
            return fhir(EPIC_ENCOUNTERS)
        return [by_id[i] for i in answers[params["date"]]]
    server = Tenant(choose, shape="epic")
    verdict = date_prefixes(*server.context({"patient": EPIC_PATIENT}))
    assert verdict.passed and not verdict.warnings, everything(verdict)
    assert [p["date"] for _, p in server.sent] == list(answers)


# --- tokens, identifier, category, OR lists ------------------------------------------------------

CLASSED = [encounter("c1", **{"class": {"system": "http://cls", "code": "AMB"}, "identifier": [
               {"system": "urn:mrn", "value": "100"}]}),
           encounter("c2", **{"class": {"system": "http://cls", "code": "IMP"}, "identifier": [
               {"system": "urn:mrn", "value": "200"}]}),
           encounter("c3", **{"class": {"system": "http://cls", "code": "AMB"}, "identifier": [
               {"system": "urn:mrn", "value": "300"}]})]


def token_server(name: str, read: Callable[[dict[str, Any]], list[str]], *, data: list[dict[str, Any]] = CLASSED,
                 honours: bool = True, system_ok: bool = True) -> Choose:
    def choose(method: str, params: dict[str, str]) -> Any:
        if name not in params:
            return data
        if not honours:
            return data
        wanted = params[name].split(",")
        if not system_ok and any("|" in w for w in wanted):
            return []
        return [r for r in data if any(v == w or ("|" not in w and v.split("|")[-1] == w)
                                       for w in wanted for v in read(r))]
    return choose


def _class(r: dict[str, Any]) -> list[str]:
    return [f"{r['class']['system']}|{r['class']['code']}"]


def test_token_passes_with_system_and_code_and_fails_on_a_server_ignoring_the_system() -> None:
    server = Tenant(token_server("class", _class))
    verdict = token(*server.context({"patient": P1}))
    assert verdict.passed and not verdict.warnings, everything(verdict)
    assert server.sent[0][1]["class"] == "http://cls|IMP"  # the rarer value narrows the most
    verdict = token(*Tenant(token_server("class", _class, system_ok=False)).context({"patient": P1}))
    assert ids(verdict.failures[0], "class=http://cls|IMP are missing", "Encounter/c2")


def test_token_warns_when_the_server_ignores_it() -> None:
    verdict = token(*Tenant(token_server("class", _class, honours=False)).context({"patient": P1}))
    assert not verdict.failures and ids(verdict.warnings[0], "class is ignored or applied loosely", "Encounter/c1",
                                        "Encounter/c3")


def _identifiers(r: dict[str, Any]) -> list[str]:
    return [f"{i['system']}|{i['value']}" for i in r.get("identifier", [])]


def test_identifier_finds_the_one_resource_and_fails_when_it_does_not() -> None:
    server = Tenant(token_server("identifier", _identifiers))
    verdict = identifier(*server.context({"patient": P1}))
    assert verdict.passed and not verdict.warnings, everything(verdict)
    verdict = identifier(*Tenant(token_server("identifier", _identifiers, system_ok=False)).context({"patient": P1}))
    assert ids(verdict.failures[0], "identifier=urn:mrn|", "are missing")
    verdict = identifier(*Tenant(token_server("identifier", _identifiers, honours=False)).context({"patient": P1}))
    assert ids(verdict.warnings[0], "identifier is ignored or applied loosely", "2 of 3 entries")


def test_identifier_reuses_a_probe_that_already_searches_by_the_only_identifier() -> None:
    npi = [{"resourceType": "Practitioner", "id": "d1",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}]}]
    server = Tenant(lambda m, p: npi if p["identifier"].endswith("1234567893") else [], resource="Practitioner")
    verdict = identifier(*server.context({"identifier": "http://hl7.org/fhir/sid/us-npi|1234567893"}))
    assert verdict.passed and not verdict.warnings, everything(verdict)
    assert server.sent == [("GET", {"identifier": f"http://hl7.org/fhir/sid/us-npi|{NO_SUCH_CODE}"})]  # the control
    ignoring = Tenant(lambda m, p: npi, resource="Practitioner")
    verdict = identifier(*ignoring.context({"identifier": "http://hl7.org/fhir/sid/us-npi|1234567893"}))
    assert ids(verdict.warnings[0], "identifier (Practitioner) is ignored", "a value nothing matches",
               "Practitioner/d1")


def test_a_value_every_entry_carries_is_checked_against_a_value_nothing_matches() -> None:
    amb = [r for r in CLASSED if r["class"]["code"] == "AMB"]
    honest = Tenant(lambda m, p: amb if "class" not in p or p["class"].endswith("AMB") else [])
    verdict = token(*honest.context({"patient": P1}))
    assert verdict.passed and not verdict.warnings, everything(verdict)
    assert [p["class"] for _, p in honest.sent] == ["http://cls|AMB", f"http://cls|{NO_SUCH_CODE}"]
    verdict = token(*Tenant(lambda m, p: amb).context({"patient": P1}))
    assert ids(verdict.warnings[0], "class (Encounter) is ignored: every entry carries http://cls|AMB",
               "Encounter/c1", "Encounter/c3")


def conditions(codes: list[str]) -> list[dict[str, Any]]:
    return [{"resourceType": "Condition", "id": f"k{i}", "subject": {"reference": f"Patient/{P1}"},
             "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                       "code": code}]}]} for i, code in enumerate(codes)]


def _category(r: dict[str, Any]) -> list[str]:
    return [f"{c['system']}|{c['code']}" for cc in r.get("category", []) for c in cc["coding"]]


def test_category_searches_the_probes_own_category_with_its_system() -> None:
    data = conditions(["problem-list-item", "problem-list-item"])
    server = Tenant(token_server("category", _category, data=data), resource="Condition")
    verdict = category(*server.context({"patient": P1, "category": "problem-list-item"}))
    assert verdict.passed, everything(verdict)
    assert server.sent[0][1]["category"].endswith("condition-category|problem-list-item")
    verdict = category(*Tenant(token_server("category", _category, data=data, system_ok=False),
                               resource="Condition").context({"patient": P1, "category": "problem-list-item"}))
    assert ids(verdict.failures[0], "2 of the 2 entries that match category=", "Condition/k0", "Condition/k1")


def test_category_without_a_probe_category_picks_one_and_warns_when_ignored() -> None:
    data = conditions(["problem-list-item", "health-concern"])
    verdict = category(*Tenant(token_server("category", _category, data=data, honours=False),
                               resource="Condition").context({"patient": P1}))
    assert ids(verdict.warnings[0], "category is ignored or applied loosely", "1 of 2 entries")


def test_category_passes_on_epics_real_vital_signs() -> None:
    def choose(method: str, params: dict[str, str]) -> Any:
        return fhir(EPIC_VITALS) if params["category"].endswith("vital-signs") else fhir(EPIC_EMPTY)
    server = Tenant(choose, resource="Observation", shape="epic")
    verdict = category(*server.context({"patient": "eq081-VQEgP8drUUqCWzHfw3", "category": "vital-signs"}))
    assert verdict.passed and not verdict.warnings, everything(verdict)
    assert server.sent[0][1]["category"] == "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"


def test_or_list_of_two_codes_and_its_failure_when_the_server_ands_them() -> None:
    server = Tenant(token_server("class", _class))
    verdict = or_list(*server.context({"patient": P1}))
    assert verdict.passed, everything(verdict)
    assert server.sent[0][1]["class"] == "http://cls|AMB,http://cls|IMP"
    anded = Tenant(lambda m, p: CLASSED if "class" not in p else [])
    verdict = or_list(*anded.context({"patient": P1}))
    assert ids(verdict.failures[0], "3 of the 3 entries that match", "Encounter/c1", "Encounter/c2", "Encounter/c3")


def test_or_list_falls_back_to_ids_and_passes_on_epics_real_encounters() -> None:
    encounters = [e["resource"] for e in EPIC_ENCOUNTERS["entry"] if e["resource"]["resourceType"] == "Encounter"]

    def choose(method: str, params: dict[str, str]) -> Any:
        if "_id" in params:
            return [r for r in encounters if r["id"] in params["_id"].split(",")]
        if "class" in params:
            codes = {c.split("|")[-1] for c in params["class"].split(",")}
            return [r for r in encounters if r["class"]["code"] in codes]
        return fhir(EPIC_ENCOUNTERS)
    server = Tenant(choose, shape="epic")
    verdict = or_list(*server.context({"patient": EPIC_PATIENT}))
    assert verdict.passed and not verdict.warnings, everything(verdict)
    single = Tenant(lambda m, p: [encounter("only")])
    ctx, searcher = single.context({"patient": P1}, declared={"_id": "token", "patient": "reference"})
    verdict = or_list(ctx, searcher)
    assert verdict.passed and single.sent[0][1]["_id"] == f"only,{NO_SUCH_ID}"


# --- _count and POST ---------------------------------------------------------------------------


def test_count_passes_with_a_small_page_and_a_next_link() -> None:
    server = Tenant(lambda m, p: DATED)
    verdict = count(*server.context({"patient": P1}))
    assert verdict.passed, everything(verdict)
    assert server.sent == [("GET", {"patient": P1, "_count": "2"})]


def test_count_fails_on_a_larger_page_and_on_a_first_page_without_a_next_link() -> None:
    larger = Tenant(lambda m, p: fhir({"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": r, "search": {"mode": "match"}} for r in DATED]}) if "_count" in p else DATED)
    verdict = count(*larger.context({"patient": P1}))
    assert ids(verdict.failures[0], "the first page holds 3 entries, more than the 2 asked for", "Encounter/e1")
    truncated = Tenant(lambda m, p: fhir({"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": r, "search": {"mode": "match"}} for r in DATED[:2]]}) if "_count" in p else DATED)
    verdict = count(*truncated.context({"patient": P1}))
    assert ids(verdict.failures[0], "2 of the 3 entries that match and offers no next link")


def test_count_is_inconclusive_with_a_single_match_and_passes_on_epics_paging() -> None:
    verdict = count(*Tenant(lambda m, p: DATED[:1]).context({"patient": P1}))
    assert verdict.inconclusive and "a page of _count=1 cannot show" in verdict.inconclusive
    encounters = [e for e in EPIC_ENCOUNTERS["entry"] if e["resource"]["resourceType"] == "Encounter"]

    def choose(method: str, params: dict[str, str]) -> Any:
        if "_count" not in params:
            return fhir(EPIC_ENCOUNTERS)
        page = {**EPIC_ENCOUNTERS, "total": 2, "entry": encounters[:2],
                "link": [{"relation": "next", "url": f"{BASE}/Encounter?sessionID=16-AB6401F741B911F1BE0E005056BECC4A"},
                         EPIC_ENCOUNTERS["link"][0]]}
        return fhir(page)
    verdict = count(*Tenant(choose, shape="epic").context({"patient": EPIC_PATIENT}))
    assert verdict.passed, everything(verdict)


def test_post_search_answers_the_same_ids_or_fails_naming_the_difference() -> None:
    server = Tenant(correct_patient_server(DATED + [encounter("x9", P2)]))
    verdict = post_equivalence(*server.context({"patient": P1, "_count": "2"}))
    assert verdict.passed, everything(verdict)
    assert server.sent[0] == ("POST", {"patient": P1, "_count": "2"})
    ignores_body = Tenant(lambda m, p: DATED + [encounter("x9", P2)] if m == "POST" else DATED)
    verdict = post_equivalence(*ignores_body.context({"patient": P1}))
    assert any("do not belong to patient=p-one" in f and "Encounter/x9" in f for f in verdict.failures)
    assert any("only in POST: Encounter/x9" in f for f in verdict.failures)
    refused = Tenant(lambda m, p: fhir({"resourceType": "OperationOutcome", "issue": []}, 405) if m == "POST" else DATED)
    verdict = post_equivalence(*refused.context({"patient": P1}))
    assert ids(verdict.failures[0], "POST Encounter/_search", "was refused", "HTTP 405")
    verdict = post_equivalence(*refused.context({"patient": P1}, version="STU3", declared={}))
    assert not verdict.failures and "refused on STU3" in (verdict.inconclusive or "") and verdict.warnings


def test_post_search_compares_with_a_fresh_get_when_the_data_changed_since_the_probe() -> None:
    data = list(DATED)
    server = Tenant(lambda m, p: list(data))
    ctx, searcher = server.context({"patient": P1})
    data.append(encounter("new"))  # created by a write check after the probe search
    verdict = post_equivalence(ctx, searcher)
    assert verdict.passed and [m for m, _ in server.sent] == ["POST", "GET"]


def test_post_search_passes_on_epics_real_answer() -> None:
    verdict = post_equivalence(*Tenant(lambda m, p: fhir(EPIC_ENCOUNTERS), shape="epic").context(
        {"patient": EPIC_PATIENT}))
    assert verdict.passed and "the same 10 entries" in verdict.notes[0]


def test_an_epic_400_to_a_variant_is_reported_with_epics_words() -> None:
    patients = [{"resourceType": "Patient", "id": P1, "gender": "female", "birthDate": "1987-09-12"}]
    server = Tenant(lambda m, p: patients if set(p) == {"_id"} else fhir(EPIC_PATIENT_400, 400), resource="Patient")
    verdict = token(*server.context({"_id": P1}))
    assert ids(verdict.failures[0], "gender=female was refused", "HTTP 400", "59159")


@pytest.mark.parametrize("rule", [patient_restriction, ignored_parameters, date_prefixes, token, identifier,
                                  category, or_list, count, post_equivalence])
def test_no_rule_passes_without_entries(rule: Callable[..., Verdict]) -> None:
    server = Tenant(lambda m, p: [], resource="Condition")
    verdict = rule(*server.context({"patient": P1, "category": "problem-list-item"}))
    assert not verdict.passed, (rule.__name__, everything(verdict))
    assert not verdict.failures


def test_a_search_result_of_another_type_is_not_judged() -> None:
    ctx = SearchContext("R4", "Encounter", {"patient": P1},
                        SearchResult(resources=[encounter("e1"), {"resourceType": "Patient", "id": P2}]),
                        declared_params(CAPABILITY, "Encounter"))
    assert [r["id"] for r in ctx.entries] == ["e1"]


def test_values_the_cassettes_pseudonymize_are_not_searched_with() -> None:
    """With patient data scrubbed from cassettes, a value read from an identifier, a name or a birth date would not
    replay (the replayed answer holds its pseudonym): those rules say so in record and replay alike."""
    server = Tenant(token_server("identifier", _identifiers))
    ctx, searcher = server.context({"patient": P1})
    ctx.pseudonymized = True
    assert "pseudonymize identifiers" in (identifier(ctx, searcher).inconclusive or "")
    verdict = or_list(ctx, searcher)
    assert "identifier" not in " ".join(verdict.queries) and verdict.passed, everything(verdict)
    patients = [{"resourceType": "Patient", "id": P1, "birthDate": "1987-09-12"}]
    server = Tenant(lambda m, p: patients, resource="Patient")
    ctx, searcher = server.context({"_id": P1})
    ctx.pseudonymized = True
    assert date_prefixes(ctx, searcher).inconclusive and not server.sent
    server = Tenant(lambda m, p: [{"resourceType": "Practitioner", "id": "d1", "name": [{"family": "Physician"}]}],
                    resource="Practitioner")
    ctx, searcher = server.context({"family": "Physician"})
    ctx.pseudonymized = True
    assert "pseudonymized in this run's cassettes" in (ignored_parameters(ctx, searcher).inconclusive or "")
    assert "do not pseudonymize" in (post_equivalence(ctx, searcher).inconclusive or "") and not server.sent


def test_a_refused_token_is_the_runs_token_problem_not_a_search_finding() -> None:
    from harness.errors import AuthError

    def refuse() -> str:
        raise AuthError("no access token: the token endpoint asks for no more requests")
    server = Tenant(lambda m, p: DATED)
    ctx, searcher = server.context({"patient": P1})
    server.client.use_tokens(refuse, lambda: None)
    with pytest.raises(AuthError):
        date_prefixes(ctx, searcher)
