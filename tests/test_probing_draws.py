"""Probing draws the same queries for the same seed whatever else a run imported, so a recording replays."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from hypothesis import given, seed, settings, Phase
from harness.probing import cases
params = {"category": "token", "date": "date", "identifier": "token", "patient": "reference", "status": "token"}
seen = []
@seed(2374761250)
@settings(max_examples=40, database=None, deadline=None, phases=[Phase.generate])
@given(case=cases(params, {"patient": "p1"}))
def draw(case):
    seen.append(case.params)
draw()
print(json.dumps(seen))
"""


def _draws(*modules: str) -> list:
    done = subprocess.run([sys.executable, "-c", SCRIPT, *modules], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_same_seed_draws_the_same_queries_whatever_is_imported() -> None:
    alone = _draws()
    crowded = _draws("harness.plugin", "suites.test_exercise", "suites.test_search_semantics", "harness.sandbox")
    assert len(alone) == 40 and alone == crowded
