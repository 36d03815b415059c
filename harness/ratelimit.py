"""A per-tenant rate limit, enforced before sending and shared by every check of a run."""

from __future__ import annotations

import re
import threading
import time
from typing import Callable

from harness.errors import ConfigError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute)\s*$")


def parse_rate(text: str, *, file: str | None = None, field: str = "client.rate_limit") -> float:
    """'10/s' or '300/m' → requests per second."""
    match = _RATE.match(text) if isinstance(text, str) else None
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(file, field, f"must look like \"10/s\" or \"300/m\", got {text!r}")
    per = 1.0 if match.group(2).startswith("s") else 60.0
    return float(match.group(1)) / per


class RateLimiter:
    """Spaces requests at least 1/rate seconds apart (no bursts: a tenant never sees a spike)."""

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> float:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
            self.waited += delay
        return delay
