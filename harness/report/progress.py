"""Live progress during a run (group, API, pass/fail counts), for people at a terminal; silent in CI."""

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

    def advance(self, where: str, outcome: str) -> None:
        self.counts[outcome] += 1
        counts = " ".join(f"{n} {o}" for o, n in sorted(self.counts.items()))
        self.progress.update(self.task, advance=1, description=where[:70], counts=counts)

    def stop(self) -> None:
        self.progress.stop()
