"""Which cassette files a recording wrote, so that the next recording removes only those.

A recording writes ``_manifest.json`` beside its cassettes listing every file it wrote. Recording
again deletes the files of the previous manifest (and nothing else) that lie inside the cassette
folder, then writes its own. A folder the harness did not record into is never emptied.
"""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "_manifest.json"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def prepare_recording(folder: Path) -> list[Path]:
    """Delete the files the previous recording into ``folder`` wrote; return them."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return []
    try:
        names = json.loads(manifest.read_text("utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    removed = []
    for name in names:
        path = folder / str(name)
        if isinstance(name, str) and path.suffix == ".yaml" and _inside(path, folder) and path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def finish_recording(folder: Path) -> None:
    """List every cassette now in ``folder`` (this recording's) in its manifest."""
    if not folder.is_dir():
        return
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.yaml"))
    (folder / MANIFEST).write_text(json.dumps({"files": files}, indent=1) + "\n", "utf-8")
