"""The run-level Allure files (environment, categories, executor), and each failure tagged with who must act."""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.results import RunResults

CATEGORIES = [
    {"name": "Tenant configuration: the customer's Epic team must act", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"^\[tenant-configuration\][\s\S]*"},
    {"name": "Tenant fault: the tenant answers wrongly", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"^\[tenant-fault\][\s\S]*"},
    {"name": "Test data: fix the tenant file's test_data", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"^\[test-data\][\s\S]*"},
    {"name": "Harness error: the harness could not judge", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"^\[harness-error\][\s\S]*"},
]
RESULT_LABEL = "harness_result"


def write_run_files(results: RunResults, allure_dir: Path, categories_by_nodeid: dict[str, str | None]) -> None:
    if not allure_dir.is_dir():
        return
    environment = {
        "Tenant": results.tenant, "Tenant.URL": results.base_url, "Environment": results.environment,
        "Epic.version": results.software_version or "unknown", "FHIR.versions": ",".join(results.fhir_versions),
        "Requested.APIs": f"{len(results.apis)} ({results.requested_set})", "Harness.version": results.harness_version,
        "Gate": "passed" if results.gate.passed else "failed",
    }
    (allure_dir / "environment.properties").write_text(
        "".join(f"{k}={str(v).replace(chr(10), ' ')}\n" for k, v in environment.items()), "utf-8")
    (allure_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), "utf-8")
    executor = {"name": "epic-harness", "type": "epic-harness",
                "buildName": f"{results.tenant} {results.started}"}
    if os.environ.get("CI_JOB_URL") or os.environ.get("GITHUB_RUN_ID"):
        executor["buildUrl"] = os.environ.get("CI_JOB_URL") or (
            f"{os.environ.get('GITHUB_SERVER_URL', '')}/{os.environ.get('GITHUB_REPOSITORY', '')}"
            f"/actions/runs/{os.environ.get('GITHUB_RUN_ID', '')}")
    (allure_dir / "executor.json").write_text(json.dumps(executor, indent=2), "utf-8")
    for path in allure_dir.glob("*-result.json"):
        try:
            data = json.loads(path.read_text("utf-8"))
        except ValueError:
            continue
        nodeid = next((l["value"] for l in data.get("labels", []) if l.get("name") == RESULT_LABEL), None)
        category = categories_by_nodeid.get(nodeid or "")
        details = data.get("statusDetails")
        if category and data.get("status") in ("failed", "broken") and isinstance(details, dict):
            message = details.get("message") or ""
            if not message.startswith("["):
                details["message"] = f"[{category}] {message}"
                path.write_text(json.dumps(data), "utf-8")
