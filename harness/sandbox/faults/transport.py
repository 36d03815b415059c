"""Faults of the transport: a tenant that hangs, resets, throttles, truncates, floods, drips or
sends compression bombs, on requests about one resource type.

Hook point: ``transport.HostileTransport`` (an ASGI middleware) reads a :class:`TransportPolicy`
per resource type. Response headers cannot be dripped through ASGI: ``hostile.py`` is a raw
socket server for that.
"""

from __future__ import annotations

from . import args
from .core import Arg, FaultKind, Hook, sets, sets_arg

TYPE = args.TYPE

KINDS: tuple[FaultKind, ...] = (
    FaultKind("transport-hang", Hook.TRANSPORT, "requests on TYPE hang until the client gives up", (TYPE,),
              effect=sets("hang"), keyed=True),
    FaultKind("transport-reset", Hook.TRANSPORT, "responses on TYPE are cut off mid-body and the connection dropped",
              (TYPE,), effect=sets("reset"), keyed=True),
    FaultKind("transport-429-storm", Hook.TRANSPORT, "every request on TYPE answers 429 with Retry-After: 1",
              (TYPE,), effect=sets("every_429", 1), keyed=True),
    FaultKind("transport-429-every", Hook.TRANSPORT, "every Nth request on TYPE answers 429 with Retry-After: 1 "
              "(the others answer normally)", (TYPE, Arg("N", args.positive("requests", minimum=2))),
              effect=sets_arg("every_429"), keyed=True),
    FaultKind("transport-503-once", Hook.TRANSPORT, "the first request of each TYPE URL answers 503 with "
              "Retry-After: 1", (TYPE,), effect=sets("first_503"), keyed=True),
    FaultKind("transport-truncated-json", Hook.TRANSPORT, "TYPE responses are cut in half (still well framed)",
              (TYPE,), effect=sets("truncate"), keyed=True),
    FaultKind("transport-huge-bundle", Hook.TRANSPORT, "TYPE responses are padded to a Bundle of about 3 MB",
              (TYPE,), effect=sets("huge"), keyed=True),
    FaultKind("transport-slow-drip", Hook.TRANSPORT, "TYPE responses trickle out over about 4 seconds", (TYPE,),
              effect=sets("drip"), keyed=True),
    FaultKind("transport-gzip-bomb", Hook.TRANSPORT, "TYPE responses are Content-Encoding: gzip, gzip: about 10 KB "
              "that decode to 4 GiB of zeros", (TYPE,), effect=sets("gzip_bomb"), keyed=True),
    FaultKind("transport-gzip-large", Hook.TRANSPORT, "TYPE responses are one gzip layer of about 2 MB that decodes "
              "to a Bundle of about 70 MB", (TYPE,), effect=sets("gzip_large"), keyed=True),
)
