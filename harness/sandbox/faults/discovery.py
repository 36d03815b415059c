"""Faults of the discovery documents: smart-configuration and each version's /metadata.

Hook point: ``discovery.DiscoveryDocuments`` reads a :class:`DocumentPolicy` per document (and
version). Faults keyed by VERSION act on that version's /metadata; by DOCUMENT, on
``smart-configuration`` or on ``metadata`` of every version.
"""

from __future__ import annotations

from typing import Any

from . import args
from .core import Arg, FaultError, FaultKind, Hook, choice, sets, sets_arg
from .paths import drop_path, set_path
from .policies import DocumentPolicy

SMART = "smart-configuration"
OAUTH_URIS = "/oauth-uris"
#: discovery-error's status -> the HTML page that comes with it
ERROR_PAGES: dict[str, str] = {"403": "forbidden", "404": "iis-404", "500": "iis-500", "503": "iis-503"}


def _edit(function: Any) -> Any:
    """An effect that appends ``function(document, *args)`` to the policy's edits."""
    def effect(policy: DocumentPolicy, *values: Any) -> None:
        policy.edits.append(lambda document: function(document, *values))

    return effect


def _drop(document: dict[str, Any], name: str) -> None:
    document.pop(name, None)


def _set(document: dict[str, Any], name: str, value: Any) -> None:
    document[name] = value


def _fhir_version(statement: dict[str, Any], value: str) -> None:
    statement["fhirVersion"] = value


def _drop_resource(statement: dict[str, Any], resource_type: str) -> None:
    for rest in statement.get("rest", ()):
        rest["resource"] = [r for r in rest.get("resource", ()) if r.get("type") != resource_type]


