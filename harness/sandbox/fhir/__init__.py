"""The FHIR API of the simulated tenant: a small FHIR server.

``request.py`` the request context and answers; ``routing.py`` what a request asks for;
``service.py`` dispatch (scopes, the per-type FHIR hook, rendering); ``interactions.py`` read,
create, update; ``search.py`` with ``params.py`` (search parameters) and ``paging.py`` (sessions
and next links); ``present.py`` resources as the request's version shows them; ``store.py`` the
tenant's resources. Operations are in ``harness.sandbox.operations``.
"""
