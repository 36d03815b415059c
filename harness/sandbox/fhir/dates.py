"""Date search as FHIR R4 defines it (search.html#date, #prefix): every date is a range.

A value's precision gives its range: ``2024`` is the whole year, ``2024-01-08`` the whole day,
``2024-01-08T15:00`` the whole minute, ``2024-01-08T15:00:00Z`` the whole second (a fraction, that
fraction). A Period runs from the start of its start's range to the end of its end's; a Period
without an end is ongoing, one without a start began at no known time. A value without a time
zone is the server's local time, which for the sandbox is UTC.

A prefix compares the search value's range S with the target's range T::

    eq  S contains T               ne  S does not contain T
    gt  T reaches above S          lt  T reaches below S
    ge  gt, or S contains T        le  lt, or S contains T
    sa  T starts after S ends      eb  T ends before S starts
    ap  T overlaps S widened by a tenth of the time between S and now

No prefix means ``eq``. Times are microseconds since 0001-01-01 UTC (open ends are infinite).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
#: The sandbox's local time zone: values without one are read as UTC.
LOCAL_OFFSET = timedelta(0)
INFINITY = float("inf")

_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)
_VALUE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$")

Range = tuple[float, float]  # [low, high) in microseconds


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def date_range(text: str) -> Range | None:
    """The range of a FHIR date, dateTime or instant, or None when ``text`` is none (or names a
    day or time that does not exist)."""
    found = _VALUE.match(text.strip()) if isinstance(text, str) else None
    if not found:
        return None
    g = found.groupdict()
    zone = g["zone"]
    if zone is None:
        tz = timezone(LOCAL_OFFSET)
    elif zone == "Z":
        tz = timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        if int(zone[1:3]) > 14 or int(zone[4:6]) > 59:
            return None
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    year, month, day = int(g["year"]), int(g["month"] or 1), int(g["day"] or 1)
    try:
        start = datetime(year, month, day, int(g["hour"] or 0), int(g["minute"] or 0), int(g["second"] or 0),
                         tzinfo=tz)
    except ValueError:
        return None
    if g["fraction"]:
        start += timedelta(microseconds=int(g["fraction"][:6].ljust(6, "0")))
    low = _micros(start)
    if g["hour"] is not None:
        if g["second"] is None:
            return low, low + 60_000_000
        if g["fraction"]:
            return low, low + max(1, 10 ** (6 - min(6, len(g["fraction"]))))
        return low, low + 1_000_000
    if g["day"]:
        return low, low + 86_400_000_000
    if g["month"]:
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
        return low, _micros(following)
    following = datetime(year + 1, 1, 1, tzinfo=tz) if year < 9999 else start + timedelta(days=365)
    return low, _micros(following)


def target_range(node: Any) -> Range | None:
    """The range of a resource's date, dateTime, instant or Period."""
    if isinstance(node, str):
        return date_range(node)
    if not isinstance(node, dict) or not ("start" in node or "end" in node):
        return None
    start = date_range(node["start"]) if isinstance(node.get("start"), str) else None
    end = date_range(node["end"]) if isinstance(node.get("end"), str) else None
    if start is None and end is None:
        return None
    low = start[0] if start else -INFINITY
    high = end[1] if end else INFINITY
    return low, max(high, start[1]) if start else high


def split_prefix(value: str) -> tuple[str, str]:
    """(prefix, date) of a search value; no prefix is ``eq``."""
    return (value[:2], value[2:]) if value[:2] in PREFIXES else ("eq", value)


def prefix_holds(prefix: str, wanted: Range, have: Range, now: float | None = None) -> bool:
    """Does a target of range ``have`` match search range ``wanted`` under ``prefix``?"""
    s_low, s_high = wanted
    t_low, t_high = have
    contains = s_low <= t_low and t_high <= s_high
    if prefix == "eq":
        return contains
    if prefix == "ne":
        return not contains
    if prefix == "gt":
        return t_high > s_high
    if prefix == "lt":
        return t_low < s_low
    if prefix == "ge":
        return t_high > s_high or contains
    if prefix == "le":
        return t_low < s_low or contains
    if prefix == "sa":
        return t_low >= s_high
    if prefix == "eb":
        return t_high <= s_low
    if prefix == "ap":
        moment = _micros(datetime.now(timezone.utc)) if now is None else now
        slack = abs(moment - (s_low + s_high) / 2) / 10
        return t_low < s_high + slack and t_high > s_low - slack
    raise ValueError(f"unknown date prefix {prefix!r}")
