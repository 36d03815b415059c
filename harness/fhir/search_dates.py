"""FHIR R4's date search semantics: a value's implicit range, Period and instant, prefixes, and time zones.

Every date is a range: ``2024-01-08`` is the whole day, ``2024-01-08T15:00:00Z`` the whole second,
a Period runs from its start's range to its end's (search.html#date). A prefix compares the
search value's range S with the target's range T (search.html#prefix)::

    eq  S fully contains T             gt  T reaches above S (T ends after S ends)
    ge  gt, or S fully contains T      lt  T reaches below S (T starts before S starts)
    le  lt, or S fully contains T      ne  not eq

Three things a client cannot know are kept open rather than guessed:

- servers read the prefixes differently at the edges: besides the letter of R4 above, many read
  ``eq`` as "the ranges overlap", ``ge``/``le`` as "T reaches S or beyond", ``gt``/``lt`` as "T lies
  wholly after/before S"; both readings are tried;
- a value without a time zone is in the server's local time, which may be any offset from
  UTC-12:00 to UTC+14:00 (Epic: "Local server time is assumed if time zone information is not
  included"); when only one side has a zone, every offset is tried;
- a Period without an end is either ongoing (FHIR) or read as its start alone (servers differ);
  both readings are tried, likewise for a Period without a start.

:func:`certainly` holds when the prefix matches under every reading, offset and Period reading (so a correct
server must return the resource), :func:`possibly` when it matches under at least one (so a correct
server may return it). Times are integers: microseconds since 0001-01-01 (naive values as if UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

__all__ = ["PREFIXES", "DateRange", "SearchDate", "certainly", "parse_date", "possibly", "search_value",
           "target_ranges"]

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
INF = float("inf")
_US = 1_000_000
_HOUR = 3600 * _US
# A zoneless value is local time at some offset from -12:00 to +14:00: as UTC it lies 14 h earlier to 12 h later.
_LOCAL_SHIFT = (-14 * _HOUR, 12 * _HOUR)
_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)
_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?(?P<z>Z|[+-]\d{2}:\d{2})?)?)?)?$")


@dataclass(frozen=True)
class DateRange:
    """[low, high) in microseconds; ``zoned`` when the value carried a time zone (or none was needed)."""

    low: float
    high: float
    zoned: bool


@dataclass(frozen=True)
class SearchDate:
    """A parsed date search value: its prefix, its text as sent, and its range."""

    prefix: str
    text: str
    range: DateRange

    @property
    def query(self) -> str:
        return f"{self.prefix}{self.text}"


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


def parse_date(text: str) -> DateRange | None:
    """The range of a FHIR date, dateTime or instant (``YYYY[-MM[-DD[Thh:mm[:ss[.f]][zone]]]]``), or None."""
    found = _DATE.match(text.strip()) if isinstance(text, str) else None
    if not found:
        return None
    g = found.groupdict()
    try:
        year, month, day = int(g["y"]), int(g["m"] or 1), int(g["d"] or 1)
        start = datetime(year, month, day, int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0),
                         tzinfo=timezone.utc)
    except ValueError:
        return None
    if g["f"]:
        start += timedelta(microseconds=int(g["f"][:6].ljust(6, "0")))
    if g["H"] is None:
        if g["d"]:
            end = start + timedelta(days=1)
        elif g["m"]:
            end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc)
        else:
            end = datetime(year + 1, 1, 1, tzinfo=timezone.utc) if year < 9999 else start + timedelta(days=365)
    elif g["S"] is None:
        end = start + timedelta(minutes=1)
    elif g["f"]:
        end = start + timedelta(microseconds=max(1, 10 ** (6 - min(len(g["f"]), 6))))
    else:
        end = start + timedelta(seconds=1)
    offset = 0
    zone = g["z"]
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60) * _US
    return DateRange(_micros(start) - offset, _micros(end) - offset, zoned=bool(zone))


def search_value(query: str) -> SearchDate | None:
    """``ge2024-01-08T15:00:00Z`` as prefix, value and range; no prefix means ``eq``."""
    prefix = query[:2] if query[:2] in PREFIXES else "eq"
    text = query[2:] if query[:2] in PREFIXES else query
    found = parse_date(text)
    return SearchDate(prefix, text, found) if found else None


def target_ranges(kind: str | None, data: Any) -> list[DateRange]:
    """The readings of one target value: a date/dateTime/instant string or a Period (two readings when open)."""
    if isinstance(data, str):
        found = parse_date(data)
        return [found] if found else []
    if isinstance(data, dict) and (kind in (None, "Period")) and ("start" in data or "end" in data):
        start = parse_date(data["start"]) if isinstance(data.get("start"), str) else None
        end = parse_date(data["end"]) if isinstance(data.get("end"), str) else None
        if start is None and end is None:
            return []
        zoned = (start or end).zoned  # type: ignore[union-attr]
        if start is not None and end is not None:
            return [DateRange(start.low, max(end.high, start.high), zoned)]
        if start is not None:
            return [DateRange(start.low, INF, zoned), start]
        assert end is not None
        return [DateRange(-INF, end.high, zoned), end]
    return []


READINGS = ("r4", "overlap")


def _holds(prefix: str, s: DateRange, t: DateRange, shift: float, reading: str) -> bool:
    """One reading of one prefix: ``r4`` is search.html#prefix to the letter; ``overlap`` is how many servers read
    it (eq: the ranges overlap; ge/le: T reaches S's range or beyond it; gt/lt: T lies wholly after/before S)."""
    s_low, s_high = s.low + shift, s.high + shift
    if reading == "overlap":
        overlaps = t.low < s_high and t.high > s_low
        table = {"eq": overlaps, "ap": overlaps, "ne": not overlaps, "gt": t.low >= s_high, "sa": t.low >= s_high,
                 "lt": t.high <= s_low, "eb": t.high <= s_low, "ge": t.high > s_low, "le": t.low < s_high}
    else:
        contains = s_low <= t.low and t.high <= s_high
        table = {"eq": contains, "ap": contains, "ne": not contains, "gt": t.high > s_high, "sa": t.high > s_high,
                 "lt": t.low < s_low, "eb": t.low < s_low, "ge": t.high > s_high or contains,
                 "le": t.low < s_low or contains}
    if prefix not in table:
        raise ValueError(f"unknown date prefix {prefix!r}")
    return table[prefix]


def _shifts(s: DateRange, t: DateRange) -> list[float]:
    """The offsets of S against T worth trying: none when both sides have zones (or neither has)."""
    if s.zoned == t.zoned:
        return [0.0]
    low, high = _LOCAL_SHIFT if not s.zoned else (-_LOCAL_SHIFT[1], -_LOCAL_SHIFT[0])
    points = {float(low), float(high)}
    for critical in (t.high - s.high, t.low - s.low, t.low - s.high, t.high - s.low):  # where _holds may flip
        for p in (critical - 1, critical, critical + 1):
            if low <= p <= high:
                points.add(p)
    return sorted(points)


def _answers(prefix: str, s: DateRange, readings: Iterable[DateRange]) -> list[bool]:
    return [_holds(prefix, s, t, shift, how) for t in readings for shift in _shifts(s, t) for how in READINGS]


def certainly(search: SearchDate, readings: list[DateRange]) -> bool:
    """The prefix matches this target value whatever the server's time zone and reading of an open Period."""
    answers = _answers(search.prefix, search.range, readings)
    return bool(answers) and all(answers)


def possibly(search: SearchDate, readings: list[DateRange]) -> bool:
    """The prefix matches this target value under at least one time zone and reading."""
    return any(_answers(search.prefix, search.range, readings))
