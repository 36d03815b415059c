"""Fleet discovery: every tenant of an Epic endpoint directory at once, without credentials.

For each distinct tenant address the fleet fetches ``.well-known/smart-configuration`` and
``/metadata`` independently and reports its Epic release, FHIR version, declared coverage of the
requested APIs, backend-services readiness, the shape of its CapabilityStatement and its TLS
facts; a later run compared with an earlier ``fleet.json`` lists what changed. Directory entries
are untrusted: only public addresses are fetched, bodies are read with a cap, and tenant text
is escaped for every output.

- :mod:`.address` validate and normalise a directory address, the de-duplication key
- :mod:`.directory` Epic's directory Bundle (and its quirks) or a URL list, into distinct targets
- :mod:`.release` Epic releases from ``software.version`` ("May 2026", "toukokuu 2022")
- :mod:`.targets` which addresses may be fetched (public unicast; loopback when allowed)
- :mod:`.body` bodies decoded within a cap, one Content-Encoding at most
- :mod:`.transport` the HTTP transport: connections pinned to judged addresses, bodies capped
- :mod:`.fetch` concurrent, rate-limited, retrying fetches, judged redirects, the failure classes
- :mod:`.tls` TLS facts: version negotiated, TLS 1.0/1.1 still accepted, certificate expiry
- :mod:`.analyse` coverage, readiness, shape fingerprint of one tenant's documents
- :mod:`.run` a whole fleet run and its statistics
- :mod:`.baseline` what changed between two runs
- :mod:`.text` tenant strings made safe for the terminal, CSV, Markdown and JSON
- :mod:`.report` fleet.json, fleet.csv, fleet.html, Allure results
- :mod:`.cassettes` one cassette per tenant: record a fleet run, replay it with no network
- :mod:`.distribute` the same run split across pytest-xdist workers (``--workers N``), merged
- :mod:`.xdist_shards` the pytest module those workers run, one test per shard
- :mod:`.cli` ``epic-harness fleet``
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_names

# The names below are imported when first asked for, so that a command that only builds the argument
# parser (``harness.fleet.cli``) does not load the fetcher, the analysis and their libraries.
_EXPORTS = {
    "address": ("Address", "parse_address"),
    "analyse": ("Coverage", "Readiness", "coverage", "fingerprint", "readiness"),
    "baseline": ("Change", "compare", "load_fleet_json"),
    "directory": ("Directory", "DirectoryError", "Target", "distinct_targets", "load_directory", "parse_directory"),
    "fetch": ("FAILURES", "Fetched", "Fetcher", "FetchOptions"),
    "release": ("Release", "parse_release"),
    "run": ("FleetRun", "TenantResult", "run_fleet", "run_fleet_async"),
    "targets": ("REFUSALS", "Refusal", "judge_address", "judge_name"),
}

if TYPE_CHECKING:
    from harness.fleet.address import Address, parse_address
    from harness.fleet.analyse import Coverage, Readiness, coverage, fingerprint, readiness
    from harness.fleet.baseline import Change, compare, load_fleet_json
    from harness.fleet.directory import Directory, DirectoryError, Target, distinct_targets, load_directory, parse_directory
    from harness.fleet.fetch import FAILURES, Fetched, Fetcher, FetchOptions
    from harness.fleet.release import Release, parse_release
    from harness.fleet.run import FleetRun, TenantResult, run_fleet, run_fleet_async
    from harness.fleet.targets import REFUSALS, Refusal, judge_address, judge_name

__all__ = [
    "FAILURES",
    "Address",
    "Change",
    "Coverage",
    "Directory",
    "DirectoryError",
    "FetchOptions",
    "Fetched",
    "Fetcher",
    "FleetRun",
    "REFUSALS",
    "Refusal",
    "Readiness",
    "Release",
    "Target",
    "TenantResult",
    "compare",
    "coverage",
    "distinct_targets",
    "fingerprint",
    "judge_address",
    "judge_name",
    "load_directory",
    "load_fleet_json",
    "parse_address",
    "parse_directory",
    "parse_release",
    "readiness",
    "run_fleet",
    "run_fleet_async",
]


__getattr__, __dir__ = lazy_names(__name__, globals(), _EXPORTS)
