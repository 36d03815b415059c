"""The daily fleet-watch workflow example: scheduled (never on a push), restores the history before the
fleet runs, stores the run, saves the history and publishes the pages; every epic-harness command in
it parses with today's options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from harness.cli import _parser

WORKFLOW = Path(__file__).parents[2] / "examples" / "ci" / "fleet-watch.yml"


def _steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text("utf-8"))["jobs"]["watch"]["steps"]


def test_it_runs_on_a_schedule_or_by_hand_never_on_a_push():
    triggers = yaml.safe_load(WORKFLOW.read_text("utf-8"))[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"schedule", "workflow_dispatch"}


def test_restore_run_store_save_publish_in_that_order():
    names = [s.get("uses", "") + " " + s.get("run", "") for s in _steps()]

    def where(text: str) -> int:
        return next(i for i, n in enumerate(names) if text in n)

    assert where("actions/cache/restore") < where("epic-harness fleet") < where("epic-harness history --add") \
        < where("actions/cache/save") < where("deploy-pages")
    restore = _steps()[where("actions/cache/restore")]["with"]
    save = _steps()[where("actions/cache/save")]["with"]
    assert restore["path"] == save["path"] == "history" and restore["restore-keys"] == "fleet-history-"


def _commands() -> list[list[str]]:
    out = []
    for step in _steps():
        for line in re.sub(r"\$\{\{.*?\}\}", "value", step.get("run", "")).splitlines():
            line = line.strip().split("|")[0]
            if line.startswith("epic-harness "):
                out.append(shlex.split(line)[1:])
    return out


@pytest.mark.parametrize("argv", _commands(), ids=lambda a: " ".join(a[:2]))
def test_every_command_parses(argv):
    args = _parser().parse_args(argv)
    assert args.command in ("fleet", "history", "forecast")


def test_the_fleet_command_spans_two_lines_in_yaml_and_is_found():
    assert any(a[0] == "fleet" and "--report-dir" in a for a in _commands())
