"""Origins: ``scheme://host:port`` with the port made explicit, so that two URLs share an origin only
when their scheme, host and port are the same."""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    """``scheme://host:port``, the port made explicit: origins differ by scheme, host or port."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def without_query(url: str) -> str:
    """The origin and path of ``url``, without query, fragment or trailing slash."""
    return f"{origin_of(url)}{urlsplit(url).path.rstrip('/')}"
