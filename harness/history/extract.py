"""The allow-list: which fields of a ``summary.json`` and a ``fleet.json`` the history keeps.

Nothing else is read. API names are kept only when the API catalog knows them, check ids only
as a dotted identifier optionally followed by such a name in brackets. Messages, details, warnings,
notes, gate reasons, check data, HTTP exchanges and every field not named here are never looked at,
so a token or a patient's name in them cannot reach the database; the strings that are kept pass
``text.safe_text`` (credentials redacted) or a stricter validator (identifiers, fingerprints, URLs
without query or user info).

Both versions of ``summary.json`` are read: version 1 (no ``schema_version``) and version 2
(``schema_version: 2``; gate ``passed|incomplete|failed|error``; counts ``blocked`` and
``inconclusive``; ``apis[].verified``; ``checks[].blocked_by`` and ``requirements``). Every
``fleet.json`` the fleet has written is read: today's carries per tenant ``tls`` (``host``,
``version``, ``tls1_0``, ``tls1_1``, ``certificate.issuer``, ``.subject``, ``.not_after``,
``.days_left``, ``.expires_soon``, see ``harness.tls``) and ``scope.not_run`` (the
addresses a ``--limit`` run left out); older ones have neither. A key that is absent, or a value
not of the shape the fleet writes, is stored as null.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import PurePath
from typing import Any

from harness.catalog import load_catalog
from harness.fleet.release import parse_release
from harness.history.errors import HistoryError
from harness.history.text import fingerprint, identifier, safe_text, safe_url

GATES = ("passed", "incomplete", "failed", "error")
OUTCOMES = ("passed", "failed", "warning", "skipped", "broken", "blocked", "inconclusive")
ENVIRONMENTS = ("production", "non-production")
FLEET_STATUSES = ("ok", "partial", "failed", "malformed-address")
FHIR_RELEASES = ("R4", "STU3", "DSTU2")
COUNT_COLUMNS = ("passed", "failed", "warning", "skipped", "broken", "blocked", "inconclusive")
#: ``ssl.SSLSocket.version()`` answers, as the fleet writes ``tls.version``
TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
#: the fleet's answers for ``tls.tls1_0`` and ``tls.tls1_1`` (``harness.tls``; spelled here, so that the
#: history imports none of the fleet's network code; a test holds the two equal)
ACCEPTED, REFUSED, NOT_TESTABLE, UNKNOWN = "accepted", "refused", "not testable here", "unknown"
LEGACY_ANSWERS = (ACCEPTED, REFUSED, NOT_TESTABLE, UNKNOWN)
#: a certificate expires soon within this many days (``harness.tls.EXPIRY_WARNING_DAYS``)
EXPIRY_WARNING_DAYS = 30


def utc(value: object) -> str | None:
    """An ISO 8601 time as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, or None when it is not one (a date alone
    is taken as midnight UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value and abs(value) < 1e9 else None


def _string(value: object, limit: int) -> str | None:
    """A string field, cleaned (``text.safe_text``); None for anything else."""
    return safe_text(value, limit) if isinstance(value, str) else None


def _choice(value: object, allowed: tuple[str, ...]) -> str | None:
    return value if isinstance(value, str) and value in allowed else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _release(version: object, sort: object = None) -> tuple[str | None, int | None, int | None]:
    release = parse_release(version)
    if release is None and isinstance(sort, list) and len(sort) == 2 and all(isinstance(x, int) for x in sort):
        from harness.fleet.release import Release

        release = Release(sort[0], sort[1]) if 1979 <= sort[0] <= 2100 and 0 <= sort[1] <= 12 else None
    if release is None:
        return None, None, None
    return release.label, release.year, release.month


def _tls(tenant: dict[str, Any]) -> dict[str, Any]:
    """A fleet tenant's TLS facts (its ``tls`` object, null for http and for a tenant no handshake reached)
    as the ``fleet_tenants`` columns: each null when absent or not of the fleet's shape."""
    tls = _dict(tenant.get("tls"))
    cert = _dict(tls.get("certificate"))
    return {
        "tls_host": _string(tls.get("host"), 300),
        "tls_version": _choice(tls.get("version"), TLS_VERSIONS),
        "tls1_0": _choice(tls.get("tls1_0"), LEGACY_ANSWERS),
        "tls1_1": _choice(tls.get("tls1_1"), LEGACY_ANSWERS),
        "certificate_issuer": _string(cert.get("issuer"), 200),
        "certificate_subject": _string(cert.get("subject"), 200),
        "certificate_not_after": utc(cert.get("not_after")),
        "certificate_days_left": _int(cert.get("days_left")),
        "certificate_expires_soon": _bool(cert.get("expires_soon")),
    }


def _digest(record: dict[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class ApiName:
    name: str
    version: str | None
    fhir: bool | None


@dataclass
class TenantRunRecord:
    """What the history keeps of one tenant run."""

    run: dict[str, Any]
    apis: list[dict[str, Any]] = field(default_factory=list)  # name, version, api_group, declared, ...
    checks: list[dict[str, Any]] = field(default_factory=list)
    names: dict[str, ApiName] = field(default_factory=dict)


@dataclass
class FleetRunRecord:
    """What the history keeps of one fleet run."""

    run: dict[str, Any]
    requested: list[str] = field(default_factory=list)
    tenants: list[dict[str, Any]] = field(default_factory=list)
    states: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, api name, missing|unknown)
    names: dict[str, ApiName] = field(default_factory=dict)
    not_run: list[str] = field(default_factory=list)  # directory addresses the run left out (``--limit``)


_CHECK_ID = re.compile(r"^([a-z0-9][a-z0-9_.:-]{0,99})(?:\[(.+)\])?$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
#: a requirement id: its source, ``@``, its anchor (``hl7.fhir.uv.smart-app-launch_2.2.0@372``, ``rfc7523@3-1``)
_REQUIREMENT = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}@[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def requirement_id(value: object) -> str | None:
    """A requirement id of the shape the requirements catalogue gives, holding nothing that looks like a
    credential (an opaque token as the anchor matches the shape, and is refused here)."""
    if not isinstance(value, str) or not _REQUIREMENT.match(value):
        return None
    return value if safe_text(value, 200) == value else None


def api_name(value: object) -> str | None:
    """An Epic API name the catalog knows (names it does not know are never stored)."""
    return value if isinstance(value, str) and value in load_catalog() else None


def _parameter(part: str) -> bool:
    return part in FHIR_RELEASES or bool(_SLUG.match(part)) or api_name(part) is not None


def check_id(value: object) -> str | None:
    """A check id: a dotted identifier, optionally followed in brackets by its parameters, each a catalog API
    name, a FHIR version or a lower-case slug (``exercise.read[Patient.Read (Demographics) (R4)]``,
    ``probe.find[Appointment.$find (STU3), zero-length]``); anything else in brackets is refused."""
    match = _CHECK_ID.match(value) if isinstance(value, str) else None
    if not match:
        return None
    inside = match.group(2)
    if inside is not None:
        parts = [inside] if api_name(inside) else [p.strip() for p in inside.split(", ")]
        if not all(_parameter(p) for p in parts):
            return None
    return value


def _api_version(name: str) -> str | None:
    for release in FHIR_RELEASES:
        if name.endswith(f"({release})"):
            return release
    return None


def _id_list(value: object, keep: Any) -> str | None:
    items = value if isinstance(value, list) else [value] if value is not None else []
    ids = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("id")
        kept = keep(item)
        if kept:
            ids.append(kept)
    return json.dumps(ids) if items else None


def tenant_run(summary: dict[str, Any], *, recorded: str | None = None) -> TenantRunRecord:
    """The allow-listed record of a ``summary.json`` (either schema version)."""
    if not isinstance(summary, dict) or not isinstance(summary.get("apis"), list) \
            or not isinstance(summary.get("checks"), list):
        raise HistoryError("not a summary.json written by epic-harness (no apis and checks lists)")
    tenant = safe_text(summary.get("tenant"))
    if not tenant:
        raise HistoryError("the summary names no tenant")
    fmt = summary.get("schema_version")
    version = fmt if isinstance(fmt, int) and not isinstance(fmt, bool) else 1
    release, year, month = _release(summary.get("software_version"))
    counts = _dict(summary.get("counts"))
    finished = utc(summary.get("finished")) or utc(summary.get("started")) or recorded or now_utc()
    run: dict[str, Any] = {
        "kind": "tenant",
        "source_format": f"summary/{version}",
        "started": utc(summary.get("started")),
        "finished": finished,
        "harness_version": safe_text(summary.get("harness_version"), 40),
        "api_set": identifier(summary.get("requested_set"), 100),
        "tenant": tenant,
        "environment": _choice(summary.get("environment"), ENVIRONMENTS),
        "base_url": safe_url(summary.get("base_url")),
        "software_version": safe_text(summary.get("software_version"), 64),
        "release": release, "release_year": year, "release_month": month,
        "gate": _choice(summary.get("gate"), GATES),
        **{column: _int(counts.get(column)) for column in COUNT_COLUMNS},
    }
    record = TenantRunRecord(run=run)
    seen: set[str] = set()
    for row in summary["apis"]:
        row = _dict(row)
        name = api_name(row.get("name"))
        if not name or name in seen:
            continue
        seen.add(name)
        api_version = _choice(row.get("version"), FHIR_RELEASES) or _api_version(name)
        record.names[name] = ApiName(name, api_version, api_version is not None)
        exercised = row.get("exercised")
        record.apis.append({
            "name": name,
            "api_group": safe_text(row.get("group"), 100),
            "declared": _bool(row.get("declared")),
            "granted": _bool(row.get("granted")),
            "exercised": _choice(exercised, OUTCOMES),
            "shape": fingerprint(row.get("shape")),
            "verified": _bool(row.get("verified")),
        })
    check_ids: set[str] = set()
    for row in summary["checks"]:
        row = _dict(row)
        cid = check_id(row.get("id"))
        outcome = _choice(row.get("outcome"), OUTCOMES)
        if not cid or not outcome or cid in check_ids:
            continue
        check_ids.add(cid)
        api = api_name(row.get("api"))
        if api and api not in record.names:
            record.names[api] = ApiName(api, _api_version(api), _api_version(api) is not None)
        record.checks.append({
            "check_id": cid,
            "outcome": outcome,
            "category": identifier(row.get("category"), 40),
            "api": api,
            "blocked_by": _id_list(row["blocked_by"], check_id) if "blocked_by" in row else None,
            "requirements": _id_list(row["requirements"], requirement_id) if "requirements" in row else None,
        })
    record.run["digest"] = _digest({"run": record.run, "apis": record.apis, "checks": record.checks})
    return record


def _document(doc: object) -> tuple[str | None, int | None, float | None]:
    d = _dict(doc)
    return identifier(d.get("outcome"), 24), _int(d.get("http_status")), _float(d.get("elapsed_s"))


def fleet_run(fleet: dict[str, Any], *, harness_version: str | None = None,
              recorded: str | None = None) -> FleetRunRecord:
    """The allow-listed record of a ``fleet.json``."""
    if not isinstance(fleet, dict) or not isinstance(fleet.get("tenants"), list):
        raise HistoryError("not a fleet.json written by epic-harness (no tenants list)")
    apis = _dict(fleet.get("apis"))
    stats = _dict(fleet.get("stats"))
    directory = _dict(fleet.get("directory"))
    source = directory.get("source") or fleet.get("endpoints_file")
    source = safe_text(PurePath(source).name, 200) if isinstance(source, str) and source else None
    finished = utc(fleet.get("generated")) or recorded or now_utc()
    wall = _float(stats.get("wall_s"))
    started = None
    if wall is not None:
        moment = datetime.strptime(finished, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        started = (moment - timedelta(seconds=wall)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run: dict[str, Any] = {
        "kind": "fleet",
        "source_format": identifier(fleet.get("format"), 40),
        "started": started,
        "finished": finished,
        "harness_version": safe_text(fleet.get("harness_version") or harness_version, 40),
        "api_set": identifier(apis.get("set"), 100),
        "source": source,
        "tenants": _int(stats.get("tenants")),
        "answered": _int(stats.get("answered")),
        "ready": _int(stats.get("ready")),
        "full_coverage": _int(stats.get("full_coverage")),
        "wall_s": wall,
    }
    record = FleetRunRecord(run=run)
    for row in _list(apis.get("requested")):
        row = _dict(row)
        name = api_name(row.get("name"))
        if name and name not in record.names:
            version = _choice(row.get("version"), FHIR_RELEASES) or _api_version(name)
            record.names[name] = ApiName(name, version, _bool(row.get("fhir")))
            record.requested.append(name)
    keys: set[str] = set()
    for raw in fleet["tenants"]:
        t = _dict(raw)
        key = safe_text(t.get("key"), 500)
        status = _choice(t.get("status"), FLEET_STATUSES)
        if not key or not status or key in keys:
            continue
        keys.add(key)
        seq = len(record.tenants)
        md_outcome, md_http, md_s = _document(t.get("metadata"))
        sc_outcome, sc_http, sc_s = _document(t.get("smart_configuration"))
        software = _dict(t.get("software"))
        release, year, month = _release(software.get("version") or t.get("release"), t.get("release_sort"))
        cov, ready = _dict(t.get("coverage")), _dict(t.get("readiness"))
        record.tenants.append({
            "seq": seq, "key": key, "name": safe_text(t.get("name"), 300), "url": safe_url(t.get("url")),
            "status": status, "failure": identifier(t.get("failure"), 24),
            "metadata_outcome": md_outcome, "metadata_http": md_http, "metadata_s": md_s,
            "smart_outcome": sc_outcome, "smart_http": sc_http, "smart_s": sc_s,
            "software_version": safe_text(software.get("version"), 64),
            "release": release, "release_year": year, "release_month": month,
            "fhir_version": identifier(t.get("fhir_version"), 16),
            "fhir_release": _choice(t.get("fhir_release"), FHIR_RELEASES),
            "judged": _int(cov.get("judged")), "declared": _int(cov.get("declared")),
            "full_coverage": _bool(cov.get("full")), "ready": _bool(ready.get("ready")),
            "private_key_jwt": _bool(ready.get("private_key_jwt")),
            "client_credentials": _bool(ready.get("client_credentials")),
            "client_confidential_asymmetric": _bool(ready.get("client_confidential_asymmetric")),
            "fingerprint": fingerprint(t.get("fingerprint")),
            "resource_count": _int(t.get("resource_count")), "supported_profiles": _int(t.get("supported_profiles")),
            "elapsed_s": _float(t.get("elapsed_s")),
            **_tls(t),
        })
        if cov:
            for state in ("missing", "unknown"):
                for name in _list(cov.get(state)):
                    if isinstance(name, str) and name in record.names:
                        record.states.append((seq, name, state))
    scope = _dict(fleet.get("scope"))
    for raw_key in _list(scope.get("not_run")):
        key = _string(raw_key, 500)
        if key and key not in keys and key not in record.not_run:
            record.not_run.append(key)
    # The same fleet.json recorded by the fleet command and again with ``history --add`` is one run: the
    # digest leaves out the harness version, which only the former knows.
    content = {k: v for k, v in record.run.items() if k != "harness_version"}
    hashed: dict[str, Any] = {"run": content, "requested": record.requested, "tenants": record.tenants,
                              "states": record.states}
    if record.not_run:
        hashed["not_run"] = record.not_run
    record.run["digest"] = _digest(hashed)
    return record
