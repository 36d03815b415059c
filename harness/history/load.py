"""Reading stored runs back: as rows, and as the ``fleet.json`` / ``summary.json`` dicts they came from
(restricted to the stored fields), so that the fleet's and the drift's own comparisons apply."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, select

from harness.history import schema
from harness.history.errors import HistoryError

R, A, FT, FTA, RR, RA, RC, NR = (schema.runs, schema.apis, schema.fleet_tenants, schema.fleet_tenant_apis,
                                 schema.run_requested, schema.run_apis, schema.run_checks, schema.fleet_not_run)
#: ``fleet.json``'s ``tls`` fields and ``tls.certificate`` fields -> their ``fleet_tenants`` columns
TLS_FIELDS = (("host", "tls_host"), ("version", "tls_version"), ("tls1_0", "tls1_0"), ("tls1_1", "tls1_1"))
CERTIFICATE_FIELDS = (("issuer", "certificate_issuer"), ("subject", "certificate_subject"),
                      ("not_after", "certificate_not_after"), ("days_left", "certificate_days_left"),
                      ("expires_soon", "certificate_expires_soon"))
TLS_COLUMNS = tuple(col for _, col in TLS_FIELDS + CERTIFICATE_FIELDS)


def tls_of(row: dict[str, Any]) -> dict[str, Any] | None:
    """A stored fleet tenant's ``tls`` object as ``fleet.json`` has it: null when the run had none."""
    if all(row[col] is None for col in TLS_COLUMNS):
        return None
    certificate = {name: row[col] for name, col in CERTIFICATE_FIELDS}
    tls = {name: row[col] for name, col in TLS_FIELDS}
    return {**tls, "certificate": certificate if any(v is not None for v in certificate.values()) else None}


def run_row(conn: Connection, run_id: int) -> dict[str, Any]:
    row = conn.execute(select(R).where(R.c.id == run_id)).mappings().first()
    if row is None:
        raise HistoryError(f"no run {run_id} in the history")
    return dict(row)


