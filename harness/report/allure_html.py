"""Building the Allure HTML report from a run's raw results, offline, with no analytics or tracking tag in it.

The harness never downloads Allure while building a report: it uses a pinned Allure it finds on this
machine (``$EPIC_HARNESS_ALLURE``, the harness's own install folder, or ``allure`` on the PATH at the
pinned version), and otherwise says the one command that installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from harness.errors import UsageError

ALLURE_VERSION = "3.18.0"
ALLURE_PACKAGE = f"allure@{ALLURE_VERSION}"
# A script loaded from an analytics host, or a short inline snippet calling gtag/dataLayer. Only
# these: the report's own bundle is inlined as base64, where any letters may occur by chance.
TRACKING = re.compile(
    r"<script\b[^>]*\bsrc=[\"']https?://[^\"']*(?:googletagmanager|google-analytics)\.[^\"']*[\"'][^>]*>\s*</script>"
    r"|<script\b[^>]*>[^<]{0,2000}?(?:gtag\(|dataLayer)[^<]{0,2000}?</script>", re.I)


def install_dir() -> Path:
    """Where ``npm install --prefix`` puts the harness's own Allure (~/.cache/epic-harness/allure)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "epic-harness" / "allure"


def install_command() -> str:
    return f"npm install --prefix {install_dir()} {ALLURE_PACKAGE}"


def _version(executable: str) -> str | None:
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"\d+\.\d+\.\d+", done.stdout + done.stderr)
    return found.group(0) if found else None


def find_allure() -> str:
    """The Allure executable to use; a UsageError with the install command when there is none."""
    explicit = os.environ.get("EPIC_HARNESS_ALLURE")
    if explicit:
        if not Path(explicit).is_file():
            raise UsageError(f"EPIC_HARNESS_ALLURE={explicit} is not a file; point it at an allure executable")
        return explicit
    own = install_dir() / "node_modules" / ".bin" / "allure"
    if own.is_file():
        return str(own)
    on_path = shutil.which("allure")
    if on_path and _version(on_path) == ALLURE_VERSION:
        return on_path
    why = (f"the allure on the PATH is version {_version(on_path)}, not {ALLURE_VERSION}" if on_path
           else f"Allure {ALLURE_VERSION} is not installed here")
    node = "" if shutil.which("npm") else " (it needs Node.js 18 or newer: e.g. `apt-get install nodejs npm`)"
    raise UsageError(f"{why}; install it once, about 90 MB from the npm registry{node}: `{install_command()}` "
                     f"(or set EPIC_HARNESS_ALLURE to an allure {ALLURE_VERSION} executable). The raw results in "
                     f"allure-results/ are complete without it.")


def latest_report_dirs(root: Path = Path("reports")) -> list[Path]:
    """The newest run's report folder, or every tenant's folder of the newest multi-tenant run."""
    runs: list[tuple[float, Path]] = []
    for results in list(root.glob("*/allure-results")) + list(root.glob("*/*/allure-results")):
        if results.is_dir():
            runs.append((results.stat().st_mtime, results.parent))
    if not runs:
        raise UsageError(f"no report folder with allure-results under {root}/; give one: epic-harness report DIR")
    newest = max(runs)[1]
    parent = newest.parent
    if parent != root and (parent / f"{newest.name}.log").is_file():  # a multi-tenant run: one folder per tenant
        return sorted(p for _, p in runs if p.parent == parent)
    return [newest]


def latest_report_dir(root: Path = Path("reports")) -> Path:
    return latest_report_dirs(root)[0]


def strip_tracking(html: str) -> str:
    return TRACKING.sub("", html)


def build(report_dir: Path, *, single_file: bool = True, allure: str | None = None) -> Path:
    results = report_dir / "allure-results"
    if not results.is_dir():
        raise UsageError(f"{report_dir} has no allure-results/ folder")
    allure = allure or find_allure()
    out = report_dir / "allure-report"
    command = [allure, "allure2", str(results), "-o", str(out)]
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
