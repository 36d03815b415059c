"""A simulated Epic tenant served over real HTTP, which can be told to misbehave.

It speaks as Epic's public sandbox does: discovery documents, ``/metadata`` for R4, STU3 and
DSTU2, SMART Backend Services at ``/oauth2/token``, a bearer-guarded FHIR API over a small
synthetic population (``population/``) that answers reads, searches with Epic's paging, creates,
updates and operations, and Epic's non-FHIR web services of the requested set. Named faults
(``faults/``, listed in ``FAULTS``) switch single behaviours to wrong ones. It imports nothing
from the checks.
"""

from .app import create_app
from .clients import ClientError, RegisteredClient, load_clients, register
from .faults import FaultError
from .faults.catalog import CATALOG, FAULTS
from .server import EmbeddedSandbox, listen, serve
from .settings import SandboxSettings, default_settings

__all__ = [
    "CATALOG",
    "FAULTS",
    "ClientError",
    "EmbeddedSandbox",
    "FaultError",
    "RegisteredClient",
    "SandboxSettings",
    "create_app",
    "default_settings",
    "listen",
    "load_clients",
    "register",
    "serve",
]
