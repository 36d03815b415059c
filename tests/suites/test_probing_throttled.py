"""probe.search (suites/test_probing.py) judged in process on a tenant that throttles: a 429 while probing is
waited out as the tenant asks, never a finding."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import tenant_variant
from tests.support.checks import judge, tenant_state

ENCOUNTER = "Encounter.Search (Patient Chart) (R4)"


def test_throttling_during_probing_is_never_a_finding(tmp_path: Path) -> None:
    tenant = tenant_variant(tmp_path, replace={"[probing]\nexamples = 5": "[probing]\nexamples = 6\nseed = 7"})
    waits: list[float] = []  # Retry-After honoured, without the seconds passing
    with tenant_state("transport-429-every:Encounter=3", tenant_file=tenant, sleep=waits.append) as state:
        probe = judge(state, "probe.search", api=ENCOUNTER)
        throttled = state.client.throttled
    assert probe.outcome in ("passed", "warning"), probe
    assert throttled > 0 and waits == [1.0] * throttled  # the tenant did throttle, and was waited for as it asked
    assert any("6 example(s) sent of 6" in n for n in probe.result.notes), probe.result.notes
