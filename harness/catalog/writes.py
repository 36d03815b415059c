"""Bodies for the create checks (``data/writes.json``), filled from the tenant's [test_data]."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Mapping

from harness.catalog import Api
from harness.catalog.probes import MissingTestData, _fill

__all__ = ["MissingTestData", "template"]


@cache
def _templates() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("data/writes.json").read_text("utf-8"))


def _filled(value: Any, test_data: Mapping[str, Any], api: Api) -> Any:
    if isinstance(value, str):
        return _fill(value, test_data, api)
    if isinstance(value, list):
        return [_filled(v, test_data, api) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, test_data, api) for k, v in value.items()}
    return value


def template(api: Api, test_data: Mapping[str, Any]) -> dict[str, Any]:
    body = _templates().get(f"{api.resource} ({api.version})")
    if body is None:
        raise MissingTestData(f"a body for {api.resource} ({api.version}) in the write templates", api)
    return _filled(body, test_data, api)
