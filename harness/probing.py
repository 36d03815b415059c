"""Property-based probing of a tenant's search APIs: hypothesis strategies built from the
CapabilityStatement's search parameters, valid, boundary and invalid."""

from __future__ import annotations

import shlex
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st


def _draw_from_own_strategies_only() -> None:
    """Hypothesis mixes into its draws string and number constants harvested from the source of every
    "local" module loaded (an editable install makes the whole harness local): the queries a probe sends
    would then depend on which modules a run happened to import, and a recording would not replay (and
    the scan costs ~200 MB on first use). The probes draw from their own strategies only."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis without constant harvesting
        return
    if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants"):
        empty = providers.Constants()
        providers._get_local_constants = lambda: empty  # type: ignore[attr-defined]


_draw_from_own_strategies_only()

# Values of each FHIR search parameter type that a tenant must accept.
_DIGITS = st.integers(min_value=1900, max_value=2030)
VALID: dict[str, st.SearchStrategy[str]] = {
    "date": st.one_of(
        _DIGITS.map(str),
        st.builds(lambda y, m, d: f"{y}-{m:02d}-{d:02d}", _DIGITS, st.integers(1, 12), st.integers(1, 28)),
        st.builds(lambda p, y, m: f"{p}{y}-{m:02d}-01", st.sampled_from(["ge", "le", "gt", "lt", "eq"]), _DIGITS,
                  st.integers(1, 12)),
        st.builds(lambda y, tz: f"{y}-06-15T10:30:00{tz}", _DIGITS, st.sampled_from(["Z", "+02:00", "-05:00"])),
    ),
    "token": st.one_of(
        st.text(string.ascii_letters + string.digits + "-.", min_size=1, max_size=20),
        st.builds(lambda s, c: f"{s}|{c}", st.sampled_from(["http://loinc.org", "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369",
                                                            "http://hl7.org/fhir/sid/us-npi"]),
                  st.text(string.digits, min_size=1, max_size=10)),
    ),
    "string": st.text(string.ascii_letters + " '-", min_size=1, max_size=30).filter(lambda s: s.strip() != ""),
    "reference": st.text(string.ascii_letters + string.digits + ".-", min_size=1, max_size=30),
    "number": st.integers(min_value=0, max_value=1000).map(str),
    "uri": st.just("http://example.org/x"),
    "quantity": st.integers(min_value=0, max_value=500).map(str),
}
# Values no tenant should accept as a date: it must refuse them with a 4xx, never a 5xx.
MALFORMED = st.one_of(
    st.sampled_from(["2026-13-45", "06/03/1973", "yesterday", "2026-02-30T25:61:00Z", "ge", "99999-01-01"]),
    st.sampled_from(["' OR '1'='1", "<script>alert(1)</script>", "../../etc/passwd", "%00", "${jndi:ldap://x}"]),
    st.text(min_size=300, max_size=600),
)
UNKNOWN_PARAM = st.sampled_from(["harness-unknown", "colour", "_harness_probe"])


@dataclass(frozen=True)
class ProbeCase:
    params: tuple[tuple[str, str], ...]
    kind: str  # "valid", "malformed" or "unknown-parameter"
    target: str = ""  # the parameter this case is about

    def query(self) -> dict[str, str]:
        return dict(self.params)


def search_parameters(capability: dict[str, Any] | None, resource: str) -> dict[str, str]:
    """name -> type of a resource's search parameters (without _count and other controls)."""
    for rest in (capability or {}).get("rest") or []:
        for res in rest.get("resource") or []:
            if res.get("type") == resource:
                return {p["name"]: p.get("type", "string") for p in res.get("searchParam") or []
                        if isinstance(p, dict) and p.get("name") and not p["name"].startswith("_")}
    return {}


def cases(params: dict[str, str], base: dict[str, str]) -> st.SearchStrategy[ProbeCase]:
    """A query built on the probe's own base query (so the tenant's required parameters stay)."""
    named = sorted(params)

    def with_value(kind: str, value_for: Any) -> st.SearchStrategy[ProbeCase]:
        return st.sampled_from(named).flatmap(
            lambda name: value_for(params[name]).map(
                lambda value: ProbeCase(tuple(sorted({**base, name: value}.items())), kind, name)))

    strategies = [st.builds(lambda p, v: ProbeCase(tuple(sorted({**base, p: v}.items())), "unknown-parameter", p),
                            UNKNOWN_PARAM, VALID["token"])]
    if named:
        strategies.append(with_value("valid", lambda t: VALID.get(t, VALID["string"])))
        dates = [n for n in named if params[n] == "date"]
        strategies.append((st.sampled_from(dates) if dates else st.sampled_from(named)).flatmap(
            lambda name: MALFORMED.map(lambda value: ProbeCase(tuple(sorted({**base, name: value}.items())),
                                                               "malformed", name))))
    return st.one_of(strategies)


def curl(url: str, case: ProbeCase) -> str:
    """A copy-paste reproduction: ``$TOKEN`` is expanded by the shell from the user's own variable (never the real token)."""
    return (f"curl -H 'Accept: application/fhir+json' -H \"Authorization: Bearer $TOKEN\" "
            f"{shlex.quote(url + '?' + urlencode(case.params))}")
