"""The conformance checks need the harness plugin, which pytest loads through its entry point."""

pytest_plugins: list[str] = []
