"""The report writers, listed in one place and fed by the run's results.

Every writer gets the same results, already passed through the run's scrubbing boundary (no secret
of the run in any string). A writer that fails is reported; the others still write.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Protocol

from harness.run.results import RunResults
from harness.scrub import SecretRegistry


@dataclass
class WriteContext:
    report_dir: Path
    secrets: SecretRegistry
    allure_dir: Path | None = None
    mode: str = "live"
    cassette_dir: Path | None = None
    pseudonymizer: Any = None  # with [cassettes] scrub_patient_data: patient values out of every string too
    evidence: dict[str, dict[str, Any]] | None = None  # per check (node id): the exchanges and evidence it judged


class Writer(Protocol):
    def __call__(self, results: RunResults, ctx: WriteContext) -> None: ...


#: The fields that carry text the tenant answered (a message echoing a query, a note quoting a diagnostic):
#: with patient scrubbing on, patient values are taken out of them. Names (check ids, API names, titles) are
#: the harness's own and stay as they are.
FREE_TEXT = frozenset({"message", "warnings", "notes", "data", "detail", "reasons", "not_verified", "waived",
                       "error", "stats"})


def prepare_report_dir(report_dir: Path) -> str | None:
    """Create ``report_dir`` and try writing there; what is wrong (``None`` when it is fine), asked
    before a run starts, so that its results are never lost for want of a folder."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe = report_dir / ".write-test"
        probe.write_text("", "utf-8")
        probe.unlink()
    except OSError as exc:
        return f"cannot write there: {exc.strerror or exc}"
    return None


def scrubbed(value: Any, secrets: SecretRegistry, pseudonymizer: Any = None, *, free_text: bool = False) -> Any:
    """A copy of ``value`` (results, dataclasses, dicts, lists, strings) with every secret removed, and with
    ``pseudonymizer`` every patient value the run replaced elsewhere taken out of the free-text fields."""
    return _Scrubber(secrets, pseudonymizer).copy(value, free_text)


class _Scrubber:
    """One pass of :func:`scrubbed`. A run's results repeat the same strings (titles, sources, messages)
    across its checks: each is scrubbed once while the registry knows the same secrets, and again once it
    has learnt one (the registry only grows, so the same size is the same secrets)."""

    def __init__(self, secrets: SecretRegistry, pseudonymizer: Any) -> None:
        self.secrets, self.pseudonymizer = secrets, pseudonymizer
        self._known = len(secrets)
        self._texts: dict[str, str] = {}

    def text(self, value: str) -> str:
        done = self._texts.get(value)
        if done is not None and self._known == len(self.secrets):
            return done
        done = self.secrets.scrub_text(value)
        if self._known != len(self.secrets):  # learnt a secret: what was scrubbed before may hold it
            self._texts.clear()
            self._known = len(self.secrets)
        self._texts[value] = done
        return done

    def copy(self, value: Any, free_text: bool) -> Any:
        kind = type(value)
        if kind is str:
            text = self.text(value)
            return self.pseudonymizer.text(text) if self.pseudonymizer is not None and free_text else text
        if kind in _ATOMS:
            return value
        if kind is list:
            return [self.copy(v, free_text) for v in value]
        if kind is dict:
            return {self.copy(k, False): self.copy(v, free_text) for k, v in value.items()}
        if isinstance(value, Enum):
            return value
        if isinstance(value, str):
            text = self.secrets.scrub_text(value)
            return self.pseudonymizer.text(text) if self.pseudonymizer is not None and free_text else text
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.replace(value, **{
                name: self.copy(getattr(value, name), free_text or name in FREE_TEXT)
                for name in _init_fields(kind)})
        if isinstance(value, dict):
            return {self.copy(k, False): self.copy(v, free_text) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return kind(self.copy(v, free_text) for v in value)
        return value


_ATOMS = frozenset({type(None), bool, int, float})
_INIT_FIELDS: dict[type, tuple[str, ...]] = {}


def _init_fields(kind: type) -> tuple[str, ...]:
    names = _INIT_FIELDS.get(kind)
    if names is None:
        names = _INIT_FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind) if f.init)
    return names


def _summary_json(results: RunResults, ctx: WriteContext) -> None:
    from harness.report.summary import write_summary_json

    write_summary_json(results, ctx.report_dir / "summary.json")
    if ctx.mode == "record" and ctx.cassette_dir is not None:
        write_summary_json(results, ctx.cassette_dir / "summary.json")


def _summary_md(results: RunResults, ctx: WriteContext) -> None:
    from harness.report.summary import write_summary_md

    write_summary_md(results, ctx.report_dir / "summary.md")


def _summary_html(results: RunResults, ctx: WriteContext) -> None:
    from harness.report.html import write_summary_html

    sds = next((c.data["sds"] for c in results.checks if c.data.get("sds")), None)
    write_summary_html(results, ctx.report_dir / "summary.html", sds)


def _junit(results: RunResults, ctx: WriteContext) -> None:
    from harness.report.junit import write_junit

    write_junit(results, ctx.report_dir / "junit.xml")


def _allure(results: RunResults, ctx: WriteContext) -> None:
    from harness.report.allure_files import write_allure

    if ctx.allure_dir is not None:
        evidence = scrubbed(ctx.evidence or {}, ctx.secrets, ctx.pseudonymizer, free_text=True)
        write_allure(results, ctx.allure_dir, ctx.secrets, evidence)


WRITERS: tuple[tuple[str, Callable[[RunResults, WriteContext], None]], ...] = (
    ("summary.json", _summary_json),
    ("summary.md", _summary_md),
    ("summary.html", _summary_html),
    ("junit.xml", _junit),
    ("allure-results", _allure),
)


def write_all(results: RunResults, ctx: WriteContext) -> tuple[RunResults, list[str]]:
    """Scrub the results, run every writer; return the scrubbed results and any writer's error."""
    known = len(ctx.secrets)
    clean = scrubbed(results, ctx.secrets, ctx.pseudonymizer)
    if len(ctx.secrets) != known:  # a secret learnt on the way: what was copied before may still hold it
        clean = scrubbed(clean, ctx.secrets)
    errors = []
    for name, writer in WRITERS:
        try:
            writer(clean, ctx)
        except OSError as exc:
            errors.append(f"{name}: {exc.strerror or exc}")
    return clean, errors
