"""Nothing secret and no patient data in the history: only allow-listed fields are stored, and the
strings among them are cleaned of anything that looks like a credential."""

from __future__ import annotations

import copy

from harness.history.load import fleet_runs_as_json
from harness.history.load import summary as stored_summary
from harness.history.record import record_fleet, record_run
from harness.history.store import History
from tests.history.history_helpers import all_text, sandbox_summary

JWT = ("eyJhbGciOiJSUzM4NCIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhcHAtY2xpZW50IiwiYXVkIjoiaHR0cHM6Ly9lcGljIn0."
       "c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1oZXJlLTEyMw")
OPAQUE = "Xk29dkDk3lsP0qmZ8rT5vW2yB7nC4hJ6"  # an opaque bearer token or client secret
PATIENT = "Theodore Mychart"
BIRTH = "1948-07-04"


def hostile_summary() -> dict:
    s = sandbox_summary()
    s["tenant"] = f"acme\x1b[31m-nonprod {JWT}"
    s["base_url"] = f"https://user:pw@epic.example.org/interconnect?access_token={OPAQUE}#frag"
    s["software_version"] = f"May 2026 {OPAQUE}"
    s["gate_reasons"] = [f"Patient {PATIENT} born {BIRTH}: token {JWT}"]
    s["gate_waived"] = [OPAQUE]
    s["stats"]["bearer"] = JWT
    s["patient"] = {"name": PATIENT, "birthDate": BIRTH}  # a key the history never heard of
    s["harness_version"] = f"0.1.0 {OPAQUE}"
    for check in s["checks"]:
        check["message"] = f"Patient/{PATIENT} ({BIRTH}) answered with Authorization: Bearer {JWT}"
        check["warnings"] = [OPAQUE]
        check["notes"] = [PATIENT]
        check["data"] = {"patient": {"name": PATIENT, "birthDate": BIRTH}, "token": JWT}
        check["title"] = f"{check['title']} {PATIENT}"
        check["category"] = f"tenant-fault {OPAQUE}"
        check["requirements"] = [JWT, "rfc7523@3-1", PATIENT, f"epic@{OPAQUE}"]
        check["blocked_by"] = JWT
    s["checks"].append({"id": f"exercise.read[{JWT}]", "outcome": "failed", "message": PATIENT})
    s["checks"].append({"id": f"probe.search[name={PATIENT}]", "outcome": "passed"})
    for api in s["apis"]:
        api["detail"] = {"declared": f"{PATIENT} {JWT}", "exercised": OPAQUE}
        api["group"] = f"{api['group']} {OPAQUE}"
    s["apis"].append({"name": f"Patient.Read ({OPAQUE})", "declared": True})
    return s


def test_a_summary_carrying_tokens_and_a_patient_keeps_neither(history_path):
    done = record_run(hostile_summary(), history=history_path)
    stored = all_text(f"sqlite:///{history_path}")
    for secret in (JWT, "eyJhbGci", OPAQUE, "user:pw", "access_token", PATIENT, "Mychart", BIRTH, "\x1b"):
        assert secret not in stored, secret
    with History(history_path) as h, h.read() as conn:
        back = stored_summary(conn, done.run_id)
    # what the history is for is still there
    assert back["tenant"] == "acme-nonprod [redacted]"
    assert back["base_url"] == "https://epic.example.org/interconnect"
    assert back["software_version"] == "May 2026 [redacted]"
    assert {a["name"] for a in back["apis"]} == {a["name"] for a in sandbox_summary()["apis"]}
    # the two check ids carrying a token or a name in brackets are dropped, every real one kept
    assert {c["id"] for c in back["checks"]} == {c["id"] for c in sandbox_summary()["checks"]}
    assert all(c["category"] is None for c in back["checks"])
    # of the requirement ids only the one of the catalogue's shape is kept; a token as the blocking check is not
    assert {tuple(c["requirements"]) for c in back["checks"]} == {("rfc7523@3-1",)}
    assert all(c["blocked_by"] is None for c in back["checks"])


def test_the_passing_case_keeps_every_allow_listed_field(history_path):
    original = sandbox_summary()
    done = record_run(original, history=history_path)
    with History(history_path) as h, h.read() as conn:
        back = stored_summary(conn, done.run_id)
    for key in ("tenant", "environment", "harness_version", "software_version", "requested_set", "gate"):
        assert back[key] == original[key], key
    assert back["base_url"] == original["base_url"]
    assert {(a["name"], a["declared"], a["granted"], a["exercised"]) for a in back["apis"]} == \
        {(a["name"], a["declared"], a["granted"], a["exercised"]) for a in original["apis"]}
    assert {(c["id"], c["outcome"]) for c in back["checks"]} == {(c["id"], c["outcome"]) for c in original["checks"]}


def test_a_fleet_json_carrying_tokens_and_a_patient_keeps_neither(history_path, fleet_json):
    fleet = copy.deepcopy(fleet_json)
    first = fleet["tenants"][0]
    first["name"] = f"Clinic {JWT}"
    first["url"] = f"{first['url']}?access_token={OPAQUE}"
    first["metadata"]["detail"] = f"{PATIENT} {BIRTH}"
    first["organizations"][0]["name"] = PATIENT
    first["software"]["version"] = f"February 2026 {OPAQUE}"
    first["tls"] = {"host": f"epic.example.org:443 {JWT}", "version": "TLSv1.3", "tls1_0": "refused",
                    "tls1_1": PATIENT, "peer": {"name": PATIENT}, "session_ticket": OPAQUE,
                    "certificate": {"issuer": "CN=Example Issuing CA, O=Example", "subject": f"CN=epic {OPAQUE}",
                                    "not_after": "2027-01-01T00:00:00Z", "days_left": 31, "expires_soon": False,
                                    "holder": PATIENT, "serial": OPAQUE}}
    fleet["directory"]["source"] = f"/home/{PATIENT}/endpoints-{OPAQUE}.json"
    fleet["scope"] = {"limit": 1, "not_run": [f"https://x.example/fhir?token={OPAQUE}"], "note": PATIENT}
    done = record_fleet(fleet, history=history_path)
    stored = all_text(f"sqlite:///{history_path}")
    for secret in (JWT, "eyJhbGci", OPAQUE, "access_token", PATIENT, BIRTH, "/home/"):
        assert secret not in stored, secret
    with History(history_path) as h, h.read() as conn:
        back = fleet_runs_as_json(conn, [done.run_id])[done.run_id]
    assert back["tenants"][0]["tls"] == {  # the fleet's own fields, cleaned; the answer that is not one is null
        "host": "epic.example.org:443 [redacted]", "version": "TLSv1.3", "tls1_0": "refused", "tls1_1": None,
        "certificate": {"issuer": "CN=Example Issuing CA, O=Example", "subject": "CN=epic [redacted]",
                        "not_after": "2027-01-01T00:00:00Z", "days_left": 31, "expires_soon": False}}
    assert back["scope"]["not_run"] == ["https://x.example/fhir?[redacted]"]
