"""One run's results, built by hand for the report writers: every outcome, ten identical failures, a token probe
per parameter, blocked checks of one root cause, and tenant text that tries every medium's tricks."""

from __future__ import annotations

from harness.run.outcome import Outcome
from harness.run.results import DESELECTED, RunResults
from tests.support.results import api_row, check_result, run_results

#: A tenant's name and message: markup of each medium, a terminal's escape sequences (colour, a hyperlink),
#: a bidirectional override, a line break that would start a Markdown heading, table pipes, Rich markup.
TENANT = "St. Elsewhere <b>Health</b> \x1b[31m| # *x*\nGate=passed"
HOSTILE = ('said "no" <script>alert(1)</script> \x1b]8;;https://evil.example/\x07here\x1b]8;;\x07 '
           "[bold red]markup[/] \u202eevil\u202c\n## Injected heading\r\n| cell | x")
SECRET = "secret-access-token-0123456789abcdef"

DIRECTORY = "Providers & organizational directory"
PRACTITIONER_APIS = [f"Practitioner.{kind} ({context}) (R4)" for kind in ("Read", "Search")
                     for context in ("Organizational Directory", "Care Team", "Referrals", "Scheduling", "Provider")]
OTHER_APIS = [f"Patient.Read (Context {i}) (R4)" for i in range(30)]
PATIENT = "Patient.Read (Demographics) (R4)"
SEARCH = "Patient.Search (Demographics) (R4)"
NOT_DECLARED = "Practitioner is not in the R4 CapabilityStatement"
DECLARED_WHY = "an API the app needs must be offered by the tenant's CapabilityStatement"


def sample_results(*, tenant: str = TENANT, message: str = HOSTILE) -> RunResults:
    coverage = dict(area="API coverage", check_group="coverage", why=DECLARED_WHY, title="The API is declared",
                    source="FHIR R4 CapabilityStatement", requirements=("fhir-capabilities@1",))
    checks = [
        check_result("discovery.smart-configuration.served", source_url="https://hl7.org/fhir/smart-app-launch/",
                     nodeid="suites/test_discovery.py::test_served"),
        check_result("discovery.smart-configuration.signing-algorithms", "warning",
                     warnings=["token_endpoint_auth_signing_alg_values_supported is missing (RECOMMENDED)"]),
        *[check_result("coverage.declared", "failed", api=name, group=DIRECTORY, message=NOT_DECLARED,
                       category="tenant-configuration", **coverage) for name in PRACTITIONER_APIS],
        *[check_result("coverage.declared", api=name, group="Patients & demographics", **coverage)
          for name in OTHER_APIS],
        check_result("exercise.read", "failed", api=PATIENT, group="Patients & demographics", message=message,
                     category="tenant-fault", area="API exercise", check_group="exercise", notes=[message],
                     nodeid="suites/test_exercise.py::test_read[Patient.Read]"),
        check_result("auth.token.refuses", api=None, param="aud", area="Authorization", check_group="auth",
                     source_url="https://hl7.org/fhir/smart-app-launch/backend-services.html"),
        check_result("auth.token.refuses", "failed", param="expired", area="Authorization", check_group="auth",
                     message="issued a token for an expired assertion", category="tenant-fault"),
        check_result("exercise.search", "broken", api=SEARCH, group="Patients & demographics",
                     message="harness error: KeyError: 'entry'", category="harness-error", area="API exercise",
                     check_group="exercise"),
        *[check_result(f"exercise.paging.{i}", "blocked", api=SEARCH, group="Patients & demographics",
                       blocked_by=f"exercise.search[{SEARCH}]", area="API exercise", check_group="exercise",
                       message="the API's own exercise check broken: there is no answer to judge") for i in range(5)],
        check_result("data.us-core", "inconclusive", api=PATIENT, group="Patients & demographics",
                     message="throttled (HTTP 429) every time", area="API exercise", check_group="exercise"),
        check_result("exercise.create", "skipped", api="Communication.Create (R4)", group="Communication & tasks",
                     message="a write: run with --allow-writes", category="test-data", area="API exercise",
                     check_group="exercise"),
        check_result("probing.search", "skipped", required=False, message="probing is off for this tenant",
                     area="Probing", check_group="probing"),
        check_result("discovery.metadata.served", "skipped", param="DSTU2", message=DESELECTED),
    ]
    apis = [
        *[api_row(name, DIRECTORY, declared=False, exercised=None, verified=False, not_verified="not declared",
                  detail={"declared": NOT_DECLARED}) for name in PRACTITIONER_APIS],
        *[api_row(name, "Patients & demographics") for name in OTHER_APIS],
        api_row(PATIENT, "Patients & demographics", exercised=Outcome.FAILED, verified=False,
                not_verified=f"exercise.read failed: {message}"),
        api_row(SEARCH, "Patients & demographics", exercised=Outcome.BROKEN, verified=False,
                not_verified="exercise.search broken"),
        api_row("Communication.Create (R4)", "Communication & tasks", granted=False, exercised=Outcome.SKIPPED,
                verified=False, not_verified="exercise.create skipped", detail={"granted": "no scope for it"}),
    ]
    return run_results(checks, apis, tenant=tenant,
                       stats={"requests_sent": 12, "retries": 1, "retry_wait_s": 0.5, "rate_limit_wait_s": 0.0,
                              "rate_limit_per_s": 5.0, "token_requests": 1})
