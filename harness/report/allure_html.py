"""Building the Allure HTML report from a run's raw results, with no analytics or tracking tag in it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from harness.errors import UsageError

ALLURE_PACKAGE = "allure@3.18.0"
# A script loaded from an analytics host, or a short inline snippet calling gtag/dataLayer. Only
# these: the report's own bundle is inlined as base64, where any letters may occur by chance.
TRACKING = re.compile(
    r"<script\b[^>]*\bsrc=[\"']https?://[^\"']*(?:googletagmanager|google-analytics)\.[^\"']*[\"'][^>]*>\s*</script>"
    r"|<script\b[^>]*>[^<]{0,2000}?(?:gtag\(|dataLayer)[^<]{0,2000}?</script>", re.I)
HOW_TO_GET_NODE = ("the Allure report needs Node.js 18 or newer (npx). Install it (e.g. `apt-get install nodejs npm`), "
                   "then run `epic-harness report` again; the raw results in allure-results/ are complete without it")


def latest_report_dir(root: Path = Path("reports")) -> Path:
    runs = sorted((p for p in root.glob("*") if (p / "allure-results").is_dir()), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise UsageError(f"no report folder with allure-results under {root}/; give one: epic-harness report DIR")
    return runs[-1]


def strip_tracking(html: str) -> str:
    return TRACKING.sub("", html)


def build(report_dir: Path, *, single_file: bool = True, npx: str | None = None) -> Path:
    results = report_dir / "allure-results"
    if not results.is_dir():
        raise UsageError(f"{report_dir} has no allure-results/ folder")
    npx = npx or shutil.which("npx")
    if not npx:
        raise UsageError(HOW_TO_GET_NODE)
    out = report_dir / "allure-report"
    command = [npx, "--yes", ALLURE_PACKAGE, "allure2", str(results), "-o", str(out)]
    if single_file:
        command.append("--single-file")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "ALLURE_NO_ANALYTICS": "true"})
    if done.returncode != 0:
        raise UsageError(f"allure could not build the report: {(done.stderr or done.stdout).strip()[-400:]}")
    for page in out.rglob("*.html"):
        text = page.read_text("utf-8", "replace")
        cleaned = strip_tracking(text)
        if cleaned != text:
            page.write_text(cleaned, "utf-8")
    return out / "index.html"
