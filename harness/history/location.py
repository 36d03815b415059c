"""Which history a command uses when ``--history`` is not given: ``$EPIC_HARNESS_HISTORY``, else
``reports/history.sqlite``. No database library is needed to answer it."""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable that names the history when ``--history`` is not given.
ENV_VAR = "EPIC_HARNESS_HISTORY"
#: The history when neither ``--history`` nor the environment names one (beside the other reports).
DEFAULT_PATH = Path("reports") / "history.sqlite"


def default_target() -> str:
    """``$EPIC_HARNESS_HISTORY``, else ``reports/history.sqlite``."""
    return os.environ.get(ENV_VAR, "").strip() or str(DEFAULT_PATH)
