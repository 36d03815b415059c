"""What changed between two fleet runs (two ``fleet.json``), tenant by tenant.

Tenants are matched by address key. The changes, each one record:

``tenant-added`` / ``tenant-removed``  the address is new to the directory, or gone from it (a
    tenant a run left out with ``--limit`` is still in its directory: it is not compared)
``started-answering`` / ``stopped-answering``  neither document answered before / now
``document-started`` / ``document-stopped``  one document (metadata or smart-configuration)
    answers now / no longer, while the tenant answered both times
``release-upgraded`` / ``release-downgraded`` / ``release-changed``  ``software.version`` moved
    (changed: one of the two could not be read as a release)
``fhir-version-changed``  ``fhirVersion`` differs
``apis-gained`` / ``apis-lost``  requested APIs (of both runs) now declared / no longer declared
``readiness-changed``  one of the backend-services readiness flags differs
``shape-changed``  the CapabilityStatement's shape fingerprint differs

Release, FHIR version, API and shape changes are judged only when both runs read the statement;
readiness only when both read the smart-configuration. A tenant that stops answering is one
change, not one per thing that can no longer be read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError

READINESS_FLAGS = ("private_key_jwt", "client_credentials", "client_confidential_asymmetric")
DOCUMENTS = (("metadata", "metadata"), ("smart_configuration", "smart-configuration"))


class BaselineError(UsageError):
    """The baseline file cannot be read or is not a fleet.json."""


@dataclass(frozen=True)
class Change:
    kind: str
    key: str
    tenant: str
    detail: str
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "tenant": self.tenant, "detail": self.detail,
                "before": self.before, "after": self.after}


def load_fleet_json(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    try:
        data = json.loads(file.read_text("utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{file}: no such baseline file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{file}: cannot read the baseline ({exc})") from None
    except ValueError as exc:
        raise BaselineError(f"{file}: the baseline is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("tenants"), list):
        raise BaselineError(f"{file}: not a fleet.json (no 'tenants' list)")
    return data


def _declared(run: dict[str, Any], tenant: dict[str, Any]) -> set[str] | None:
    """Names of the requested APIs the tenant's statement declares, or None without a statement."""
    cov = tenant.get("coverage")
    if not cov:
        return None
    release = tenant.get("fhir_release")
    judged = {a["name"] for a in (run.get("apis") or {}).get("requested", [])
              if a.get("fhir") and a.get("version") == release}
    return judged - set(cov.get("missing") or []) - set(cov.get("unknown") or [])


def _requested_names(run: dict[str, Any]) -> set[str]:
    return {a["name"] for a in (run.get("apis") or {}).get("requested", [])}


def _ok(tenant: dict[str, Any], document: str) -> bool:
    return (tenant.get(document) or {}).get("outcome") == "ok"


def not_run(run: dict[str, Any]) -> set[str]:
    """Keys of the directory's addresses a run left out (``--limit``)."""
    scope = run.get("scope") if isinstance(run.get("scope"), dict) else {}
    keys = scope.get("not_run") if isinstance(scope.get("not_run"), list) else []
    return {k for k in keys if isinstance(k, str)}


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Every change from run ``before`` to run ``after``, in ``after``'s tenant order (removed last).

    Only tenants both runs fetched are compared. A tenant one run left out (``--limit``, recorded
    in its ``scope.not_run``) is neither added nor removed: it is still in that run's directory."""
    old = {t["key"]: t for t in before.get("tenants", [])}
    new = {t["key"]: t for t in after.get("tenants", [])}
    old_directory = set(old) | not_run(before)
    new_directory = set(new) | not_run(after)
    common_apis = _requested_names(before) & _requested_names(after)
    changes: list[Change] = []
    for key, now in new.items():
        name = now.get("name") or key
        was = old.get(key)
        if was is None:
            if key not in old_directory:
                changes.append(Change("tenant-added", key, name, "new in the directory", None, now.get("status")))
            continue
        changes.extend(_tenant_changes(key, name, was, now, before, after, common_apis))
    for key, was in old.items():
        if key not in new_directory:
            changes.append(Change("tenant-removed", key, was.get("name") or key, "no longer in the directory",
                                  was.get("status"), None))
    return changes


