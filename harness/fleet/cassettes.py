"""Cassettes for a fleet run: record every tenant's discovery once, replay the fleet with no network.

**One cassette per tenant** (per distinct address), at
``<dir>/<scheme>_<host>[_<port>]/<path>.<hash>.yaml``. A tenant's cassette holds its two documents
with every retry, and nothing of any other tenant, so:

- tenants never answer for one another, even where many share one host (Epic-hosted proxies) or
  one path on different hosts;
- the workers of ``--workers N`` record side by side, each into its own tenants' files, and a
  replay may be split across workers differently from the recording;
- a tenant recorded again replaces its own file and no other, and ``--limit`` replays a subset.

Recording goes through vcrpy's httpx support (its stub for ``httpx.AsyncHTTPTransport``), patched
once for the whole run; which tenant's cassette a request belongs to comes from a context
variable set for the tenant's fetches, so redirects land in the right cassette too. Requests match
on method, scheme, host, port, path and query: the tenant's address is its identity, so the host
and port are part of it. Repeated requests (retries) play back in recorded order; bodies reach
vcrpy already decoded by the fleet's transport (one ``Content-Encoding`` at most, within the
cap), so they are stored, and scrubbed, as text; header names are handled whatever their case.

vcrpy keeps responses only. What else decides a tenant's classification is kept in the cassette's
metadata (``fleet``): each host's lookup and judgement (``lookups``: null when the host was
allowed, the text of a failed lookup, or the refusal's class and detail), each attempt that ended
in a transport failure (timeout, refused connection, TLS error, a body over the cap) with its
exception, message and class (``failures``), and the TLS facts of the tenant's origin (``tls``).
Replay plays those back at the same attempt; a request the cassette lacks is the
``not-recorded`` failure, with the cassette's path, never a crash.

The hooks are those of :mod:`harness.cassettes` (:class:`~harness.cassettes.Scrubber`): a fleet run
carries no credential, but a response header or body that did would be scrubbed the same way.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from unittest import mock
from urllib.parse import urlsplit

import httpx
import vcr
from vcr.cassette import Cassette
from vcr.errors import MissingMetadataError
from vcr.record_mode import RecordMode

from harness.cassettes import Scrubber
from harness.fleet.directory import Target
from harness.scrub import SecretRegistry

Mode = Literal["record", "replay"]
MATCH_ON = ("method", "scheme", "host", "port", "path", "query")
METADATA = "fleet"

_NAME = re.compile(r"[^a-z0-9._-]+")


def cassette_path(directory: Path, key: str) -> Path:
    """Where the cassette of the tenant with address key ``key`` lives under ``directory``."""
    parts = urlsplit(key)
    host = _NAME.sub("_", (parts.hostname or "host").lower()).strip("_") or "host"
    folder = f"{parts.scheme or 'https'}_{host}" + (f"_{parts.port}" if parts.port else "")
    stem = _NAME.sub("_", parts.path.strip("/").lower()).strip("_")[:100] or "root"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return directory / folder / f"{stem}.{digest}.yaml"


class RecordedFailure(Exception):
    """A transport failure played back from a cassette; ``fleet_outcome`` is its recorded class."""

    fleet_outcome = "connect"


def _recorded_exception(entry: dict[str, Any]) -> RecordedFailure:
    name = entry.get("exception")
    name = name if isinstance(name, str) and name.isidentifier() else RecordedFailure.__name__
    # the recorded exception's own name, so that the failure reads as it did when recorded
    cls = type(name, (RecordedFailure,), {"fleet_outcome": str(entry.get("outcome") or "connect")})
    return cls(str(entry.get("message") or ""))


@dataclass
class Tape:
    """One tenant's cassette while its documents are fetched."""

    key: str
    path: Path
    cassette: Cassette
    lookups: dict[str, Any] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    tls: dict[str, Any] = field(default_factory=dict)


_current: contextvars.ContextVar[Tape | None] = contextvars.ContextVar("fleet_tape", default=None)


class _Router:
    """What vcrpy's httpx stub is given as its cassette: the cassette of the tenant being fetched."""

    @staticmethod
    def _cassette() -> Cassette:
        tape = _current.get()
        if tape is None:
            raise RuntimeError("a fleet request outside any tenant's cassette")
        return tape.cassette

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cassette(), name)

    def __len__(self) -> int:
        return len(self._cassette())

    def __contains__(self, request: Any) -> bool:
        return request in self._cassette()


