"""Does a resource satisfy one search parameter? Token, reference, string, uri and date, by the parameter's FHIRPath.

A :class:`Criterion` is one parameter and its value (``category=http://x|infection``), read with the
R4 definition of the parameter (``search_parameters``): its expression selects the values of a
resource (``expressions``), and the parameter's type says how a value matches. Each criterion
answers two questions about a resource, because a client cannot always know how the server reads
a value:

- :meth:`Criterion.possible`: may a correct server return it? Lenient: codes compared without
  case, a code without a system accepted for ``system|code``, a string matching the start of any
  word, any time zone for a date without one.
- :meth:`Criterion.certain`: must a correct server return it? Strict: exact system and code, a
  date that matches however the server reads it.

Both answer None when the resource cannot be judged (no definition, an expression fhirpathpy cannot
evaluate on it, a type such as quantity or composite).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterator

from harness.fhir.expressions import ExpressionError, Value, evaluate, reference_key
from harness.fhir.search_dates import SearchDate, certainly, possibly, search_value, target_ranges
from harness.fhir.search_parameters import SearchParameter

__all__ = ["JUDGED_TYPES", "Criterion", "Token", "parse_token", "split_or", "tokens_of"]

JUDGED_TYPES = frozenset({"token", "reference", "string", "uri", "date"})
_WORD = re.compile(r"[\w']+", re.UNICODE)


@dataclass(frozen=True)
class Token:
    """A token search value: ``system|code``, ``|code`` (system ""), ``code`` (system None), ``system|``."""

    system: str | None
    code: str | None

    @property
    def text(self) -> str:
        if self.system is None:
            return self.code or ""
        return f"{self.system}|{self.code or ''}"


def split_or(value: str) -> list[str]:
    """The alternatives of ``a,b`` (a comma escaped with a backslash does not split)."""
    parts, current, escaped = [], [], False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p != ""]


def parse_token(text: str) -> Token:
    if "|" not in text:
        return Token(None, text)
    system, _, code = text.partition("|")
    return Token(system, code or None)


def tokens_of(value: Value) -> list[tuple[str | None, str]]:
    """The (system, code) pairs a token parameter sees in one value (Coding, CodeableConcept, Identifier...)."""
    data, kind = value.data, value.type
    if isinstance(data, bool):
        return [(None, "true" if data else "false")]
    if isinstance(data, (str, int, float)):
        return [(None, str(data))]
    if not isinstance(data, dict):
        return []
    if kind == "CodeableConcept" or (kind is None and "coding" in data):
        return [pair for coding in data.get("coding") or () if isinstance(coding, dict)
                for pair in tokens_of(Value("Coding", coding))]
    if kind == "ContactPoint":
        return [(None, str(data["value"]))] if data.get("value") is not None else []
    if kind == "Identifier" or (kind is None and "value" in data and "code" not in data):
        return [(data.get("system"), str(data["value"]))] if data.get("value") is not None else []
    if data.get("code") is not None:
        return [(data.get("system"), str(data["code"]))]
    return []


def _token_certain(pairs: list[tuple[str | None, str]], token: Token) -> bool:
    for system, code in pairs:
        if token.code is not None and code != token.code:
            continue
        if token.system is None:
            return True
        if token.system == "":
            if system is None:
                return True
        elif system == token.system:
            return True
    return False


def _token_possible(pairs: list[tuple[str | None, str]], token: Token) -> bool:
    for system, code in pairs:
        if token.code is not None and code.casefold() != token.code.casefold():
            continue
        if token.system is None or system is None or system.casefold() == token.system.casefold():
            return True
        if token.system == "" and system is None:
            return True
    return False


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item)
    elif isinstance(data, dict):
        for key in ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state",
                    "postalCode", "country", "value", "display"):
            if key in data:
                yield from _strings(data[key])


def _string_possible(data: Any, wanted: str) -> bool:
    want = _fold(wanted).strip()
    for text in _strings(data):
        have = _fold(text)
        if have.startswith(want) or any(word.startswith(want) for word in _WORD.findall(have)):
            return True
        if " " in want and want in have:
            return True
    return False


def _reference_matches(data: Any, wanted: str, targets: tuple[str, ...]) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("reference"), str):
        return False
    have = reference_key(data["reference"])
    if have is None:
        return False
    want = reference_key(wanted)
    if want is not None:
        return have == want
    return have[1] == wanted and (not targets or have[0] in targets)


@dataclass(frozen=True)
class Criterion:
    """One parameter with its value, as sent: ``Criterion(spec, "ge2024-01-08")``."""

    spec: SearchParameter
    value: str
    version: str = "R4"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def judged(self) -> bool:
        return self.spec.type in JUDGED_TYPES and bool(self.spec.expression)

    def values(self, resource: dict[str, Any]) -> list[Value] | None:
        """The values the parameter's expression selects in ``resource``; None when it cannot be evaluated."""
        if not self.judged:
            return None
        try:
            return evaluate(resource, str(self.spec.expression), self.version)
        except ExpressionError:
            return None

    def _alternatives(self) -> list[str]:
        return split_or(self.value) or [self.value]

    def _dates(self) -> list[SearchDate] | None:
        found = [search_value(v) for v in self._alternatives()]
        return None if any(d is None for d in found) else [d for d in found if d is not None]

    def _matches(self, resource: dict[str, Any], strict: bool) -> bool | None:
        values = self.values(resource)
        if values is None:
            return None
        kind = self.spec.type
        if kind == "token" and self.spec.name == "_id":
            return any(str(resource.get("id")) == v for v in self._alternatives())
        if kind == "token":
            pairs = [pair for value in values for pair in tokens_of(value)]
            test = _token_certain if strict else _token_possible
            return any(test(pairs, parse_token(alt)) for alt in self._alternatives())
        if kind == "reference":
            return any(_reference_matches(value.data, alt, self.spec.targets)
                       for value in values for alt in self._alternatives())
        if kind == "string":
            if strict:
                return None  # a server's string matching is its own; only "may it match" is judged
            return any(_string_possible(value.data, alt) for value in values for alt in self._alternatives())
        if kind == "uri":
            wanted = {alt.split("|", 1)[0].rstrip("/") for alt in self._alternatives()}
            return any(isinstance(value.data, str) and value.data.split("|", 1)[0].rstrip("/") in wanted
                       for value in values)
        if kind == "date":
            searches = self._dates()
            if searches is None:
                return None
            test = certainly if strict else possibly
            return any(test(search, readings) for value in values
                       if (readings := target_ranges(value.type, value.data)) for search in searches)
        return None

    def possible(self, resource: dict[str, Any]) -> bool | None:
        """May a correct server return ``resource`` for this criterion?"""
        return self._matches(resource, strict=False)

    def certain(self, resource: dict[str, Any]) -> bool | None:
        """Must a correct server return ``resource`` for this criterion (when it returns it without the criterion)?"""
        return self._matches(resource, strict=True)
