"""The layering ARCHITECTURE.md states, enforced: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_sandbox_imports_nothing_of_the_checks_or_the_harness_but_errors() -> None:
    for path in modules("harness/sandbox"):
        for name in imports_of(path):
            if name.startswith(("harness", "suites")):
                assert name.startswith(("harness.sandbox", "harness.errors")), f"{path.relative_to(ROOT)} imports {name}"


def test_the_checks_never_know_they_face_a_sandbox() -> None:
    for path in modules("suites"):
        assert not any(n.startswith("harness.sandbox") for n in imports_of(path)), path.relative_to(ROOT)
        text = path.read_text("utf-8").lower()
        assert "127.0.0.1" not in text and "harness-sandbox" not in text, path.relative_to(ROOT)


def test_the_harness_layers_never_import_the_checks_and_only_the_cli_embeds_the_sandbox() -> None:
    for path in modules("harness"):
        if "sandbox" in path.parts:
            continue
        names = imports_of(path)
        rel = path.relative_to(ROOT)
        allowed = {"suites"} if rel.as_posix() == "harness/cli.py" else set()  # to find the folder pytest runs
        assert not any(n.startswith("suites") and n not in allowed for n in names), f"{rel} imports the checks"
        if rel.as_posix() not in ("harness/cli.py",):
            assert not any(n.startswith("harness.sandbox") for n in names), f"{rel} imports the sandbox"


def test_only_the_client_and_the_fleet_fetcher_send_http() -> None:
    senders = {"harness/client.py", "harness/fleet/fetch.py"}
    for path in modules("harness") + modules("suites"):
        rel = path.relative_to(ROOT).as_posix()
        if rel in senders or rel.startswith("harness/sandbox/"):
            continue
        text = path.read_text("utf-8")
        assert "httpx.Client(" not in text and "httpx.AsyncClient(" not in text, f"{rel} builds its own HTTP client"
