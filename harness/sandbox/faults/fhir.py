"""Faults of the FHIR API: the bearer-token guard, and how requests about one resource type are
answered (statuses, pages, content types, broken resources, search results, outcomes).

Hook points: ``app.SandboxApp.fhir_api`` reads the :class:`GuardPolicy`;
``fhir.service.FhirService`` reads a :class:`FhirPolicy` per resource type.
"""

from __future__ import annotations

from . import args
from .core import Arg, FaultError, FaultKind, Hook, adds_arg, choice, sets, sets_arg
from .paths import drop_path
from .policies import FhirPolicy

#: An element each claimed US Core 6.1.0 profile requires (min 1) where base FHIR R4 does not, and
#: that the sandbox fills: without it the resource is valid FHIR that does not meet its profile.
US_CORE_REQUIRED: dict[str, str] = {
    "Coverage": "relationship", "DocumentReference": "type", "Encounter": "type", "Organization": "active",
    "Patient": "gender", "Practitioner": "name", "RelatedPerson": "active",
}


def _drop_element(policy: FhirPolicy, path: str) -> None:
    policy.edits.append(lambda resource: drop_path(resource, path))


def _unmet(resource_type: str) -> list[str]:
    return [f"fhir-drop-element:{resource_type}={US_CORE_REQUIRED[resource_type]}"]


def _context(text: str) -> str:
    if not text.strip():
        raise FaultError("the context is empty (e.g. Outside Record)")
    return text.strip()


TYPE = args.TYPE

KINDS: tuple[FaultKind, ...] = (
    FaultKind("fhir-ignore-token", Hook.FHIR_GUARD, "FHIR requests are served without checking the access token",
              effect=sets("ignore_token")),
    FaultKind("fhir-reject-tokens", Hook.FHIR_GUARD, "every FHIR request is answered 401 invalid_token, even with "
              "a valid token", effect=sets("reject_every_token")),
    FaultKind("fhir-status", Hook.FHIR, "every request for TYPE is answered with HTTP CODE and an OperationOutcome",
              (TYPE, Arg("CODE", args.status)), effect=sets_arg("status"), keyed=True),
    FaultKind("fhir-html-500", Hook.FHIR, "every request for TYPE is answered 500 with an IIS HTML error page",
              (TYPE,), effect=sets("page", "iis-500"), keyed=True),
    FaultKind("fhir-not-served", Hook.FHIR, "TYPE is not served: its reads and searches answer Epic's IIS HTML "
              "404 page, as for a path Epic does not route", (TYPE,), effect=sets("not_served"), keyed=True),
    FaultKind("fhir-content-type", Hook.FHIR, "every answer about TYPE carries Content-Type MEDIA (the body is "
              "unchanged)", (TYPE, Arg("MEDIA", args.media_type)), effect=sets_arg("content_type"), keyed=True),
    FaultKind("fhir-invalid", Hook.FHIR, "TYPE resources break the FHIR schema (a number where a string belongs, an "
              "unknown element)", (TYPE,), effect=sets("invalid"), keyed=True),
    FaultKind("fhir-empty", Hook.FHIR, "TYPE searches find nothing (a total of 0 and Epic's 4101 outcome)",
              (TYPE,), effect=sets("empty"), keyed=True),
    FaultKind("fhir-not-authorized", Hook.FHIR, "TYPE searches drop every entry and add Epic's 59204 warning "
              "'Client not authorized for TYPE - CONTEXT' (the context the search asks for, else Outside Record)",
              (TYPE,), effect=sets("not_authorized"), keyed=True),
    FaultKind("fhir-suppressed-context", Hook.FHIR, "TYPE searches keep their entries and add Epic's 59204 warning "
              "'Client not authorized for TYPE - CONTEXT. Search results of this type have not been included.' "
              "(e.g. Encounter=Outside Record)", (TYPE, Arg("CONTEXT", _context)),
              effect=adds_arg("suppressed_contexts"), keyed=True),
    FaultKind("fhir-500-on-malformed", Hook.FHIR, "TYPE searches with a malformed value (e.g. a date that is no "
              "date) answer an IIS HTML 500 instead of 400 with Epic's 4100", (TYPE,),
              effect=sets("malformed_is_500"), keyed=True),
    FaultKind("fhir-echo-authorization", Hook.FHIR, "every request for TYPE is answered 500 with an OperationOutcome "
              "whose diagnostics echo the request's Authorization header", (TYPE,),
              effect=sets("echo_authorization"), keyed=True),
    FaultKind("fhir-wrong-patient", Hook.FHIR, "TYPE searches naming a patient answer another patient's resources "
              "(the self link still names the patient asked for)", (TYPE,), effect=sets("wrong_patient"), keyed=True),
    FaultKind("fhir-ignore-patient", Hook.FHIR, "TYPE searches ignore the parameters that restrict the patient "
              "(patient, subject, any reference to a Patient): they answer every patient's resources (the self link "
              "still names the patient asked for)", (TYPE,), effect=sets("ignore_patient"), keyed=True),
    FaultKind("fhir-ignore-param", Hook.FHIR, "TYPE searches ignore search parameter NAME (answered as if it was "
              "not sent; the self link still names it)", (TYPE, Arg("NAME", args.search_param)),
              effect=adds_arg("ignored_params"), keyed=True),
    FaultKind("fhir-date-prefix-ignored", Hook.FHIR, "TYPE date searches ignore the prefix: ge, le, gt, lt, ne, sa, "
              "eb and ap are read as eq (the value's whole range must contain the resource's date)", (TYPE,),
              effect=sets("date_prefix_as_eq"), keyed=True),
    FaultKind("fhir-post-search-differs", Hook.FHIR, "POST TYPE/_search answers without the last match a GET of the "
              "same search returns (so their ids differ)", (TYPE,), effect=sets("post_search_drops_last"),
              keyed=True),
    FaultKind("fhir-ignore-count", Hook.FHIR, "TYPE searches ignore _count: pages hold up to 1000 entries",
              (TYPE,), effect=sets("ignore_count"), keyed=True),
    FaultKind("fhir-unscoped-writes", Hook.FHIR, "creates and updates of TYPE (or of every type) are accepted "
              "whatever the token's scopes: a write outside the client's registration answers 201 or 200",
              (TYPE,), effect=sets("unscoped_writes"), keyed=True, optional_key=True),
    FaultKind("fhir-drop-element", Hook.FHIR, "every TYPE resource served (reads, searches, in every version) "
              "lacks element PATH (e.g. class, name.family, occurrence[x]): a Must Support element or a field the "
              "app reads never filled", (TYPE, Arg("PATH", args.element_path)), effect=_drop_element, keyed=True),
    FaultKind("fhir-profile-unmet", Hook.FHIR, "TYPE resources do not meet the US Core profile the sandbox claims: "
              "an element the profile requires is left out (valid FHIR otherwise; the fault "
              "fhir-drop-element of that element)", (choice("TYPE", US_CORE_REQUIRED, "type with a US Core element "
              "the sandbox can leave out"),), expands=_unmet, keyed=True,
              choices={t: f"{t} resources lack {e}, which us-core-{t.lower()} requires (min 1)"
                       for t, e in US_CORE_REQUIRED.items()}),
    FaultKind("fhir-diagnostics", Hook.FHIR, "every OperationOutcome issue in answers about TYPE has diagnostics "
              "TEXT (a JSON string for escapes, or the text as it is); with fhir-status or fhir-empty it is seen",
              (TYPE, Arg("TEXT", args.text_value)), effect=sets_arg("diagnostics"), keyed=True),
)