def compared(before: dict[str, Any], after: dict[str, Any]) -> int:
    """How many tenants both runs fetched, and were compared."""
    return len({t["key"] for t in before.get("tenants", [])} & {t["key"] for t in after.get("tenants", [])})


def _tenant_changes(key: str, name: str, was: dict[str, Any], now: dict[str, Any], before: dict[str, Any],
                    after: dict[str, Any], common_apis: set[str]) -> list[Change]:
    out: list[Change] = []
    if was.get("answered") and not now.get("answered"):
        why = now.get("failure")
        out.append(Change("stopped-answering", key, name, f"no document answers now ({why})", was.get("status"),
                          now.get("status")))
        return out
    if not was.get("answered") and now.get("answered"):
        out.append(Change("started-answering", key, name, f"answers now (was {was.get('failure')})",
                          was.get("status"), now.get("status")))
    elif was.get("answered") and now.get("answered"):
        for field, label in DOCUMENTS:
            if _ok(was, field) and not _ok(now, field):
                out.append(Change("document-stopped", key, name,
                                  f"{label} no longer answers ({now[field]['outcome']})", "ok",
                                  now[field]["outcome"]))
            elif not _ok(was, field) and _ok(now, field):
                out.append(Change("document-started", key, name, f"{label} answers now (was {was[field]['outcome']})",
                                  was[field]["outcome"], "ok"))
    if _ok(was, "metadata") and _ok(now, "metadata"):
        out.extend(_statement_changes(key, name, was, now, before, after, common_apis))
    if _ok(was, "smart_configuration") and _ok(now, "smart_configuration"):
        flags_before, flags_after = was.get("readiness") or {}, now.get("readiness") or {}
        moved = [f"{flag} {flags_before.get(flag)} -> {flags_after.get(flag)}" for flag in READINESS_FLAGS
                 if flags_before.get(flag) != flags_after.get(flag)]
        if moved:
            out.append(Change("readiness-changed", key, name, "; ".join(moved), flags_before.get("ready"),
                              flags_after.get("ready")))
    return out


def _statement_changes(key: str, name: str, was: dict[str, Any], now: dict[str, Any], before: dict[str, Any],
                       after: dict[str, Any], common_apis: set[str]) -> list[Change]:
    out: list[Change] = []
    rel_was, rel_now = was.get("release_sort"), now.get("release_sort")
    ver_was = (was.get("software") or {}).get("version")
    ver_now = (now.get("software") or {}).get("version")
    if rel_was and rel_now and rel_was != rel_now:
        kind = "release-upgraded" if tuple(rel_now) > tuple(rel_was) else "release-downgraded"
        out.append(Change(kind, key, name, f"{was.get('release')} -> {now.get('release')}", was.get("release"),
                          now.get("release")))
    elif ver_was != ver_now and not (rel_was and rel_now):
        out.append(Change("release-changed", key, name, f"software.version {ver_was!r} -> {ver_now!r}", ver_was,
                          ver_now))
    if was.get("fhir_version") != now.get("fhir_version"):
        out.append(Change("fhir-version-changed", key, name, f"{was.get('fhir_version')} -> {now.get('fhir_version')}",
                          was.get("fhir_version"), now.get("fhir_version")))
    declared_was, declared_now = _declared(before, was), _declared(after, now)
    if declared_was is not None and declared_now is not None:
        gained = sorted((declared_now - declared_was) & common_apis)
        lost = sorted((declared_was - declared_now) & common_apis)
        if gained:
            out.append(Change("apis-gained", key, name, f"{len(gained)} now declared: {', '.join(gained)}", None,
                              gained))
        if lost:
            out.append(Change("apis-lost", key, name, f"{len(lost)} no longer declared: {', '.join(lost)}", lost,
                              None))
    if was.get("fingerprint") and now.get("fingerprint") and was["fingerprint"] != now["fingerprint"]:
        out.append(Change("shape-changed", key, name,
                          f"CapabilityStatement shape {was['fingerprint'][:19]} -> {now['fingerprint'][:19]}",
                          was["fingerprint"], now["fingerprint"]))
    return out


def change_counts(changes: list[Change]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    return counts
