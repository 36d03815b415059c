"""Options for running the sandbox's tests on their own.

The project's pytest configuration asks pytest-xdist for two workers (``-n 2``). With the plugin
switched off (``-p no:xdist``, for a serial run) that option would be unknown; it is accepted and
ignored here instead.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if pluginmanager.has_plugin("xdist") or pluginmanager.has_plugin("xdist.plugin"):
        return
    group = parser.getgroup("xdist-off", "pytest-xdist switched off")
    # the public addoption refuses lower-case short options, as pytest-xdist's own -n is
    group._addoption("-n", "--numprocesses", dest="numprocesses", default=None,
                     help="ignored: pytest-xdist is not active")
