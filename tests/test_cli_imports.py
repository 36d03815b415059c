"""What a command loads before it runs: building the parser (every `epic-harness` command) loads neither
the fleet's fetcher nor SQLAlchemy, collecting the checks neither hypothesis, fhirpathpy nor asyncio, and the
fleet and history packages still give every public name they list."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "harness.fleet.fetch", "harness.fleet.run", "harness.fleet.analyse", "harness.history.store",
         "harness.history.page", "hypothesis", "fhirpathpy")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_building_the_parser_loads_no_fleet_fetcher_and_no_database_library() -> None:
    loaded = _loaded_after("from harness.cli import _parser\nargs = _parser().parse_args(['run', '--no-history'])")
    assert {"harness.fleet.cli", "harness.history.cli"} <= loaded  # their options are defined there
    assert not {m for m in loaded if m.startswith(HEAVY)}, sorted(m for m in loaded if m.startswith(HEAVY))


def test_collecting_the_checks_loads_neither_hypothesis_nor_fhirpathpy() -> None:
    loaded = _loaded_after("import harness.plugin, importlib, pkgutil, suites\n"
                           "for m in pkgutil.iter_modules(suites.__path__): importlib.import_module('suites.' + m.name)")
    assert "suites.test_probing" in loaded and "suites.test_search_semantics" in loaded
    late = ("hypothesis", "fhirpathpy", "sqlalchemy", "asyncio")  # loaded when a check or the history needs them
    assert not {m for m in loaded if m.startswith(late)}, sorted(m for m in loaded if m.startswith(late))


@pytest.mark.parametrize("package", ["harness.fleet", "harness.history"])
def test_every_public_name_is_there(package: str) -> None:
    module = importlib.import_module(package)
    module_of = {name: sub for sub, names in module._EXPORTS.items() for name in names}
    assert set(module.__all__) == set(module_of)
    for name in module.__all__:
        value = getattr(module, name)
        owner = importlib.import_module(f"{package}.{module_of[name]}")
        assert getattr(owner, name) is value and name in dir(module)
    with pytest.raises(AttributeError, match="no attribute 'nothing_of_that_name'"):
        module.nothing_of_that_name  # noqa: B018
    with pytest.raises(ImportError):
        exec(f"from {package} import nothing_of_that_name")  # a name neither exported nor a submodule
