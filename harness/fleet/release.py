"""Epic releases from a CapabilityStatement's ``software.version``: "May 2026", "toukokuu 2022".

Epic names its quarterly releases by month and year ("February 2026", "November 2025"); tenants
outside the US may localise the month (Apotti in Finland reports ``toukokuu 2022``). Older tenants
report a year alone ("Epic 2018"). The release is never derived from ``software.releaseDate``,
which is when the tenant installed a build, not the release it runs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ENGLISH_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December")

# Month names (diacritics removed, case-folded) in the languages of Epic's customers outside the
# US: English, Finnish (nominative and partitive), Swedish, Danish, Norwegian, Dutch, German,
# French, Spanish, Italian, Portuguese. No spelling means two different months.
_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "tammikuu", "tammikuuta", "januari", "januar", "janvier", "enero", "gennaio", "janeiro"),
    2: ("february", "feb", "helmikuu", "helmikuuta", "februari", "februar", "fevrier", "febrero", "febbraio",
        "fevereiro"),
    3: ("march", "mar", "maaliskuu", "maaliskuuta", "mars", "maart", "marts", "marz", "marzo", "marco"),
    4: ("april", "apr", "huhtikuu", "huhtikuuta", "avril", "abril", "aprile"),
    5: ("may", "toukokuu", "toukokuuta", "maj", "mai", "mei", "mayo", "maggio", "maio"),
    6: ("june", "jun", "kesakuu", "kesakuuta", "juni", "juin", "junio", "giugno", "junho"),
    7: ("july", "jul", "heinakuu", "heinakuuta", "juli", "juillet", "julio", "luglio", "julho"),
    8: ("august", "aug", "elokuu", "elokuuta", "augusti", "augustus", "aout", "agosto"),
    9: ("september", "sep", "sept", "syyskuu", "syyskuuta", "septembre", "septiembre", "settembre", "setembro"),
    10: ("october", "oct", "lokakuu", "lokakuuta", "oktober", "octobre", "octubre", "ottobre", "outubro"),
    11: ("november", "nov", "marraskuu", "marraskuuta", "novembre", "noviembre", "novembro"),
    12: ("december", "dec", "joulukuu", "joulukuuta", "desember", "dezember", "decembre", "diciembre",
         "dicembre", "dezembro"),
}
MONTHS: dict[str, int] = {name: month for month, names in _MONTH_NAMES.items() for name in names}

_WORD_YEAR = re.compile(r"^(?:epic\s+)?([^\W\d_]+)\.?\s*,?\s+(\d{4})$")
_YEAR_WORD = re.compile(r"^(?:epic\s+)?(\d{4})\s*,?\s+([^\W\d_]+)\.?$")
_YEAR_ONLY = re.compile(r"^(?:epic\s+)?(\d{4})$")


@dataclass(frozen=True, order=True)
class Release:
    """An Epic release, sortable: (year, month); month 0 when the version names a year only."""

    year: int
    month: int

    @property
    def label(self) -> str:
        if self.month == 0:
            return str(self.year)
        return f"{ENGLISH_MONTHS[self.month - 1]} {self.year}"

    def as_list(self) -> list[int]:
        return [self.year, self.month]

    def __str__(self) -> str:
        return self.label


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def parse_release(version: object) -> Release | None:
    """The release a ``software.version`` names, or None when it names none we can read."""
    if not isinstance(version, str):
        return None
    text = _fold(version)
    only = _YEAR_ONLY.match(text)
    if only:
        year_only = int(only.group(1))
        return Release(year_only, 0) if 1979 <= year_only <= 2100 else None
    match = _WORD_YEAR.match(text)
    if match:
        month_word, year = match.group(1), match.group(2)
    else:
        match = _YEAR_WORD.match(text)
        if match:
            year, month_word = match.group(1), match.group(2)
        else:
            return None
    month = MONTHS.get(month_word)
    if month is None or not 1979 <= int(year) <= 2100:
        return None
    return Release(int(year), month)
