"""A fleet run's outputs: fleet.json, fleet.csv, fleet.html (self-contained) and one Allure result
per tenant in allure-results/.

Tenant text is escaped for each: fleet.json escapes C1 controls and bidirectional overrides too,
fleet.csv quotes a cell that would start a formula, fleet.html escapes HTML, the Allure
descriptions escape Markdown (:mod:`harness.fleet.text`)."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.fleet.baseline import Change, change_counts
from harness.fleet.text import csv_cell, json_text, markdown_text

CSV_COLUMNS = (
    "key", "name", "url", "organizations", "entries", "status", "failure", "metadata", "metadata_detail",
    "smart_configuration", "smart_configuration_detail", "software_version", "release", "fhir_version",
    "fhir_release", "judged", "declared", "missing_count", "missing", "unknown", "private_key_jwt",
    "client_credentials", "client_confidential_asymmetric", "ready", "resource_count", "supported_profiles",
    "fingerprint", "tls_version", "tls1_0", "tls1_1", "certificate_issuer", "certificate_not_after",
    "certificate_days_left", "certificate_expires_soon", "address_problem", "address_notes", "elapsed_s",
)


def write_json(report: dict[str, Any], folder: Path) -> Path:
    path = folder / "fleet.json"
    path.write_text(json_text(json.dumps(report, indent=2, ensure_ascii=False)) + "\n", "utf-8")
    return path


def _flag(value: Any) -> str:
    return "" if value is None else ("true" if value else "false")


def csv_row(t: dict[str, Any]) -> dict[str, Any]:
    """One tenant's CSV row; every text cell safe from formula injection."""
    cov = t.get("coverage") or {}
    ready = t.get("readiness") or {}
    tls = t.get("tls") or {}
    cert = tls.get("certificate") or {}
    row = {
        "key": t["key"],
        "name": t["name"],
        "url": t["url"] or "",
        "organizations": " | ".join(o["name"] or "" for o in t["organizations"]),
        "entries": t["entries"],
        "status": t["status"],
        "failure": t["failure"] or "",
        "metadata": t["metadata"]["outcome"],
        "metadata_detail": t["metadata"]["detail"] or "",
        "smart_configuration": t["smart_configuration"]["outcome"],
        "smart_configuration_detail": t["smart_configuration"]["detail"] or "",
        "software_version": (t.get("software") or {}).get("version") or "",
        "release": t["release"] or "",
        "fhir_version": t["fhir_version"] or "",
        "fhir_release": t["fhir_release"] or "",
        "judged": cov.get("judged", ""),
        "declared": cov.get("declared", ""),
        "missing_count": len(cov["missing"]) if cov else "",
        "missing": "; ".join(cov.get("missing") or []),
        "unknown": "; ".join(cov.get("unknown") or []),
        "private_key_jwt": _flag(ready.get("private_key_jwt")),
        "client_credentials": _flag(ready.get("client_credentials")),
        "client_confidential_asymmetric": _flag(ready.get("client_confidential_asymmetric")),
        "ready": _flag(ready.get("ready")),
        "resource_count": "" if t["resource_count"] is None else t["resource_count"],
        "supported_profiles": "" if t["supported_profiles"] is None else t["supported_profiles"],
        "fingerprint": t["fingerprint"] or "",
        "tls_version": tls.get("version") or "",
        "tls1_0": tls.get("tls1_0") or "",
        "tls1_1": tls.get("tls1_1") or "",
        "certificate_issuer": cert.get("issuer") or "",
        "certificate_not_after": cert.get("not_after") or "",
        "certificate_days_left": "" if cert.get("days_left") is None else cert["days_left"],
        "certificate_expires_soon": _flag(cert.get("expires_soon")) if cert else "",
        "address_problem": t["address_problem"] or "",
        "address_notes": "; ".join(t["address_notes"]),
        "elapsed_s": t["elapsed_s"],
    }
    return {k: csv_cell(v) for k, v in row.items()}