def runs(conn: Connection, *, kind: str | None = None, tenant: str | None = None, since: str | None = None,
         until: str | None = None, limit: int | None = None, newest_first: bool = True) -> list[dict[str, Any]]:
    query = select(R)
    if kind:
        query = query.where(R.c.kind == kind)
    if tenant is not None:
        query = query.where(R.c.tenant == tenant)
    if since:
        query = query.where(R.c.finished >= since)
    if until:
        query = query.where(R.c.finished <= until)
    query = query.order_by(R.c.finished.desc() if newest_first else R.c.finished, R.c.id.desc() if newest_first
                           else R.c.id)
    if limit:
        query = query.limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def requested(conn: Connection, run_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Per fleet run: its requested APIs as ``fleet.json`` lists them (name, version, fhir)."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for chunk in _chunks(run_ids):
        query = (select(RR.c.run_id, A.c.name, A.c.version, A.c.fhir).join(A, A.c.id == RR.c.api_id)
                 .where(RR.c.run_id.in_(chunk)).order_by(A.c.name))
        for run_id, name, version, fhir in conn.execute(query):
            out[run_id].append({"name": name, "version": version, "fhir": fhir})
    return out


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def fleet_tenant_rows(conn: Connection, run_ids: Sequence[int], *, keys: Sequence[str] | None = None
                      ) -> list[dict[str, Any]]:
    """Fleet tenant rows of these runs (optionally only these address keys), each with ``missing`` and
    ``unknown`` API name lists and the run's ``finished`` time; oldest run first."""
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(run_ids):
        query = select(FT, R.c.finished).join(R, R.c.id == FT.c.run_id).where(FT.c.run_id.in_(chunk))
        if keys is not None:
            query = query.where(FT.c.key.in_(list(keys)))
        rows.extend(dict(r) for r in conn.execute(query).mappings())
    by_tenant = {(r["run_id"], r["seq"]): r for r in rows}
    for r in rows:
        r["missing"], r["unknown"] = [], []
    for chunk in _chunks(run_ids):
        query = (select(FTA.c.run_id, FTA.c.seq, FTA.c.state, A.c.name).join(A, A.c.id == FTA.c.api_id)
                 .where(FTA.c.run_id.in_(chunk)))
        for run_id, seq, state, name in conn.execute(query):
            row = by_tenant.get((run_id, seq))
            if row is not None:
                row[state].append(name)
    rows.sort(key=lambda r: (r["finished"], r["run_id"], r["seq"]))
    return rows


def tenant_as_fleet_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored fleet tenant in ``fleet.json``'s shape (the fields the history keeps)."""
    statement = row["metadata_outcome"] == "ok"
    smart = row["smart_outcome"] == "ok"
    return {
        "key": row["key"], "name": row["name"], "url": row["url"], "status": row["status"],
        "answered": row["status"] in ("ok", "partial"), "failure": row["failure"],
        "metadata": {"outcome": row["metadata_outcome"], "http_status": row["metadata_http"],
                     "elapsed_s": row["metadata_s"], "detail": row["metadata_outcome"]},
        "smart_configuration": {"outcome": row["smart_outcome"], "http_status": row["smart_http"],
                                "elapsed_s": row["smart_s"], "detail": row["smart_outcome"]},
        "software": {"version": row["software_version"]} if row["software_version"] else None,
        "release": row["release"],
        "release_sort": [row["release_year"], row["release_month"]] if row["release_year"] else None,
        "fhir_version": row["fhir_version"], "fhir_release": row["fhir_release"],
        "coverage": ({"judged": row["judged"], "declared": row["declared"], "missing": sorted(row["missing"]),
                      "unknown": sorted(row["unknown"]), "full": row["full_coverage"]} if statement else None),
        "readiness": ({k: row[k] for k in ("private_key_jwt", "client_credentials",
                                           "client_confidential_asymmetric", "ready")} if smart else None),
        "fingerprint": row["fingerprint"],
        "tls": tls_of(row),
        "elapsed_s": row["elapsed_s"],
    }


def not_run(conn: Connection, run_ids: Sequence[int]) -> dict[int, list[str]]:
    """Per fleet run: the directory addresses it left out (``scope.not_run``; none for a run recorded
    from a fleet.json that did not say)."""
    out: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(run_ids):
        for run_id, key in conn.execute(select(NR.c.run_id, NR.c.key).where(NR.c.run_id.in_(chunk))
                                        .order_by(NR.c.run_id, NR.c.key)):
            out[run_id].append(key)
    return out


def fleet_runs_as_json(conn: Connection, run_ids: Sequence[int], *, keys: Sequence[str] | None = None
                       ) -> dict[int, dict[str, Any]]:
    """Stored fleet runs in ``fleet.json``'s shape, by run id."""
    heads = {r["id"]: r for r in runs(conn, kind="fleet") if r["id"] in set(run_ids)}
    wanted = requested(conn, list(heads))
    left_out = not_run(conn, list(heads))
    out = {run_id: {"generated": head["finished"], "run_id": run_id,
                    "apis": {"set": head["api_set"], "requested": wanted.get(run_id, [])},
                    "scope": {"not_run": left_out.get(run_id, [])},
                    "tenants": []} for run_id, head in heads.items()}
    for row in fleet_tenant_rows(conn, list(heads), keys=keys):
        out[row["run_id"]]["tenants"].append(tenant_as_fleet_json(row))
    return out


def summary(conn: Connection, run_id: int) -> dict[str, Any]:
    """A stored tenant run in ``summary.json``'s shape, restricted to the stored fields (no messages):
    enough for the gate's baseline and for ``epic-harness diff``."""
    head = run_row(conn, run_id)
    if head["kind"] != "tenant":
        raise HistoryError(f"run {run_id} is a fleet run, not a tenant run")
    apis_q = (select(RA, A.c.name, A.c.version).join(A, A.c.id == RA.c.api_id).where(RA.c.run_id == run_id)
              .order_by(A.c.name))
    checks_q = (select(RC, A.c.name.label("api_name")).outerjoin(A, A.c.id == RC.c.api_id)
                .where(RC.c.run_id == run_id).order_by(RC.c.check_id))
    counts = {k: head[k] for k in ("passed", "failed", "warning", "skipped", "broken", "blocked", "inconclusive")
              if head[k] is not None}
    return {
        "schema_version": 2 if head["source_format"] == "summary/2" else None,
        "history_run": run_id,
        "tenant": head["tenant"], "environment": head["environment"], "base_url": head["base_url"],
        "harness_version": head["harness_version"], "started": head["started"], "finished": head["finished"],
        "software_version": head["software_version"], "requested_set": head["api_set"], "gate": head["gate"],
        "counts": counts,
        "apis": [{"name": r["name"], "group": r["api_group"], "version": r["version"], "declared": r["declared"],
                  "granted": r["granted"], "exercised": r["exercised"], "verified": r["verified"],
                  "shape": r["shape"]} for r in conn.execute(apis_q).mappings()],
        "checks": [{"id": r["check_id"], "outcome": r["outcome"], "category": r["category"], "api": r["api_name"],
                    "blocked_by": _first(json.loads(r["blocked_by"])) if r["blocked_by"] else None,
                    "requirements": json.loads(r["requirements"]) if r["requirements"] else None}
                   for r in conn.execute(checks_q).mappings()],
    }


def tenant_names(conn: Connection) -> list[str]:
    return sorted(conn.execute(select(R.c.tenant).where(and_(R.c.kind == "tenant", R.c.tenant.is_not(None)))
                               .distinct()).scalars())


def fleet_names(conn: Connection) -> dict[str, str | None]:
    """Every fleet address key stored, with the newest name seen for it."""
    query = (select(FT.c.key, FT.c.name).join(R, R.c.id == FT.c.run_id).order_by(R.c.finished))
    return {key: name for key, name in conn.execute(query)}


def _first(ids: list[str]) -> str | None:
    """summary.json names one blocking check (``blocked_by``); the store keeps a list."""
    return ids[0] if ids else None
