"""The Allure results, made to say what the harness says: each result's status is the check's outcome,
its name the API and the check's title, its parameters the API, its history id stable across runs, its
message who must act and why, without Python class names; plus the run-level files (environment,
categories, executor)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from harness.report.escape import plain
from harness.actors import CATEGORIES, short_actor
from harness.run.outcome import Outcome
from harness.run.results import CheckResult, RunResults
from harness.scrub import SecretRegistry

RESULT_LABEL = "harness_result"


def _categories(software: str | None) -> list[dict[str, Any]]:
    out = []
    for category in CATEGORIES:
        names = {short_actor(category, None), short_actor(category, "not-epic")}
        pattern = "^(?:" + "|".join(re.escape(n) for n in sorted(names)) + r"):[\s\S]*"
        out.append({"name": f"Who must act: {short_actor(category, software)}",
                    "matchedStatuses": ["failed", "broken"], "messageRegex": pattern})
    out.append({"name": "Blocked by a failed precondition", "matchedStatuses": ["skipped"],
                "messageRegex": r"^blocked by [\s\S]*"})
    out.append({"name": "Inconclusive: the tenant's answer cannot decide the rule", "matchedStatuses": ["unknown"]})
    return out


def _stable(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _message(c: CheckResult, software: str | None) -> str:
    if c.outcome is Outcome.BLOCKED:
        return f"blocked by {c.blocked_by}: {c.message}"
    if c.outcome in (Outcome.FAILED, Outcome.BROKEN):
        return f"{short_actor(c.category, software)}: {c.message}"
    if c.outcome is Outcome.WARNING:
        return "warning: " + "; ".join(c.warnings)
    return f"{c.outcome.value}: {c.message}" if c.message else c.outcome.value


def rewrite_result(data: dict[str, Any], c: CheckResult, software: str | None, tenant: str) -> dict[str, Any]:
    data["status"] = c.outcome.allure_status
    data["name"] = plain(f"{c.api} — {c.title}" if c.api else (f"{c.title} — {c.param}" if c.param else c.title))
    data["fullName"] = f"{c.check_id}[{c.api or c.param or ''}]"
    data["historyId"] = _stable(f"{tenant}|{c.id}")
    data["testCaseId"] = _stable(c.check_id)
    params = []
    if c.api:
        params.append({"name": "API", "value": c.api})
    if c.param:
        params.append({"name": "parameter", "value": c.param})
    data["parameters"] = params
    details: dict[str, Any] = {"message": plain(_message(c, software))}
    if c.outcome is Outcome.BROKEN:
        details["trace"] = (data.get("statusDetails") or {}).get("trace", "")
    data["statusDetails"] = details
    labels = [l for l in data.get("labels", []) if l.get("name") not in ("outcome", "tag")]
    labels.append({"name": "outcome", "value": c.outcome.value})
    if c.outcome not in (Outcome.PASSED, Outcome.FAILED):
        labels.append({"name": "tag", "value": c.outcome.value})
    for requirement in c.requirements:
        labels.append({"name": "tag", "value": requirement})
    data["labels"] = labels
    return data


def write_run_files(results: RunResults, allure_dir: Path, secrets: SecretRegistry) -> None:
    """Rewrite every result from the harness's own verdicts, scrub every file, add the run-level files."""
    if not allure_dir.is_dir():
        return
    by_nodeid = {c.nodeid: c for c in results.checks}
    for path in allure_dir.iterdir():
        if not path.is_file():
            continue
        if path.name.endswith("-result.json"):
            try:
                data = json.loads(path.read_text("utf-8"))
            except ValueError:
                continue
            nodeid = next((l["value"] for l in data.get("labels", []) if l.get("name") == RESULT_LABEL), None)
            check = by_nodeid.get(nodeid or "")
            if check is not None:
                data = rewrite_result(data, check, results.software_name, results.tenant)
            path.write_text(secrets.scrub_text(json.dumps(data, ensure_ascii=False)), "utf-8")
        elif path.suffix in (".json", ".txt", ".xml", ".html", ".csv", ".yaml", ".log", ""):
            text = path.read_text("utf-8", "replace")
            clean = secrets.scrub_text(text)
            if clean != text:
                path.write_text(clean, "utf-8")
    environment = {
        "Tenant": results.tenant, "Tenant.URL": results.base_url, "Environment": results.environment,
        "Epic.version": results.software_version or "unknown", "FHIR.versions": ",".join(results.fhir_versions),
        "Requested.APIs": f"{len(results.apis)} ({results.requested_set})", "Harness.version": results.harness_version,
        "Gate": results.gate.state.value, "Verified.APIs": f"{results.verified_apis}/{len(results.apis)}",
    }
    (allure_dir / "environment.properties").write_text(
        "".join(f"{k}={plain(v)}\n" for k, v in environment.items()), "utf-8")
    (allure_dir / "categories.json").write_text(json.dumps(_categories(results.software_name), indent=2), "utf-8")
    executor = {"name": "epic-harness", "type": "epic-harness", "buildName": f"{plain(results.tenant)} {results.started}"}
    if os.environ.get("CI_JOB_URL") or os.environ.get("GITHUB_RUN_ID"):
        executor["buildUrl"] = os.environ.get("CI_JOB_URL") or (
            f"{os.environ.get('GITHUB_SERVER_URL', '')}/{os.environ.get('GITHUB_REPOSITORY', '')}"
            f"/actions/runs/{os.environ.get('GITHUB_RUN_ID', '')}")
    (allure_dir / "executor.json").write_text(json.dumps(executor, indent=2), "utf-8")
