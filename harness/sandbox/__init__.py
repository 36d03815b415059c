"""A simulated Epic tenant served over real HTTP, which can be told to misbehave.

It speaks as Epic's public sandbox does: discovery documents, ``/metadata`` for R4, STU3 and
DSTU2, SMART Backend Services at ``/oauth2/token``, and a bearer-guarded FHIR API over a small
synthetic population (``population.py``) that answers reads, searches with Epic's paging, creates,
updates and operations. Named faults (``FAULTS``) switch single behaviours to wrong ones. It
imports nothing from the checks.
"""

from .app import create_app
from .faults import FAULTS
from .server import EmbeddedSandbox, serve
from .settings import RegisteredClient, SandboxSettings, default_settings, load_clients

__all__ = [
    "FAULTS",
    "EmbeddedSandbox",
    "RegisteredClient",
    "SandboxSettings",
    "create_app",
    "default_settings",
    "load_clients",
    "serve",
]
