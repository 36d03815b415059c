"""Simulated days of a fleet, derived from one real ``fleet.json``: tenants upgrading, going down and
coming back, response times drifting, and TLS facts, so that the history, its queries and its
charts have something to show before a fleet has been watched for weeks.

``python -m harness.history.simulate FLEET_JSON --days 5 --out DIR [--history PATH|URL]`` writes
``DIR/day-1/fleet.json`` ... and records them. What changes is decided by a seed:

- the newest release in the fleet carries a release profile: its tenants stop declaring one requested
  API every older tenant declares (the *dropped* API) and declare one that some tenants lacked (the
  *added* API), on every day, so that an upgrade to it is visible and forecastable;
- each day after the first, about one tenant in twelve of those answering on an older release moves
  to the next newer release seen in the fleet (its software.version, release and shape change);
- each day after the first, two answering tenants stop answering (503 or a timeout) and come back
  one or two days later;
- response times vary by up to a third from day to day, and one tenant gets slower every day;
- TLS facts in the fleet's own shape (``tls.host``, ``version``, ``tls1_0``, ``tls1_1``, ``certificate``)
  for every answering tenant, whatever its scheme: TLS 1.2 or 1.3 negotiated, a few tenants still accept
  TLS 1.0/1.1 (one stops accepting TLS 1.0 on day 3), and one certificate expires within 30 days of the
  last day.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.fleet.release import parse_release
from harness.history.extract import ACCEPTED, EXPIRY_WARNING_DAYS, REFUSED


@dataclass(frozen=True)
class Profile:
    """What the newest release changes, in the simulation."""

    release: str
    release_sort: tuple[int, int]
    dropped: str | None
    added: str | None


def _answering(t: dict[str, Any]) -> bool:
    return t.get("status") in ("ok", "partial") and (t.get("metadata") or {}).get("outcome") == "ok"


def release_profile(fleet: dict[str, Any]) -> Profile | None:
    """The newest release of the fleet, the requested API its tenants drop and the one they add."""
    tenants = [t for t in fleet["tenants"] if _answering(t) and t.get("release_sort")]
    if not tenants:
        return None
    newest = max(tenants, key=lambda t: tuple(t["release_sort"]))
    r4 = sorted(a["name"] for a in fleet["apis"]["requested"] if a.get("fhir") and a.get("version") == "R4")
    on_r4 = [t for t in tenants if t.get("fhir_release") == "R4" and t.get("coverage")]
    not_declared = set().union(*[set(t["coverage"]["missing"]) | set(t["coverage"]["unknown"]) for t in on_r4]) \
        if on_r4 else set()
    dropped = next((a for a in r4 if a not in not_declared and ".Read" in a), None)
    missing = sorted(set().union(*[set(t["coverage"]["missing"]) for t in on_r4])) if on_r4 else []
    return Profile(newest["release"], tuple(newest["release_sort"]), dropped, missing[0] if missing else None)


def _apply_profile(t: dict[str, Any], profile: Profile | None) -> None:
    cov = t.get("coverage")
    if not profile or not cov or tuple(t.get("release_sort") or ()) != profile.release_sort \
            or t.get("fhir_release") != "R4":
        return
    missing = set(cov["missing"])
    if profile.dropped and profile.dropped not in missing:
        missing.add(profile.dropped)
        cov["declared"] -= 1
    if profile.added and profile.added in missing:
        missing.discard(profile.added)
        cov["declared"] += 1
    cov["missing"] = sorted(missing)
    cov["full"] = not missing


def _upgrade(t: dict[str, Any], release: tuple[int, int]) -> None:
    label = str(parse_release(f"{_MONTHS[release[1] - 1]} {release[0]}"))
    t["software"] = {**(t.get("software") or {}), "version": label}
    t["release"], t["release_sort"] = label, list(release)
    if t.get("fingerprint"):
        t["fingerprint"] = "sha256:" + hashlib.sha256((t["fingerprint"] + label).encode()).hexdigest()


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _down(t: dict[str, Any], rng: random.Random) -> None:
    outcome = rng.choice(["http-5xx", "timeout"])
    for doc in ("metadata", "smart_configuration"):
        t[doc] = {**t[doc], "outcome": outcome, "http_status": 503 if outcome == "http-5xx" else None,
                  "detail": "HTTP 503" if outcome == "http-5xx" else "no answer within 10 s",
                  "elapsed_s": 0.08 if outcome == "http-5xx" else 10.0}
    t.update(status="failed", answered=False, failure=outcome, software=None, release=None, release_sort=None,
             fhir_version=None, fhir_release=None, coverage=None, readiness=None, fingerprint=None,
             resource_count=None, supported_profiles=None)
    t.pop("tls", None)


_ISSUERS = ("CN=Simulated Issuing CA 1, O=Simulated Trust", "CN=Simulated Issuing CA 2, O=Simulated Trust")


def _host(url: object) -> str | None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or not parts.hostname:
        return None
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _tls_facts(facts: dict[str, Any], tls1_0: str, today: datetime) -> dict[str, Any]:
    """A ``tls`` object as the fleet writes it (``harness.tls``), for ``today``."""
    expiry: datetime = facts["expiry"]
    left = int((expiry - today).total_seconds() // 86400)
    host = facts["host"]
    return {"host": host, "version": facts["version"], "tls1_0": tls1_0, "tls1_1": facts["tls1_1"],
            "certificate": {"issuer": facts["issuer"],
                            "subject": f"CN={host.rsplit(':', 1)[0]}" if host else None,
                            "not_after": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"), "days_left": left,
                            "expires_soon": left < EXPIRY_WARNING_DAYS}}


def _stats(day: dict[str, Any]) -> None:
    tenants = day["tenants"]
    by_status: dict[str, int] = {}
    by_release: dict[str, int] = {}
    for t in tenants:
        by_status[t["status"]] = by_status.get(t["status"], 0) + 1
        if t.get("release"):
            by_release[t["release"]] = by_release.get(t["release"], 0) + 1
    stats = day.setdefault("stats", {})
    stats.update(tenants=len(tenants), answered=sum(1 for t in tenants if t.get("answered")), by_status=by_status,
                 by_release=dict(sorted(by_release.items(), key=lambda kv: -kv[1])),
                 ready=sum(1 for t in tenants if (t.get("readiness") or {}).get("ready") is True),
                 full_coverage=sum(1 for t in tenants if (t.get("coverage") or {}).get("full")))


def simulate_days(fleet: dict[str, Any], days: int = 5, *, seed: int = 1, start: datetime | None = None,
                  with_tls: bool = True) -> list[dict[str, Any]]:
    """``days`` fleet runs, one a day at 06:00 UTC from ``start`` (default: ``days`` days before today):
    day 1 is ``fleet`` with the release profile applied, each later day derived from the one before."""
    if days < 1:
        raise ValueError("days must be at least 1")
    rng = random.Random(seed)
    start = start or (datetime.now(timezone.utc) - timedelta(days=days)).replace(hour=6, minute=0, second=0,
                                                                                   microsecond=0)
    profile = release_profile(fleet)
    releases = sorted({tuple(t["release_sort"]) for t in fleet["tenants"] if _answering(t) and t.get("release_sort")
                       and t["release_sort"][1]})
    base = {t["key"]: copy.deepcopy(t) for t in fleet["tenants"]}
    for t in base.values():
        _apply_profile(t, profile)
    live = [k for k, t in base.items() if _answering(t)]
    slowing = live[0] if live else None
    tls: dict[str, dict[str, Any]] = {}
    last_day = start + timedelta(days=days - 1)
    for i, key in enumerate(live):
        tls[key] = {"host": _host(base[key].get("url")), "version": "TLSv1.3" if i % 3 else "TLSv1.2",
                    "tls1_0": ACCEPTED if i % 9 == 1 else REFUSED, "tls1_1": ACCEPTED if i % 9 in (1, 2) else REFUSED,
                    "expiry": last_day + timedelta(days=20 if i == 1 else 90 + 7 * i), "issuer": _ISSUERS[i % 2]}
    down_until: dict[str, int] = {}
    kept: dict[str, dict[str, Any]] = {}
    out = []
    current = base
    for day in range(days):
        today = {k: copy.deepcopy(t) for k, t in current.items()}
        if day > 0:
            for key, until in list(down_until.items()):
                if day >= until:
                    today[key] = kept.pop(key)
                    del down_until[key]
            candidates = [k for k, t in today.items() if _answering(t) and t.get("release_sort")
                          and tuple(t["release_sort"]) in releases[:-1] and k not in down_until]
            for key in rng.sample(candidates, min(len(candidates), max(1, len(live) // 12))):
                t = today[key]
                _upgrade(t, releases[releases.index(tuple(t["release_sort"])) + 1])
                _apply_profile(t, profile)
            up = [k for k, t in today.items() if _answering(t) and k not in down_until and k != slowing]
            for key in rng.sample(up, min(2, len(up))):
                kept[key] = copy.deepcopy(today[key])
                down_until[key] = day + rng.choice([1, 2])
                _down(today[key], rng)
        for key, t in today.items():
            factor = 1.35 ** day if key == slowing else rng.uniform(0.75, 1.3)
            for doc in ("metadata", "smart_configuration"):
                if t[doc].get("outcome") == "ok" and t[doc].get("elapsed_s") is not None:
                    t[doc]["elapsed_s"] = round(base[key][doc]["elapsed_s"] * factor, 4)
            if with_tls and key in tls and _answering(t):
                facts = tls[key]
                legacy_1_0 = REFUSED if day >= 2 and key == live[1] else facts["tls1_0"]
                t["tls"] = _tls_facts(facts, legacy_1_0, start + timedelta(days=day))
        run = copy.deepcopy({k: v for k, v in fleet.items() if k not in ("tenants", "changes", "baseline")})
        run["generated"] = (start + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        run["tenants"] = [today[k] for k in base]
        run["simulated"] = {"day": day + 1, "seed": seed, "profile": profile.__dict__ if profile else None}
        _stats(run)
        out.append(run)
        current = today
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.history.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("fleet_json", help="a fleet.json to start from (e.g. a run over the sandbox fleet)")
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="folder for day-N/fleet.json")
    parser.add_argument("--history", help="also record every day into this history (path or URL)")
    args = parser.parse_args(argv)
    from harness.errors import HarnessError
    from harness.history.record import record_fleet

    try:
        fleet = json.loads(Path(args.fleet_json).read_text("utf-8"))
        runs = simulate_days(fleet, args.days, seed=args.seed)
        for i, run in enumerate(runs, 1):
            folder = Path(args.out) / f"day-{i}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "fleet.json").write_text(json.dumps(run, indent=2, ensure_ascii=False) + "\n", "utf-8")
            if args.history:
                record_fleet(run, history=args.history)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"simulate: {args.fleet_json}: cannot derive days from it ({exc})", file=sys.stderr)
        return 2
    except HarnessError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    print(f"{len(runs)} simulated days in {args.out}" + (f", recorded into {args.history}" if args.history else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
