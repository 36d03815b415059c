"""The sandbox's routes: discovery, /metadata, the token endpoint, the guarded FHIR API, and
Epic's non-FHIR web services.

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

from . import negotiation, transport, urls, webservices
from .discovery import DiscoveryDocuments
from .faults import ActiveFaults, Hook
from .faults.args import FHIR_VERSIONS
from .faults.catalog import active
from .faults.policies import GuardPolicy, TokenPolicy
from .fhir.request import FhirRequest
from .fhir.service import FhirService
from .settings import SandboxSettings
from .token.endpoint import IssuedToken, TokenService
from .token.rules import TokenError, TokenRequest

INVALID_TOKEN = 'Bearer error="invalid_token", error_description="The access token provided is not valid"'
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
BOM = b"\xef\xbb\xbf"

#: Every HTTP method, so that a wrong verb reaches the handler (and is refused as Epic does).
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class SandboxApp:
    """The handlers of one sandbox, sharing its settings, faults, tokens and FHIR service."""

    def __init__(self, settings: SandboxSettings, fhir: FhirService | None = None) -> None:
        self.settings = settings
        self.faults: ActiveFaults = active(settings.faults)
        self.guard = self.faults.policy(Hook.FHIR_GUARD, GuardPolicy)  # the FHIR guard's hook point
        self.tokens = TokenService(settings.clients, self.faults, settings.token_lifetime)
        self.token_policy: TokenPolicy = self.tokens.policy
        self.fhir = fhir or FhirService(self.faults)
        self.discovery = DiscoveryDocuments(self.faults)

    # -- discovery --

    async def smart_configuration(self, request: Request) -> Any:
        self._version(request)
        return await self.discovery.smart_configuration(request)

    async def openid_configuration(self, request: Request) -> Response:
        if "version" in request.path_params:
            self._version(request)
        return self.discovery.openid_configuration(request)

    async def oidc_jwks(self, request: Request) -> Response:
        return self.discovery.oidc_jwks()

    async def metadata(self, request: Request) -> Any:
        return await self.discovery.metadata(request, self._version(request))

    def capability_statement(self, version: str, root: str) -> dict[str, Any]:
        return self.discovery.capability_statement(version, root)

    # -- OAuth 2.0 --

    async def token(self, request: Request) -> Response:
        policy = self.token_policy
        if policy.page is not None:
            return negotiation.html(policy.page)
        token_request = TokenRequest(
            method=request.method,
            content_type=request.headers.get("content-type", ""),
            body=await request.body(),
            query=tuple(request.query_params.multi_items()),
            token_url=urls.token_url(urls.interconnect_root(request)),
        )
        try:
            grant = await self.tokens.issue(token_request)
        except TokenError as error:
            description = policy.error_description if policy.error_description is not None else error.description
            return self._no_store({"error": error.error, "error_description": description}, 400)
        body = grant.body()
        for name, value in policy.response_set:
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        return self._no_store(body, 200)

    def _no_store(self, payload: dict[str, Any], status_code: int) -> Response:
        response = negotiation.json_response(payload, status_code, prefix=BOM if self.token_policy.bom else b"")
        response.headers.update(NO_STORE)
        return response

    # -- the bearer-token guard --

    def _bearer(self, request: Request) -> IssuedToken | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return self.tokens.lookup(token.strip()) if scheme.lower() == "bearer" else None

    def _guarded(self, request: Request) -> tuple[bool, IssuedToken | None]:
        """(may pass, the token): the guard hook point."""
        issued = self._bearer(request)
        if self.guard.reject_every_token:
            return False, None
        return issued is not None or self.guard.ignore_token, issued

    @staticmethod
    def _unauthorized() -> Response:
        return Response(status_code=401, headers={"www-authenticate": INVALID_TOKEN})

    # -- FHIR --

    async def fhir_api(self, request: Request) -> Response:
        version = self._version(request)
        allowed, issued = self._guarded(request)
        if not allowed:
            return self._unauthorized()
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

    # -- web services --

    def web_service(self, name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            allowed, _ = self._guarded(request)
            if not allowed:
                return self._unauthorized()
            status, body = webservices.call(name, dict(request.query_params), await request.body())
            return negotiation.json_response(body, status, content_type=negotiation.JSON_UTF8)

        return endpoint

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
            *[Route(path, self.web_service(name), methods=["GET", "POST"])
              for name, path in webservices.PATHS.items()],
            Route(fhir_root + "/{rest:path}", self.fhir_api, methods=ALL_METHODS),
        ]


async def _not_found(request: Request, exc: Exception) -> Response:
    return negotiation.html("iis-404")


async def _server_error(request: Request, exc: Exception) -> Response:
    return negotiation.html("iis-500")


def create_app(settings: SandboxSettings) -> Starlette:
    """A Starlette application simulating one Epic tenant with ``settings``."""
    sandbox = SandboxApp(settings)
    app = Starlette(
        routes=sandbox.routes(),
        exception_handlers={404: _not_found, 405: _not_found, 500: _server_error},
    )
    app.state.sandbox = sandbox
    transport.install(app, sandbox.faults)
    return app
