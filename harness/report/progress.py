"""Progress during a run: a live line for people at a terminal, one plain line per group of checks in CI."""

from __future__ import annotations

import os
import sys
from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def wanted() -> bool:
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


class LiveProgress:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
        self.task = self.progress.add_task("collecting", total=None, counts="")

    def start(self, total: int) -> None:
        self.progress.update(self.task, total=total)
        self.progress.start()

    def advance(self, where: str, outcome: str, group: str = "") -> None:
        self.counts[outcome] += 1
        counts = " ".join(f"{n} {o}" for o, n in sorted(self.counts.items()))
        self.progress.update(self.task, advance=1, description=where[:70], counts=counts)

    def stop(self) -> None:
        self.progress.stop()


class GroupProgress:
    """One plain line per group of checks as it finishes, e.g. ``Discovery: 21 checks, 20 passed, 1 warning``."""

    def __init__(self, write=print) -> None:  # type: ignore[no-untyped-def]
        self.write = write
        self.group: str | None = None
        self.counts: Counter[str] = Counter()
        self.total = 0

    def start(self, total: int) -> None:
        self.total = total
        self.write(f"running {total} checks")

    def _flush(self) -> None:
        if self.group is not None and self.counts:
            n = sum(self.counts.values())
            detail = ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items(), key=lambda kv: -kv[1]))
            self.write(f"{self.group}: {n} check(s), {detail}")

    def advance(self, where: str, outcome: str, group: str = "") -> None:
        if group != self.group:
            self._flush()
            self.group, self.counts = group, Counter()
        self.counts[outcome] += 1

    def stop(self) -> None:
        self._flush()
        self.group = None