class FleetCassettes:
    """Per-tenant cassettes for a fleet run, in ``record`` or ``replay`` mode."""

    def __init__(self, mode: Mode, directory: str | Path, secrets: SecretRegistry | None = None) -> None:
        if mode not in ("record", "replay"):
            raise ValueError(f"fleet cassettes record or replay, not {mode!r}")
        self.mode = mode
        self.directory = Path(directory)
        self.scrubber = Scrubber(secrets or SecretRegistry())
        self._vcr = vcr.VCR(
            record_mode=RecordMode.ALL if mode == "record" else RecordMode.NONE,
            match_on=MATCH_ON,
            before_record_request=self.scrubber.request,
            before_record_response=self.scrubber.response,
            decode_compressed_response=False,
            serializer="yaml",
        )
        self.saved = 0  # tenants' cassettes written (record)
        self.missing = 0  # requests the cassettes had no answer for (replay)

    @property
    def replaying(self) -> bool:
        return self.mode == "replay"

    def path(self, key: str) -> Path:
        return cassette_path(self.directory, key)

    def recorded(self, targets: Iterable[Target]) -> int:
        """How many of ``targets`` have a cassette in the folder."""
        return sum(1 for t in targets if not t.address.malformed and self.path(t.key).is_file())

    # --- the patch and the tenant's context ------------------------------------------------------

    @contextmanager
    def patched(self) -> Iterator[None]:
        """vcrpy's stub on ``httpx.AsyncHTTPTransport`` for the run, answering from the tenants' cassettes."""
        from vcr.stubs.httpx_stubs import vcr_handle_async_request

        real = httpx.AsyncHTTPTransport.handle_async_request
        with mock.patch.object(httpx.AsyncHTTPTransport, "handle_async_request",
                               vcr_handle_async_request(_Router(), real, httpx)):
            yield

    def _config(self, path: Path) -> dict[str, Any]:
        config = self._vcr.get_merged_config(path=str(path))
        for name in ("path_transformer", "func_path_generator", "record_on_exception"):
            config.pop(name, None)  # options of the context manager, not of the cassette
        return config

    def open(self, target: Target) -> Tape:
        """The tenant's tape: empty to record (a recording replaces the tenant's cassette), else loaded."""
        key = target.key
        path = self.path(key)
        if self.mode == "record":
            cassette = Cassette(**self._config(path))
            meta = cassette.get_metadata(METADATA, {"tenant": key, "url": target.address.url, "lookups": {},
                                                    "failures": [], "tls": {}})
        else:
            cassette = Cassette.load(**self._config(path))
            try:
                meta = cassette.get_metadata(METADATA, None)
            except MissingMetadataError:
                meta = None
            meta = meta if isinstance(meta, dict) else {}
        lookups = meta.setdefault("lookups", {}) if self.mode == "record" else dict(meta.get("lookups") or {})
        failures = meta.setdefault("failures", []) if self.mode == "record" else list(meta.get("failures") or [])
        tls = meta.setdefault("tls", {}) if self.mode == "record" else dict(meta.get("tls") or {})
        return Tape(key, path, cassette, lookups, failures, tls)

    @staticmethod
    def save(tape: Tape) -> None:
        # vcrpy creates a missing folder with a check-then-mkdir that races when two tenants of one
        # host (one folder) are saved at once; the folder is made here first, race-free.
        Path(tape.path).parent.mkdir(parents=True, exist_ok=True)
        tape.cassette._save(force=True)  # what leaving vcrpy's own context manager does

    @asynccontextmanager
    async def tenant(self, target: Target) -> AsyncIterator[Tape]:
        """Within: the tenant's requests, lookups and failures go to (or come from) its cassette.
        Files are read and written off the event loop."""
        tape = await asyncio.to_thread(self.open, target)
        token = _current.set(tape)
        try:
            yield tape
        finally:
            _current.reset(token)
            if self.mode == "record":
                await asyncio.to_thread(self.save, tape)
                self.saved += 1

    # --- what vcrpy does not keep ------------------------------------------------------------------

    @staticmethod
    def _tape() -> Tape:
        tape = _current.get()
        if tape is None:
            raise RuntimeError("fleet cassettes are used outside any tenant's context")
        return tape

    def note_lookup(self, host: str, record: str | dict[str, str] | None) -> None:
        """Keep ``host``'s lookup and judgement: None (allowed), a failed lookup's text, or a refusal."""
        self._tape().lookups[host] = record

    def recorded_lookup(self, host: str) -> tuple[bool, str | dict[str, str] | None]:
        """(whether the cassette holds ``host``'s lookup, and how it was looked up and judged: None
        when it was allowed)."""
        lookups = self._tape().lookups
        return host in lookups, lookups.get(host)

    def note_failure(self, url: str, attempt: int, exc: BaseException, outcome: str, detail: str | None = None) -> None:
        message = self.scrubber.secrets.scrub_text(detail if detail is not None else str(exc))
        self._tape().failures.append({"url": self.scrubber.secrets.scrub_text(url), "attempt": attempt,
                                      "exception": type(exc).__name__, "message": message, "outcome": outcome})

    def note_tls(self, origin: str, facts: dict[str, Any] | None) -> None:
        if facts is not None:
            self._tape().tls[origin] = facts

    def recorded_tls(self, origin: str) -> dict[str, Any] | None:
        found = self._tape().tls.get(origin)
        return found if isinstance(found, dict) else None

    def replay_failure(self, url: str, attempt: int) -> None:
        """Raise what attempt ``attempt`` at ``url`` raised when recorded, if it raised."""
        for entry in self._tape().failures:
            if entry.get("url") == url and entry.get("attempt") == attempt:
                raise _recorded_exception(entry)

    def missing_detail(self, exc: BaseException) -> str:
        """The detail of a ``not-recorded`` failure: which cassette, and what to do."""
        self.missing += 1
        tape = _current.get()
        where = str(tape.path) if tape is not None else str(self.directory)
        reason = getattr(exc, "reason", None)
        if reason == "cassette_not_found":
            why = f"no cassette for this tenant ({where})"
        elif reason == "already_played":
            why = f"the cassette {where} holds fewer answers for this request than were asked for"
        else:
            why = f"the cassette {where} holds no answer for this request"
        return f"replay: {why}; record the fleet again with --mode record"
