"""The sandbox's routes: discovery, /metadata, the token endpoint, and the guarded FHIR API.

Paths are relative to the Interconnect root, so the application can be served at ``/`` or
mounted under a prefix (``/interconnect-fhir-oauth``); every absolute URL it answers with is
built from the request (see ``urls.py``).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import documents, urls
from .faults import FHIR_VERSIONS, ActiveFaults
from .fhir import FhirRequest, FhirService
from .oauth import TokenError, TokenRequest, TokenService
from .settings import SandboxSettings

INVALID_TOKEN = (
    'Bearer error="invalid_token", error_description="The access token provided is not valid"'
)
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}

#: Every HTTP method, so that a wrong verb reaches the handler (and is refused as Epic does).
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class SandboxApp:
    """The handlers of one sandbox, sharing its settings, faults, tokens and FHIR service."""

    def __init__(self, settings: SandboxSettings, fhir: FhirService | None = None) -> None:
        self.settings = settings
        self.faults = ActiveFaults(settings.faults)
        self.tokens = TokenService(settings, self.faults)
        self.fhir = fhir or FhirService(settings, self.faults)

    # -- discovery --

    async def smart_configuration(self, request: Request) -> Response:
        self._version(request)
        if self.faults.on("smart-config-404"):
            return documents.html_404()
        document = urls.rewrite(documents.smart_configuration(), urls.interconnect_root(request))
        for name in self.faults.args("smart-config-drop"):
            document.pop(name, None)
        for name, value in self.faults.args("smart-config-set"):
            document[name] = value
        content_type = self.faults.last("smart-config-content-type") or documents.JSON
        return documents.json_response(document, content_type=content_type)

    async def openid_configuration(self, request: Request) -> Response:
        if "version" in request.path_params:
            self._version(request)
        document = urls.rewrite(documents.openid_configuration(), urls.interconnect_root(request))
        return documents.json_response(document)

    async def oidc_jwks(self, request: Request) -> Response:
        return documents.json_response(documents.oidc_jwks())

    async def metadata(self, request: Request) -> Response:
        version = self._version(request)
        if self.faults.on("metadata-500", version):
            return documents.html_500()
        root = urls.interconnect_root(request)
        statement = self.capability_statement(version, root)
        content_type = documents.negotiate(
            request.headers.get("accept"), request.query_params.get("_format")
        )
        return documents.render(statement, content_type)

    def capability_statement(self, version: str, root: str) -> dict[str, Any]:
        """The statement for ``version`` as served at ``root``, with the metadata faults applied."""
        statement: dict[str, Any] = urls.rewrite(documents.capability_statement(version), root)
        faults = self.faults
        fhir_version = faults.value_for("metadata-fhir-version", version)
        if fhir_version is not None:
            statement["fhirVersion"] = fhir_version
        if faults.on("metadata-drop-format", version):
            statement.pop("format", None)
        dropped = set(faults.values_for("metadata-drop-resource", version))
        token_uri = faults.value_for("metadata-token-uri", version)
        for rest in statement.get("rest", ()):
            if dropped:
                rest["resource"] = [r for r in rest.get("resource", ()) if r.get("type") not in dropped]
            security = rest.get("security", {})
            extensions = security.get("extension", [])
            if faults.on("metadata-drop-oauth-uris", version):
                extensions = [e for e in extensions if not e.get("url", "").endswith("/oauth-uris")]
                if extensions:
                    security["extension"] = extensions
                else:
                    security.pop("extension", None)
            if token_uri is not None:
                for extension in extensions:
                    for inner in extension.get("extension", ()):
                        if inner.get("url") == "token":
                            inner["valueUri"] = token_uri
        return statement

    # -- OAuth 2.0 --

    async def token(self, request: Request) -> Response:
        if self.faults.on("token-500"):
            return documents.html_500()
        body = await request.body()
        token_request = TokenRequest(
            method=request.method,
            content_type=request.headers.get("content-type", ""),
            body=body,
            query=tuple(request.query_params.multi_items()),
            token_url=urls.token_url(urls.interconnect_root(request)),
        )
        try:
            grant = await self.tokens.issue(token_request)
        except TokenError as error:
            payload = {"error": error.error, "error_description": error.description}
            return self._no_store(payload, 400)
        body = grant.body()
        for name, value in self.faults.args("token-response-set"):
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        return self._no_store(body, 200)

    @staticmethod
    def _no_store(payload: dict[str, Any], status_code: int) -> Response:
        response = documents.json_response(payload, status_code)
        response.headers.update(NO_STORE)
        return response

    # -- FHIR --

    async def fhir_api(self, request: Request) -> Response:
        version = self._version(request)
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        issued = self.tokens.lookup(token.strip()) if scheme.lower() == "bearer" else None
        if issued is None and not self.faults.on("fhir-ignore-token"):
            return Response(status_code=401, headers={"www-authenticate": INVALID_TOKEN})
        root = urls.interconnect_root(request)
        fhir_request = FhirRequest(
            version=version,
            path=request.path_params.get("rest", ""),
            query=tuple(request.query_params.multi_items()),
            method=request.method,
            body=await request.body(),
            scopes=issued.scopes if issued else self.tokens.all_registered_scopes(),
            base_url=urls.fhir_base(root, version),
            headers=dict(request.headers),
            client_id=issued.client_id if issued else None,
        )
        return await self.fhir.handle(fhir_request)

    # -- helpers --

    @staticmethod
    def _version(request: Request) -> str:
        version = str(request.path_params.get("version", ""))
        if version not in FHIR_VERSIONS:
            raise HTTPException(404)
        return version

    def routes(self) -> list[Route]:
        fhir_root = "/api/FHIR/{version}"
        return [
            Route(f"{fhir_root}/.well-known/smart-configuration", self.smart_configuration, methods=["GET"]),
            Route(f"{fhir_root}/.well-known/openid-configuration", self.openid_configuration, methods=["GET"]),
            Route("/oauth2/.well-known/openid-configuration", self.openid_configuration, methods=["GET"]),
            Route(urls.OIDC_JWKS_PATH, self.oidc_jwks, methods=["GET"]),
            Route(f"{fhir_root}/metadata", self.metadata, methods=["GET"]),
            Route(urls.TOKEN_PATH, self.token, methods=ALL_METHODS),
            Route(fhir_root + "/{rest:path}", self.fhir_api, methods=ALL_METHODS),
        ]


async def _not_found(request: Request, exc: Exception) -> Response:
    return documents.html_404()


async def _server_error(request: Request, exc: Exception) -> Response:
    return documents.html_500()


def create_app(settings: SandboxSettings) -> Starlette:
    """A Starlette application simulating one Epic tenant with ``settings``."""
    sandbox = SandboxApp(settings)
    app = Starlette(
        routes=sandbox.routes(),
        exception_handlers={404: _not_found, 405: _not_found, 500: _server_error},
    )
    app.state.sandbox = sandbox
    if any(name.startswith("transport-") for name in sandbox.faults.names):
        from .transport import HostileTransport

        app.add_middleware(HostileTransport, faults=sandbox.faults)
    return app
