"""Allure labels and attachments for each check, from its registration and its evidence."""

from __future__ import annotations

import json
from typing import Any, Iterable

import allure

from harness.checks import CheckContext, CheckInfo


SEVERITY = {s.value: s for s in allure.severity_level}


def label_test(info: CheckInfo, api: Any, group: str | None, nodeid: str) -> None:
    allure.dynamic.epic(info.area)
    allure.dynamic.feature(group or info.area)
    allure.dynamic.story(api.name if api is not None else info.title)
    allure.dynamic.severity(SEVERITY.get(info.severity, allure.severity_level.NORMAL))
    allure.dynamic.title(f"{info.title} — {api.name}" if api is not None else info.title)
    allure.dynamic.label("check_id", info.id)
    allure.dynamic.label("harness_result", nodeid)
    allure.dynamic.description(
        f"**Check** `{info.id}`\n\n**Why it matters:** {info.why}\n\n**Source:** {info.source}"
        + (f" ({info.source_url})" if info.source_url else "")
    )
    if info.source_url:
        allure.dynamic.link(info.source_url, name=info.source)
    if api is not None and api.spec_url:
        allure.dynamic.link(api.spec_url, name=f"Epic specification: {api.name}")


def attach_evidence(exchanges: Iterable[Any], context: CheckContext | None) -> None:
    exchanges = list(exchanges)
    if exchanges:
        allure.attach(json.dumps([e.as_dict() for e in exchanges], indent=2, ensure_ascii=False),
                      name="HTTP exchanges (scrubbed)", attachment_type=allure.attachment_type.JSON)
    if context is None:
        return
    for warning in context.warnings:
        with allure.step(f"Warning: {warning}"):
            pass
    for name, value in context.evidence.items():
        allure.attach(json.dumps(value, indent=2, ensure_ascii=False, default=str), name=name,
                      attachment_type=allure.attachment_type.JSON)