def _security_extensions(statement: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    return [(rest.setdefault("security", {}), rest.get("security", {}).get("extension", []))
            for rest in statement.get("rest", ())]


def _drop_oauth_uris(statement: dict[str, Any]) -> None:
    for security, extensions in _security_extensions(statement):
        kept = [e for e in extensions if not str(e.get("url", "")).endswith(OAUTH_URIS)]
        if kept:
            security["extension"] = kept
        else:
            security.pop("extension", None)


def _token_uri(statement: dict[str, Any], url: str) -> None:
    for _, extensions in _security_extensions(statement):
        for extension in extensions:
            for inner in extension.get("extension", ()):
                if inner.get("url") == "token":
                    inner["valueUri"] = url


def _error(policy: DocumentPolicy, status: str) -> None:
    policy.page, policy.page_status = ERROR_PAGES[status], int(status)


def _text(arg: str) -> str:
    if not arg:
        raise FaultError("an argument is required")
    return arg


FIELD = Arg("FIELD", args.field_name)
JSON = Arg("JSON", args.json_value)
PATH = Arg("PATH", args.dotted_path)

KINDS: tuple[FaultKind, ...] = (
    # smart-configuration
    FaultKind("smart-config-drop", Hook.DISCOVERY, "smart-configuration omits FIELD", (FIELD,),
              effect=_edit(_drop), fixed_key=SMART),
    FaultKind("smart-config-set", Hook.DISCOVERY, "smart-configuration sets FIELD to the JSON value (e.g. an "
              "endpoint on a foreign origin)", (FIELD, JSON), effect=_edit(_set), fixed_key=SMART),
    FaultKind("smart-config-content-type", Hook.DISCOVERY, "smart-configuration is served with Content-Type MEDIA",
              (Arg("MEDIA", args.media_type),), effect=sets_arg("content_type"), fixed_key=SMART),
    FaultKind("smart-config-404", Hook.DISCOVERY, "smart-configuration answers 404 (an IIS HTML page)",
              effect=sets("page", "iis-404"), fixed_key=SMART),
    # /metadata of one version
    FaultKind("metadata-fhir-version", Hook.DISCOVERY, "the VERSION CapabilityStatement declares fhirVersion VALUE",
              (args.VERSION, Arg("VALUE", _text)), effect=_edit(_fhir_version), keyed=True),
    FaultKind("metadata-drop-oauth-uris", Hook.DISCOVERY,
              "the VERSION CapabilityStatement has no oauth-uris security extension", (args.VERSION,),
              effect=_edit(_drop_oauth_uris), keyed=True),
    FaultKind("metadata-token-uri", Hook.DISCOVERY, "the VERSION CapabilityStatement's oauth-uris token URL is URL",
              (args.VERSION, Arg("URL", _text)), effect=_edit(_token_uri), keyed=True),
    FaultKind("metadata-500", Hook.DISCOVERY, "VERSION /metadata answers 500 with an IIS HTML error page",
              (args.VERSION,), effect=sets("page", "iis-500"), keyed=True),
    FaultKind("metadata-drop-resource", Hook.DISCOVERY, "the VERSION CapabilityStatement does not list resource TYPE",
              (args.VERSION, args.TYPE), effect=_edit(_drop_resource), keyed=True),
    FaultKind("metadata-drop-format", Hook.DISCOVERY, "the VERSION CapabilityStatement has no format element",
              (args.VERSION,), effect=_edit(lambda s: _drop(s, "format")), keyed=True),
    FaultKind("metadata-set", Hook.DISCOVERY, "the VERSION CapabilityStatement sets element PATH (dotted, through "
              "lists, e.g. software.version) to the JSON value (any string: newlines, markdown, escapes)",
              (args.VERSION, PATH, JSON), effect=_edit(set_path), keyed=True),
    FaultKind("metadata-drop", Hook.DISCOVERY, "the VERSION CapabilityStatement omits element PATH (dotted, through "
              "lists, e.g. rest.resource.supportedProfile)", (args.VERSION, PATH), effect=_edit(drop_path),
              keyed=True),
    FaultKind("metadata-xml-only", Hook.DISCOVERY, "VERSION /metadata answers FHIR XML whatever Accept asks",
              (args.VERSION,), effect=sets("force_xml"), keyed=True),
    FaultKind("metadata-live-date", Hook.DISCOVERY, "the VERSION CapabilityStatement's date is the time of each "
              "request, as a server generating it does", (args.VERSION,), effect=sets("live_date"), keyed=True,
              setting=True),
    # either document
    FaultKind("discovery-error", Hook.DISCOVERY, "DOCUMENT (smart-configuration, or metadata of every version) "
              "answers STATUS (403, 404, 500, 503) with the web server's HTML page",
              (args.DOCUMENT, choice("STATUS", ERROR_PAGES, "status with a page (403, 404, 500, 503)")),
              effect=_error, keyed=True),
    FaultKind("discovery-sign-in-page", Hook.DISCOVERY, "DOCUMENT answers 200 with an HTML sign-in page",
              (args.DOCUMENT,), effect=sets("page", "sign-in"), keyed=True),
    FaultKind("discovery-hang", Hook.DISCOVERY, "DOCUMENT never answers (until the client gives up)",
              (args.DOCUMENT,), effect=sets("hang"), keyed=True),
    FaultKind("discovery-flaky", Hook.DISCOVERY, "the first request for DOCUMENT answers 503, the next ones work",
              (args.DOCUMENT,), effect=sets("first_request_fails"), keyed=True),
    FaultKind("discovery-delay", Hook.DISCOVERY, "both discovery documents answer after SECONDS",
              (Arg("SECONDS", args.seconds),), effect=sets_arg("delay")),
    # hostile answers to either document
    FaultKind("discovery-gzip-bomb", Hook.DISCOVERY, "DOCUMENT answers Content-Encoding: gzip, about 1 MB that "
              "decodes to 1 GiB of zeros", (args.DOCUMENT,), effect=sets("gzip_bomb"), keyed=True),
    FaultKind("discovery-double-gzip", Hook.DISCOVERY, "DOCUMENT answers Content-Encoding: gzip, gzip: about 10 KB "
              "that decode to 4 GiB of zeros", (args.DOCUMENT,), effect=sets("double_gzip"), keyed=True),
    FaultKind("discovery-endless-body", Hook.DISCOVERY, "DOCUMENT answers 200 with a JSON body that never ends",
              (args.DOCUMENT,), effect=sets("endless"), keyed=True),
    FaultKind("discovery-redirect", Hook.DISCOVERY, "DOCUMENT answers 302 to URL ({host} and {path} stand for the "
              "request's; e.g. http://169.254.169.254/latest/meta-data/ inward, http://{host}{path} from https to "
              "http)", (args.DOCUMENT, Arg("URL", args.redirect_target)), effect=sets_arg("redirect"), keyed=True),
)
