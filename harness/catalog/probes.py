"""Per-API probe data (``data/probes.toml``): which search parameters and which id exercise an API."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources
from typing import Any, Mapping

from harness.catalog import Api

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingTestData(LookupError):
    """A probe needs a value the tenant file's [test_data] does not give."""

    def __init__(self, key: str, api: Api) -> None:
        self.key = key
        super().__init__(f"{api.name} needs test_data.{key} in the tenant file")


@cache
def _probes() -> dict[str, Any]:
    return tomllib.loads(resources.files(__package__).joinpath("data/probes.toml").read_text("utf-8"))


def _keys(api: Api) -> list[str]:
    keys = [api.name]
    if api.context:
        keys.append(f"{api.resource} ({api.context})")
    keys.append(str(api.resource))
    return keys


def _fill(value: str, test_data: Mapping[str, Any], api: Api) -> str:
    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in test_data or test_data[key] in (None, ""):
            raise MissingTestData(key, api)
        return str(test_data[key])

    return _PLACEHOLDER.sub(sub, value)


def search_params(api: Api, test_data: Mapping[str, Any]) -> dict[str, str] | None:
    """The query for a Search API, or None when the probe data has no entry for it."""
    table = _probes().get("search", {})
    for key in _keys(api):
        if key in table:
            return {name: _fill(str(v), test_data, api) for name, v in table[key].get("params", {}).items()}
    return None


def read_id(api: Api, test_data: Mapping[str, Any]) -> str | None:
    """The id to read, when the probe data names one; None means: take it from a search."""
    table = _probes().get("read", {})
    for key in _keys(api):
        if key in table and "id" in table[key]:
            return _fill(str(table[key]["id"]), test_data, api)
    return None
