"""Only the tests marked ``e2e`` may start the harness's run or fleet in a child process.

Such a child (``python -m harness run``, ``epic-harness fleet``) costs seconds; ``pytest -m "not e2e"`` is the
fast layer, free of them. Everything else judges checks in process (tests/support/checks.py) or calls
``harness.cli.main``. An audit hook refuses the child process when the running test is not marked; the
conftest sets ``allowed`` around each test. This module is imported once (the conftest is loaded both by
pytest and as ``tests.conftest``, so its own globals would exist twice).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

allowed = False


def is_harness_run(args: Any) -> bool:
    argv = [str(a) for a in args] if isinstance(args, (list, tuple)) else str(args).split()
    if argv and Path(argv[0]).name == "epic-harness":
        return argv[1:2] in (["run"], ["fleet"])
    return any(a == "-m" and b == "harness" and c in ("run", "fleet") for a, b, c in zip(argv, argv[1:], argv[2:]))


def _refuse_unmarked_runs(event: str, args: tuple[Any, ...]) -> None:
    if event == "subprocess.Popen" and not allowed and is_harness_run(args[1]):
        raise RuntimeError("this test starts the harness's run in a child process: mark it @pytest.mark.e2e "
                           "(an end-to-end run), or judge in process (tests/support/checks.py, cli.main)")


sys.addaudithook(_refuse_unmarked_runs)
