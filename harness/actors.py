"""Who must act on a finding, in plain words: the vendor, the customer's Epic team, the tenant, the harness."""

from __future__ import annotations

from typing import Literal

Category = Literal["vendor-credentials", "test-data", "tenant-configuration", "tenant-fault", "harness-error"]
CATEGORIES: tuple[Category, ...] = ("vendor-credentials", "test-data", "tenant-configuration", "tenant-fault",
                                    "harness-error")


def is_epic(software_name: str | None) -> bool:
    """Unknown software is taken to be Epic: the harness is built for Epic tenants."""
    return software_name is None or "epic" in software_name.lower()


def actor(category: str | None, software_name: str | None = None) -> str:
    """Who acts, e.g. "the vendor (the app's own key, JWK Set or client registration)"."""
    epic = is_epic(software_name)
    return {
        "vendor-credentials": "the vendor: the app's own key, JWK Set or client registration",
        "test-data": "the vendor: the tenant file's test data (ids and values that exist in this environment)",
        "tenant-configuration": ("the customer's Epic team: the tenant's configuration" if epic
                                 else "the server's administrators: its configuration"),
        "tenant-fault": ("Epic technical services: the tenant answers wrongly" if epic
                         else "the server's operators: it answers wrongly"),
        "harness-error": "the harness maintainers: the harness could not judge (send them the report folder)",
    }.get(category or "harness-error", str(category))


def short_actor(category: str | None, software_name: str | None = None) -> str:
    epic = is_epic(software_name)
    return {
        "vendor-credentials": "vendor (credentials)",
        "test-data": "vendor (test data)",
        "tenant-configuration": "customer's Epic team" if epic else "server administrators",
        "tenant-fault": "Epic technical services" if epic else "server operators",
        "harness-error": "harness maintainers",
    }.get(category or "harness-error", str(category))


#: Who must act on a refused token request, by its OAuth error.
TOKEN_REFUSAL: dict[str, Category] = {
    "invalid_client": "vendor-credentials",   # the client id, its registered key or JWK Set, or its propagation
    "invalid_scope": "vendor-credentials",    # the tenant file asks for a scope the client is not registered for
    "invalid_request": "vendor-credentials",
    "unauthorized_client": "tenant-configuration",  # known client, not activated or mapped to a user by the customer
}


def token_refusal_actor(oauth_error: str | None) -> Category:
    return TOKEN_REFUSAL.get(oauth_error or "", "tenant-fault")
