"""A wall-clock deadline and a byte budget on each whole HTTP exchange, headers included.

httpx's read timeout restarts on every byte, so a tenant that drips its status line and headers
one byte at a time holds a request open for as long as it likes. Here a network backend sits
under httpcore's connection pool: every connect, write and read it does gets
``min(its own timeout, time left before the exchange's deadline)``, and every byte read counts
against the exchange's raw byte budget. The budget is set per exchange by
:func:`exchange_budget` (a context variable, so it follows the thread that sends).
"""

from __future__ import annotations

import ssl
import time
import typing
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

import httpcore
import httpx


class ResponseTooLarge(Exception):
    """More raw bytes arrived for one exchange than its budget allows."""


@dataclass
class ExchangeBudget:
    seconds: float
    raw_limit: int
    started: float = 0.0
    raw_read: int = 0

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def spent(self) -> bool:
        return self.left() <= 0.005


_CURRENT: ContextVar[ExchangeBudget | None] = ContextVar("harness_exchange_budget", default=None)


@contextmanager
def exchange_budget(seconds: float, raw_limit: int) -> Iterator[ExchangeBudget]:
    """Within this block, every network operation of this thread shares one deadline and budget."""
    budget = ExchangeBudget(seconds=seconds, raw_limit=raw_limit, started=time.monotonic())
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    budget = _CURRENT.get()
    if budget is None:
        return timeout
    left = budget.left()
    if left <= 0:
        raise error(f"the exchange's deadline of {budget.seconds:g} s has passed")
    return left if timeout is None else min(timeout, left)


class BudgetedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))
        budget = _CURRENT.get()
        if budget is not None:
            budget.raw_read += len(data)
            if budget.raw_read > budget.raw_limit:
                raise ResponseTooLarge(f"more than {budget.raw_limit:,} bytes arrived")
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return BudgetedStream(self._inner.start_tls(ssl_context, server_hostname,
                                                    _bounded(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class BudgetedBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every operation bounded by the current exchange's budget."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        return BudgetedStream(self._inner.connect_tcp(host, port, _bounded(timeout, httpcore.ConnectTimeout),
                                                      local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        return BudgetedStream(self._inner.connect_unix_socket(path, _bounded(timeout, httpcore.ConnectTimeout),
                                                              socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(client: httpx.Client) -> int:
    """Put :class:`BudgetedBackend` under every connection pool of ``client`` (its transport and
    the proxy transports httpx mounts from the environment). Returns how many pools now have it.

    httpx 0.28 has no public way to give its transport a network backend; the pool's backend is
    replaced in place (``tests/test_client_deadline.py`` shows a dripping server stopped by it)."""
    installed = 0
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if pool is None or backend is None:
            continue
        if not isinstance(backend, BudgetedBackend):
            pool._network_backend = BudgetedBackend(backend)
        installed += 1
    return installed
