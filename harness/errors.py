"""The harness's errors: a small hierarchy, each with a message a user can act on."""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code = 2


class ConfigError(HarnessError):
    """A tenant file, policy file or key file is wrong. Names the file and the field."""

    def __init__(self, file: str | Path | None, field: str | None, why: str) -> None:
        self.file = str(file) if file is not None else None
        self.field = field
        self.why = why
        where = self.file or "configuration"
        if field:
            where = f"{where}: {field}"
        super().__init__(f"{where}: {why}")


class UsageError(HarnessError):
    """The command line asks for something that cannot be done."""


class TenantError(HarnessError):
    """The tenant answered something the harness cannot use (bad status, body, transport)."""

    exit_code = 1

    def __init__(self, message: str, *, category: str = "tenant-fault") -> None:
        self.category = category
        super().__init__(message)


class OriginError(HarnessError):
    """A request would send credentials to a host that is not the tenant's own."""

    exit_code = 1


class AuthError(TenantError):
    """The token endpoint refused or could not be used."""

    def __init__(self, message: str, *, category: str = "tenant-configuration") -> None:
        super().__init__(message, category=category)
