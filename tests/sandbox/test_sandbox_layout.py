"""The sandbox's own layout, enforced: no import cycle, faults consulted only at hook points, one
definition of each helper, every fault declared with a hook and a description."""

from __future__ import annotations

import ast
import graphlib
from collections import defaultdict
from pathlib import Path

import pytest

from harness.sandbox.faults import Hook
from harness.sandbox.faults.catalog import CATALOG, FAULTS
from harness.sandbox.faults.core import HOOK_POINTS
from harness.sandbox.token.rules import TOKEN_RULES

PACKAGE = Path(__file__).resolve().parents[2] / "harness" / "sandbox"


def _module(path: Path) -> str:
    parts = ["harness", "sandbox", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = _package_of(module).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _edges(module: str) -> set[str]:
    """The sandbox modules ``module`` imports when it is imported (function-level imports run
    later, so they cannot make an import cycle, and are left out), with the packages Python
    initialises on the way in."""
    found: set[str] = set()
    for node in ast.parse(MODULES[module].read_text("utf-8")).body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            names = [target] + [f"{target}.{alias.name}" for alias in node.names]
        for name in names:
            if name in MODULES and not module.startswith(name + "."):  # one's own packages are already importing
                found.add(name)
            parts = name.split(".")
            for end in range(2, len(parts)):  # the packages entered on the way, when not one's own
                package = ".".join(parts[:end])
                if package in MODULES and not module.startswith(package + ".") and package != module:
                    found.add(package)
    found.discard(module)
    return found


def test_no_import_cycle_inside_the_sandbox() -> None:
    graph = {module: _edges(module) for module in MODULES}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle in the sandbox: {' -> '.join(error.args[1])}")
    assert set(order) == set(MODULES)


def test_the_cycle_finder_finds_a_cycle() -> None:
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter({"a": {"b"}, "b": {"c"}, "c": {"a"}}).static_order())


def _hook_references() -> dict[str, set[str]]:
    """Module -> the hooks it names (``Hook.X``), outside the fault declarations."""
    found: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        if module.startswith("harness.sandbox.faults"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Hook":
                found[module].add(node.attr)
    return found


def test_faults_are_consulted_only_at_their_hook_points() -> None:
    declared = {hook.name: f"harness.sandbox.{HOOK_POINTS[hook].rsplit('.', 1)[0]}" for hook in Hook}
    for module, hooks in _hook_references().items():
        for hook in hooks:
            point = declared[hook]
            assert module == point or point.startswith(module + "."), f"{module} consults {hook} (its hook point is {point})"
    consulted = {hook for hooks in _hook_references().values() for hook in hooks}
    assert consulted == {hook.name for hook in Hook if hook is not Hook.FLEET}  # fleet faults expand into others


def test_no_handler_reads_a_fault_by_name() -> None:
    names = {kind.name for kind in CATALOG.kinds}
    for module, path in MODULES.items():
        if module.startswith("harness.sandbox.faults") or module == "harness.sandbox.fleet":
            continue
        strings = {node.value for node in ast.walk(ast.parse(path.read_text("utf-8")))
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert not strings & names, f"{module} names faults {sorted(strings & names)}"


def test_each_helper_is_defined_once() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for module, path in MODULES.items():
        for node in ast.parse(path.read_text("utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where[node.name].append(module)
    where.pop("main", None)  # the entry points of `python -m harness.sandbox.<module>`
    assert {name: modules for name, modules in where.items() if len(modules) > 1} == {}


def test_every_fault_has_a_hook_a_true_one_line_description_and_a_listing() -> None:
    for kind in CATALOG.kinds:
        assert isinstance(kind.hook, Hook) and kind.description and "\n" not in kind.description, kind.name
        for arg in kind.args:
            assert arg.placeholder in kind.description or kind.choices, (kind.name, arg.placeholder)
    assert all(description and "\n" not in description for description in FAULTS.values())
    for rule, accepts in TOKEN_RULES.items():
        assert FAULTS[f"token-skip:{rule}"] == f"the token endpoint does not check {rule}: it accepts {accepts}"
    assert FAULTS["sds-undone:provider-rules"].startswith("SDS step undone: no provider-based rules")
