"""What the fleet tests share: the command as a user calls it, fast options, and fleet.json without timings."""

from __future__ import annotations

import argparse
from typing import Any

from harness.fleet.cli import add_fleet_parser

#: the sandbox fleet is served on loopback, which the fleet fetches only when allowed
FAST = ("--timeout", "1", "--retries", "1", "--per-host-rps", "0", "--allow-loopback")
RUN_TIMING = {"wall_s", "sum_tenant_s", "parallelism"}


def fleet(*argv: str) -> int:
    """``epic-harness fleet ARGV`` in this process; its exit code."""
    parser = argparse.ArgumentParser(prog="epic-harness")
    add_fleet_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fleet", *argv])
    return args.handler(args)


def untimed(value: Any) -> Any:
    """A fleet.json value without its per-tenant timings."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k != "elapsed_s"}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value
