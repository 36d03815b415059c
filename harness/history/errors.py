"""The history's errors: each names the database (never its password) and what to do."""

from __future__ import annotations

from harness.errors import UsageError


class HistoryError(UsageError):
    """The history database cannot be opened, migrated, written or asked what was asked."""
