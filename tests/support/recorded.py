"""Record and replay in process: checks judged through vcrpy as a record or replay run judges them.

``recorded_state("record", folder)`` gives a run's state whose client talks to the sandbox (with some
faults, or any ASGI app) in process, through an ``httpx.MockTransport`` that vcrpy records;
``recorded_state("replay", folder)`` one whose every answer comes from the cassettes, the transport
under them refusing and counting whatever would have been sent (:class:`Offline`). As in a run, the
preflight (discovery, the token and the token probes' control) is in ``_session.yaml`` and each
check judged with :func:`judge_recorded` in a cassette of its own, with the cassette set-up, scrubbing
and matching of ``harness.cassettes``; only the plugin, the reports and the network are left out.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

import httpx

from harness.cassettes import SESSION_CASSETTE, cassette_name, make_vcr
from harness.run.state import RunState
from tests.support.checks import AppTransport, Judged, judge, sandbox_app, tenant_state

Mode = Literal["record", "replay"]


@dataclass
class Offline:
    """The transport under a replay: nothing may reach it; what would have been sent is kept in ``sent``."""

    sent: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url}")
        return httpx.Response(404, text="a replay sent a request past its cassettes")  # a 4xx: never retried


class _Answering:
    """The app's answers as an ``httpx.MockTransport`` handler (the transport vcrpy records), each a fresh
    response holding its decoded body, so that vcrpy reads the body the client reads."""

    def __init__(self, served: AppTransport) -> None:
        self.served = served

    def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.served.handle_request(request)
        headers = [(k, v) for k, v in answer.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length")]
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)


@contextmanager
def recorded_state(mode: Mode, cassette_dir: Path, *faults: str, app: Any = None, offline: Offline | None = None,
                   **state: Any) -> Iterator[RunState]:
    """A run's state recording into ``cassette_dir`` (from the sandbox with ``faults``, or ``app``) or replaying
    from it (with nothing served: ``offline`` counts what would have been sent); its preflight is done, in
    the session cassette. ``state`` goes to :func:`tests.support.checks.tenant_state`."""
    with ExitStack() as stack:
        if mode == "record":
            served = AppTransport(app if app is not None else sandbox_app(*faults))
            stack.callback(served.close)
            handler: Any = _Answering(served)
        else:
            handler = offline if offline is not None else Offline()
        run = stack.enter_context(tenant_state(handler=handler, mode=mode, cassette_dir=cassette_dir, **state))
        for secret in run.tenant.cassettes.secrets:  # as the plugin does
            run.secrets.add(secret)
        run.vcr = make_vcr(mode, run.secrets, run.client.pseudonymizer)
        with run.vcr.use_cassette(str(cassette_dir / SESSION_CASSETTE)):
            run.run_preflight()
            run.token_control()
        yield run


def _label(value: Any) -> str:
    for name in ("id", "name"):
        if isinstance(getattr(value, name, None), str):
            return str(getattr(value, name))
    return str(value)


def judge_recorded(state: RunState, check_id: str, *, api: Any = None, **params: Any) -> Judged:
    """One check judged inside its own cassette (named from the check and its parameters, as a run names it
    from the test's node id)."""
    labels = [_label(v) for v in ([api] if api is not None else []) + [params[k] for k in sorted(params)]]
    nodeid = f"suites/test_unit.py::{check_id}" + (f"[{'-'.join(labels)}]" if labels else "")
    assert state.vcr is not None and state.cassette_dir is not None, "not a recorded_state"
    with state.vcr.use_cassette(str(state.cassette_dir / cassette_name(nodeid))):
        return judge(state, check_id, api=api, **params)


def cassette_text(folder: Path) -> dict[str, str]:
    """Every cassette in ``folder``, by path."""
    return {str(p): p.read_text("utf-8") for p in sorted(folder.rglob("*.yaml"))}


def outcomes(judged: Iterable[Judged]) -> dict[str, str]:
    return {j.result.id: j.outcome for j in judged}


def differing(before: Iterable[Judged], after: Iterable[Judged]) -> dict[str, tuple[Judged | None, Judged | None]]:
    """The results whose outcome differs between two runs (or that only one has), each with its message."""
    was, now = {j.result.id: j for j in before}, {j.result.id: j for j in after}
    return {k: (was.get(k), now.get(k)) for k in was.keys() | now.keys()
            if (was[k].outcome if k in was else None) != (now[k].outcome if k in now else None)}
