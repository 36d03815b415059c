"""The Allure results of a run, written by the harness from its own verdicts (Allure 2 result format).

Each check becomes one ``<uuid>-result.json``: its status is the check's outcome (warnings pass, blocked
and skipped skip, inconclusive is unknown), its name the API and the check's title, its parameters the
API (never a Python repr), its history id stable across runs, its message who must act and why; the
labels give Allure's epic (the check's area), feature (the API group), story (the API), severity, the
check id, the outcome and the requirements; the HTTP exchanges it judged, already scrubbed, and its
evidence are attachments. Then the run-level files: environment, categories, executor. Writing these
ourselves, rather than through a pytest plugin during the run, costs a fraction of the time and
leaves nothing to correct afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from harness.actors import CATEGORIES, short_actor
from harness.escape import json_text, plain
from harness.run.outcome import Outcome
from harness.run.results import CheckResult, RunResults
from harness.scrub import SecretRegistry

SEVERITY = {"blocker": "blocker", "critical": "critical", "normal": "normal", "minor": "minor", "trivial": "trivial"}


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


def _description(c: CheckResult) -> str:
    lines = [f"**Check** `{c.check_id}`", "", f"**Why it matters:** {c.why}", "",
             f"**Source:** {c.source}" + (f" ({c.source_url})" if c.source_url else "")]
    if c.requirements:
        lines += ["", "**Requirements verified:** " + ", ".join(f"`{r}`" for r in c.requirements)]
    if c.notes:
        lines += ["", "**Notes:**"] + [f"- {n}" for n in c.notes]
    return "\n".join(lines)


def result_document(c: CheckResult, results: RunResults, attachments: list[dict[str, str]],
                    requirement_urls: dict[str, str]) -> dict[str, Any]:
    labels = [
        {"name": "epic", "value": c.area}, {"name": "feature", "value": c.group or c.area},
        {"name": "story", "value": c.api or c.title}, {"name": "severity", "value": SEVERITY.get(c.severity, "normal")},
        {"name": "check_id", "value": c.check_id}, {"name": "outcome", "value": c.outcome.value},
        {"name": "suite", "value": c.area}, {"name": "framework", "value": "epic-harness"},
    ]
    if c.outcome not in (Outcome.PASSED, Outcome.FAILED):
        labels.append({"name": "tag", "value": c.outcome.value})
    labels += [{"name": "tag", "value": r} for r in c.requirements]
    links = [{"name": c.source, "url": c.source_url, "type": "link"}] if c.source_url else []
    links += [{"name": r, "url": requirement_urls[r], "type": "tms"} for r in c.requirements if r in requirement_urls]
    params = ([{"name": "API", "value": c.api}] if c.api else []) + ([{"name": "parameter", "value": c.param}]
                                                                     if c.param else [])
    started = int(c.started * 1000) if c.started else 0
    document: dict[str, Any] = {
        "uuid": str(uuid.uuid4()), "historyId": _stable(f"{results.tenant}|{c.id}"), "testCaseId": _stable(c.check_id),
        "fullName": f"{c.check_id}[{c.api or c.param or ''}]",
        "name": plain(f"{c.api} — {c.title}" if c.api else (f"{c.title} — {c.param}" if c.param else c.title)),
        "status": c.outcome.allure_status, "stage": "finished",
        "statusDetails": {"message": plain(_message(c, results.software_name))},
        "description": _description(c), "labels": labels, "links": links, "parameters": params,
        "attachments": attachments, "steps": [{"name": f"warning: {plain(w)}", "status": "passed", "stage": "finished"}
                                              for w in c.warnings],
        "start": started, "stop": started + int(c.duration_s * 1000),
    }
    return document


def _requirement_urls() -> dict[str, str]:
    from harness.errors import HarnessError
    from harness.requirements import load_catalogue

    try:
        return {r.id: r.url for r in load_catalogue().requirements.values()}
    except HarnessError:  # the links are a convenience; a catalogue problem is reported by its own tests
        return {}


def write_allure(results: RunResults, allure_dir: Path, secrets: SecretRegistry,
                 evidence: dict[str, dict[str, Any]]) -> None:
    """Write ``allure_dir`` afresh: one result per check with its attachments, and the run-level files."""
    if allure_dir.exists():
        shutil.rmtree(allure_dir)
    allure_dir.mkdir(parents=True)
    urls = _requirement_urls()
    for c in results.checks:
        if c.deselected:  # not part of this run: the summary lists them, Allure shows what ran
            continue
        attachments = []
        for name, value in (evidence.get(c.nodeid) or {}).items():
            source = f"{uuid.uuid4()}-attachment.json"
            text = json_text(secrets.scrub_text(json.dumps(value, indent=2, ensure_ascii=False, default=str)))
            (allure_dir / source).write_text(text, "utf-8")
            attachments.append({"name": name, "source": source, "type": "application/json"})
        document = result_document(c, results, attachments, urls)
        (allure_dir / f"{document['uuid']}-result.json").write_text(
            json_text(secrets.scrub_text(json.dumps(document, ensure_ascii=False))), "utf-8")
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