def write_csv(report: dict[str, Any], folder: Path) -> Path:
    path = folder / "fleet.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for tenant in report["tenants"]:
            writer.writerow(csv_row(tenant))
    return path


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#1d232a}
h1{font-size:1.5rem;margin:0 0 .25rem} h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de}
h3{font-size:1rem;margin:1.25rem 0 .4rem} .muted{color:#57606a}
table{border-collapse:collapse;width:100%;margin:.25rem 0 1rem} th,td{border:1px solid #d8dee4;padding:.25rem .45rem;
text-align:left;vertical-align:top} th{background:#f6f8fa;font-weight:600} td.num{text-align:right;white-space:nowrap}
.stats{display:flex;flex-wrap:wrap;gap:.6rem;margin:.75rem 0} .stat{border:1px solid #d0d7de;border-radius:6px;
padding:.4rem .8rem;min-width:7rem} .stat b{display:block;font-size:1.3rem}
.ok{color:#1a7f37} .bad{color:#cf222e} .unk{color:#9a6700} .tag{display:inline-block;border-radius:4px;
padding:0 .35rem;font-size:.8rem;background:#eaeef2;margin:0 .15rem .1rem 0} .tag.ok{background:#dafbe1}
.tag.bad{background:#ffebe9} .bar{background:#eaeef2;border-radius:3px;height:.55rem;width:7rem;overflow:hidden}
.bar span{display:block;height:100%;background:#2da44e} details summary{cursor:pointer} code{font-size:.85em}
.small{font-size:.85em}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _flag_html(value: Any) -> str:
    if value is True:
        return '<span class="ok" title="yes">&#10003;</span>'
    if value is False:
        return '<span class="bad" title="no">&#10007;</span>'
    return '<span class="unk" title="unknown">?</span>'


def _doc_tag(doc: dict[str, Any]) -> str:
    outcome = doc["outcome"]
    cls = "ok" if outcome == "ok" else "bad"
    return f'<span class="tag {cls}" title="{_e(doc.get("detail"))}">{_e(outcome)}</span>'


def _orgs(t: dict[str, Any]) -> str:
    names = [o["name"] for o in t["organizations"] if o.get("name")]
    first = _e(names[0] if names else t["name"])
    if len(names) > 1:
        rest = "".join(f"<li>{_e(n)}</li>" for n in names[1:])
        return f"{first}<details class=small><summary>+{len(names) - 1} more</summary><ul>{rest}</ul></details>"
    return first


def _coverage_cell(t: dict[str, Any]) -> str:
    cov = t.get("coverage")
    if not cov:
        return '<span class="muted">not judged</span>'
    judged, declared = cov["judged"], cov["declared"]
    pct = int(round(100 * declared / judged)) if judged else 0
    return (f'{declared}/{judged}<div class="bar" title="{pct}%"><span style="width:{pct}%"></span></div>')


def _missing_cell(t: dict[str, Any]) -> str:
    cov = t.get("coverage")
    if not cov:
        return ""
    parts = []
    if cov["missing"]:
        items = "".join(f"<li>{_e(n)}</li>" for n in cov["missing"])
        parts.append(f"<details><summary>{len(cov['missing'])} missing</summary><ul class=small>{items}</ul></details>")
    if cov["unknown"]:
        items = "".join(f"<li>{_e(n)}</li>" for n in cov["unknown"])
        parts.append(f"<details><summary>{len(cov['unknown'])} not listed by Epic</summary>"
                     f"<ul class=small>{items}</ul></details>")
    return "".join(parts) or '<span class="ok">none</span>'


def _tls_cell(t: dict[str, Any]) -> str:
    tls = t.get("tls")
    if not tls:
        return '<span class="muted">-</span>' if not (t.get("url") or "").startswith("https://") else (
            f'<span class="bad">{_e(t["failure"])}</span>' if t.get("failure") in ("tls", "tls-certificate")
            else '<span class="muted">not reached</span>')
    cert = tls.get("certificate") or {}
    legacy = [label for field, label in (("tls1_0", "1.0"), ("tls1_1", "1.1")) if tls.get(field) == "accepted"]
    parts = [_e(tls.get("version") or "?")]
    if legacy:
        parts.append(f'<span class="bad">accepts TLS {"/".join(legacy)}</span>')
    if cert.get("days_left") is not None:
        cls = "bad" if cert.get("expires_soon") else "muted"
        parts.append(f'<span class="{cls}" title="{_e(cert.get("not_after"))}; issuer {_e(cert.get("issuer"))}">'
                     f'certificate {cert["days_left"]} days</span>')
    return "<br>".join(parts)


def _tenant_row(t: dict[str, Any]) -> str:
    ready = t.get("readiness") or {}
    flags = " ".join(f'<span class="small">{label}</span>&nbsp;{_flag_html(ready.get(flag))}' for flag, label in (
        ("private_key_jwt", "jwt"), ("client_credentials", "cc"), ("client_confidential_asymmetric", "asym")))
    return (
        "<tr>"
        f"<td>{_orgs(t)}</td>"
        f'<td class=small><code>{_e(t["url"])}</code></td>'
        f"<td>{_e(t['fhir_version'] or '')}</td>"
        f"<td>{_coverage_cell(t)}</td>"
        f"<td>{_missing_cell(t)}</td>"
        f"<td>{_flag_html(ready.get('ready'))} <span class=small>{flags}</span></td>"
        f"<td>{_doc_tag(t['metadata'])}{_doc_tag(t['smart_configuration'])}</td>"
        f'<td class=small><code title="{_e(t["fingerprint"])}">{_e((t["fingerprint"] or "")[7:19])}</code></td>'
        f"<td class=small>{_tls_cell(t)}</td>"
        "</tr>"
    )


_TENANT_HEAD = ("<tr><th>Tenant</th><th>Address</th><th>FHIR</th><th>Declared</th><th>Missing</th>"
                "<th>Backend services ready</th><th>metadata / smart-config</th><th>Shape</th><th>TLS</th></tr>")


def _by_release(tenants: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    order: dict[str, tuple[int, int]] = {}
    for t in tenants:
        if t["status"] == "malformed-address":
            continue
        if t["metadata"]["outcome"] == "ok":
            label = t["release"] or f"unreadable version: {(t.get('software') or {}).get('version')}"
            order[label] = tuple(t["release_sort"]) if t["release_sort"] else (0, 0)
        else:
            label = "no CapabilityStatement"
            order[label] = (-1, 0)
        groups.setdefault(label, []).append(t)
    for members in groups.values():
        members.sort(key=lambda t: (-((t.get("coverage") or {}).get("declared") or 0), t["name"].casefold()))
    return sorted(groups.items(), key=lambda kv: order[kv[0]], reverse=True)


def render_html(report: dict[str, Any], changes: Sequence[Change] | None = None, extra_html: str = "") -> str:
    s = report["stats"]
    tenants = report["tenants"]
    apis = report["apis"]
    cards = [("tenants", s["tenants"]), ("answered", s["answered"]), ("both documents", s["by_status"]["ok"]),
             ("backend-services ready", s["ready"]), ("full coverage", s["full_coverage"]),
             ("malformed addresses", s["malformed"]), ("refused addresses", sum((s.get("refused") or {}).values())),
             ("certificates expiring", (s.get("tls") or {}).get("expiring_certificates", 0)),
             ("shapes", s["shapes"]), ("wall time (s)", s["wall_s"])]
    out = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>Epic fleet: {_e(apis['set'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Epic fleet discovery: {_e(apis['set'])}</h1>",
        f"<p class=muted>{_e(report['directory'].get('source'))} &middot; {s['entries']} directory entries, "
        f"{s['tenants']} distinct addresses &middot; generated {_e(report['generated'])} &middot; "
        f"{len(apis['requested'])} requested APIs</p>",
        '<div class="stats">' + "".join(f'<div class="stat"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards) + "</div>",
    ]
    if changes is not None:
        out.append(_changes_html(changes))
    out.append("<h2>Coverage by release</h2>")
    out.append("<p class=muted>Declared: requested APIs of the tenant's FHIR version that its CapabilityStatement "
               "lists. Ready: private_key_jwt, client_credentials and client-confidential-asymmetric in its "
               "smart-configuration.</p>")
    for label, members in _by_release(tenants):
        full = sum(1 for t in members if (t.get("coverage") or {}).get("full"))
        out.append(f"<h3>{_e(label)} <span class=muted>({len(members)} tenants, {full} with full coverage)</span></h3>")
        out.append("<table>" + _TENANT_HEAD + "".join(_tenant_row(t) for t in members) + "</table>")
    out.append(_tls_html(s.get("tls") or {}, tenants))
    out.append(_failures_html(tenants))
    out.append(_malformed_html(tenants))
    if extra_html:
        out.append(extra_html)  # a section built by the harness itself (the fleet over time), never tenant text
    out.append("</body></html>")
    return "\n".join(out)


def _tls_html(tls: dict[str, Any], tenants: Sequence[dict[str, Any]]) -> str:
    if not tls.get("https_tenants"):
        return ""
    versions = ", ".join(f"{k} {v}" for k, v in (tls.get("versions") or {}).items()) or "none"
    legacy = "; ".join(f"TLS {label}: " + (", ".join(f"{k} {v}" for k, v in (tls.get(field) or {}).items()) or "-")
                       for field, label in (("tls1_0", "1.0"), ("tls1_1", "1.1")))
    flagged = [t for t in tenants if t.get("tls") and (((t["tls"].get("certificate") or {}).get("expires_soon"))
                                                       or "accepted" in (t["tls"].get("tls1_0"),
                                                                         t["tls"].get("tls1_1")))]
    rows = "".join(
        f"<tr><td>{_e(t['name'])}</td><td class=small><code>{_e(t['tls'].get('host'))}</code></td>"
        f"<td>{_e(t['tls'].get('version'))}</td><td>{_e(t['tls'].get('tls1_0'))}</td><td>{_e(t['tls'].get('tls1_1'))}"
        f"</td><td>{_e((t['tls'].get('certificate') or {}).get('not_after'))} "
        f"({_e((t['tls'].get('certificate') or {}).get('days_left'))} days)</td>"
        f"<td class=small>{_e((t['tls'].get('certificate') or {}).get('issuer'))}</td></tr>" for t in flagged)
    table = (f"<table><tr><th>Tenant</th><th>Host</th><th>Negotiated</th><th>TLS 1.0</th><th>TLS 1.1</th>"
             f"<th>Certificate expires</th><th>Issuer</th></tr>{rows}</table>") if flagged else ""
    return (f"<h2>TLS <span class=muted>({tls.get('handshakes', 0)} of {tls['https_tenants']} https tenants "
            f"reached)</span></h2><p>Negotiated: {_e(versions)}. {_e(legacy)}. Certificates expiring within "
            f"{_e(tls.get('expiry_warning_days'))} days: <b>{_e(tls.get('expiring_certificates'))}</b>; "
            f"certificates that do not verify: {_e(tls.get('certificate_failures'))}.</p>{table}")


def _failures_html(tenants: Sequence[dict[str, Any]]) -> str:
    failing = [t for t in tenants if t["status"] in ("partial", "failed")]
    counts: dict[str, int] = {}
    for t in failing:
        for doc in (t["metadata"], t["smart_configuration"]):
            if doc["outcome"] != "ok":
                counts[doc["outcome"]] = counts.get(doc["outcome"], 0) + 1
    rows = "".join(
        f"<tr><td>{_e(t['name'])}</td><td class=small><code>{_e(t['url'])}</code></td>"
        f"<td>{_doc_tag(t['metadata'])}<div class=small>{_e(t['metadata']['detail'])}</div></td>"
        f"<td>{_doc_tag(t['smart_configuration'])}<div class=small>{_e(t['smart_configuration']['detail'])}</div></td>"
        "</tr>" for t in failing)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"
    return (f"<h2>Failures <span class=muted>({len(failing)} tenants)</span></h2><p>By document: {_e(summary)}</p>"
            + (f"<table><tr><th>Tenant</th><th>Address</th><th>metadata</th><th>smart-configuration</th></tr>{rows}"
               "</table>" if failing else ""))


def _malformed_html(tenants: Sequence[dict[str, Any]]) -> str:
    bad = [t for t in tenants if t["status"] == "malformed-address"]
    if not bad:
        return ""
    rows = "".join(f"<tr><td class=small><code>{_e(t['address'])}</code></td><td>{_e(t['address_problem'])}</td>"
                   f"<td>{_e(t['name'])}</td><td class=num>{t['entries']}</td></tr>" for t in bad)
    return (f"<h2>Malformed addresses <span class=muted>({len(bad)})</span></h2>"
            f"<table><tr><th>Address</th><th>Why</th><th>Listed as</th><th>Entries</th></tr>{rows}</table>")


def _changes_html(changes: Sequence[Change]) -> str:
    counts = change_counts(list(changes))
    summary = ", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing changed"
    rows = "".join(f"<tr><td>{_e(c.kind)}</td><td>{_e(c.tenant)}</td><td class=small>{_e(c.detail)}</td></tr>"
                   for c in changes)
    table = f"<table><tr><th>Change</th><th>Tenant</th><th>Detail</th></tr>{rows}</table>" if changes else ""
    return f"<h2>Changes since the baseline <span class=muted>({len(changes)})</span></h2><p>{_e(summary)}</p>{table}"


def write_html(report: dict[str, Any], folder: Path, changes: Sequence[Change] | None = None,
               extra_html: str = "") -> Path:
    path = folder / "fleet.html"
    path.write_text(render_html(report, changes, extra_html), "utf-8")
    return path


# --- Allure ---------------------------------------------------------------------------------------

def allure_status(t: dict[str, Any]) -> tuple[str, str]:
    """(status, message): passed when both documents answer, every judged API is declared and the
    tenant is backend-services ready; failed when it answers but falls short; broken when a document
    could not be fetched; skipped for a malformed address."""
    if t["status"] == "malformed-address":
        return "skipped", f"malformed address: {t['address_problem']}"
    if t["status"] != "ok":
        docs = [f"{label}: {t[f]['outcome']} ({t[f]['detail']})" for f, label in
                (("metadata", "metadata"), ("smart_configuration", "smart-configuration")) if t[f]["outcome"] != "ok"]
        return "broken", "; ".join(docs)
    cov, ready = t.get("coverage") or {}, t.get("readiness") or {}
    reasons = []
    if cov.get("missing"):
        reasons.append(f"{len(cov['missing'])} requested APIs not declared: {', '.join(cov['missing'])}")
    if ready.get("ready") is False:
        off = [k for k in ("private_key_jwt", "client_credentials", "client_confidential_asymmetric")
               if ready.get(k) is False]
        reasons.append(f"not backend-services ready: no {', '.join(off)}")
    return ("failed", "; ".join(reasons)) if reasons else ("passed", "every judged API declared; ready")


def _description(t: dict[str, Any]) -> str:
    md = markdown_text
    cov, ready = t.get("coverage") or {}, t.get("readiness") or {}
    orgs = ", ".join(md(o["name"]) for o in t["organizations"] if o.get("name")) or "-"
    lines = [
        f"**Address** {md(t['url'] or t['address'])}",
        f"**Organisations** {orgs}",
        f"**Release** {md(t['release'] or (t.get('software') or {}).get('version') or 'unknown')}; "
        f"FHIR {md(t['fhir_version'] or 'unknown')}",
        f"**metadata** {md(t['metadata']['outcome'])}; **smart-configuration** "
        f"{md(t['smart_configuration']['outcome'])}",
    ]
    if cov:
        lines.append(f"**Declared** {cov['declared']}/{cov['judged']} judged APIs "
                     f"({cov['other_version']} of another FHIR version, {cov['not_fhir']} web services)")
    if ready:
        lines.append("**Readiness** " + ", ".join(f"{md(k)}={ready.get(k)}" for k in
                                                   ("private_key_jwt", "client_credentials",
                                                    "client_confidential_asymmetric")))
    tls = t.get("tls") or {}
    if tls:
        cert = tls.get("certificate") or {}
        lines.append(f"**TLS** {md(tls.get('version'))}; TLS 1.0 {md(tls.get('tls1_0'))}, TLS 1.1 "
                     f"{md(tls.get('tls1_1'))}; certificate until {md(cert.get('not_after'))} "
                     f"({md(cert.get('days_left'))} days), issuer {md(cert.get('issuer'))}")
    if t["fingerprint"]:
        lines.append(f"**Shape** {md(t['fingerprint'])}")
    return "\n\n".join(lines)


def write_allure(report: dict[str, Any], folder: Path) -> Path:
    """One Allure test result per tenant (epic "Fleet", feature = release) in ``folder/allure-results``.

    The documents follow Allure's result format (``<uuid>-result.json``), written here as the run's are
    (``harness.report.allure_files``): no Allure library is needed to produce them.
    """
    results = folder / "allure-results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = int(time.time() * 1000)
    for t in report["tenants"]:
        status, message = allure_status(t)
        feature = t["release"] or ("no CapabilityStatement" if t["status"] != "malformed-address"
                                   else "malformed address")
        history = hashlib.sha256(f"fleet:{t['key']}".encode()).hexdigest()
        elapsed_ms = int(1000 * t["elapsed_s"])
        labels = [("epic", "Fleet"), ("feature", feature), ("story", t["fhir_release"] or "unknown"),
                  ("suite", "Fleet"), ("subSuite", report["apis"]["set"]), ("tag", t["status"])]
        document = {
            "uuid": str(uuid.uuid4()), "historyId": history, "testCaseId": history,
            "name": f"{t['name']} — {t['url'] or t['address']}", "fullName": f"fleet.{t['key']}",
            "status": status, "stage": "finished", "statusDetails": {"message": message},
            "description": _description(t), "start": stamp, "stop": stamp + elapsed_ms,
            "labels": [{"name": k, "value": v} for k, v in labels],
            "parameters": [{"name": "address", "value": t["url"] or t["address"]}],
            "steps": [], "attachments": [],
        }
        # ASCII with escapes: no raw control or bidi character of a tenant's text in the file
        (results / f"{document['uuid']}-result.json").write_text(json.dumps(document), "utf-8")
    return results


def write_changes(changes: Sequence[Change], folder: Path) -> Path:
    path = folder / "fleet-changes.json"
    payload = {"counts": change_counts(list(changes)), "changes": [c.as_dict() for c in changes]}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return path


def write_all(report: dict[str, Any], folder: Path, changes: Sequence[Change] | None = None,
              extra_html: str = "") -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {
        "json": write_json(report, folder),
        "csv": write_csv(report, folder),
        "html": write_html(report, folder, changes, extra_html),
        "allure": write_allure(report, folder),
    }
    if changes is not None:
        written["changes"] = write_changes(changes, folder)
    return written
