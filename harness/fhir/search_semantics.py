"""Search semantics: do the resources a search returns satisfy the parameters sent?

Every rule starts from the base search (the probe search of an API, every page followed) and, where
it needs one, sends a few variants of it whose values come from what the tenant already answered
(a date, a code, an identifier found in the base entries), so that a correct tenant is never asked
something it cannot answer. What a parameter means is the FHIR R4 definition
(``search_parameters``), judged by ``search_matching``. Requests per API, at most: patient
restriction 1, ignored parameters 1 per narrowing parameter of the probe, date prefixes 5 (``gt ge lt
le`` with the value's own time and zone, ``eq`` by the day without a zone), token 1, identifier 1,
category 1, OR list 1 (each 1 more when every base entry carries the value: then a value nothing
matches must find nothing), ``_count`` 1, POST ``_search`` 1 (1 more when the ids differ, to compare
with a fresh GET), each plus its next pages.

Severity follows what a wrong answer does to the app:

- an entry that does not belong to the patient asked for (a parameter that restricts the patient
  ignored or misapplied) is a **failure**: a data-protection problem;
- an entry that does not satisfy a parameter that only narrows is a **warning** naming the
  parameter: the app gets more than it asked for (Epic ignores parameters it does not apply);
- an entry that certainly matches but is missing is a **failure**: the app silently loses data;
- a variant refused for a value of the tenant's own answer is a failure where the specification
  says SHALL (US Core: ``system|code``, ``gt ge lt le`` with seconds and offset, ``_count``, POST
  ``_search``), a warning where it says MAY or SHOULD (``eq``, OR lists).

A rule that cannot decide (no entries to choose a value from, a parameter the tenant does not
declare) says why in ``inconclusive`` (or ``skip`` when the rule does not apply), never passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from harness.client import TenantClient
from harness.errors import AuthError, TenantError
from harness.fhir.expressions import Value, reference_key
from harness.fhir.paging import SearchResult, follow_search
from harness.fhir.search_dates import parse_date, target_ranges
from harness.fhir.search_matching import Criterion, tokens_of
from harness.fhir.search_parameters import SearchParameter, SearchParameterTable, r4_table

__all__ = [
    "CONTROL_PARAMS", "NO_SUCH_CODE", "NO_SUCH_ID", "NO_SUCH_TEXT", "RULES", "Answer", "SearchContext", "Searcher",
    "Verdict", "category", "count", "date_prefixes", "declared_params", "identifier", "ignored_parameters",
    "or_list", "patient_restriction", "post_equivalence", "restricting_params", "token",
]

#: Parameters that shape the answer rather than select resources.
CONTROL_PARAMS = frozenset({"_count", "_format", "_include", "_revinclude", "_summary", "_elements", "_sort",
                            "_total", "_contained", "_containedType", "_pretty"})
#: Values nothing can match: a control search that still returns entries ignores the parameter.
NO_SUCH_ID = "epic-fhir-harness-no-such-id"
NO_SUCH_CODE = "epic-fhir-harness-no-such-code"
NO_SUCH_TEXT = "zzqx-epic-fhir-harness-no-such-value"
SHOWN = 8  # ids listed in a message before "(+N more)"
_OWN_CHECKS = frozenset({"identifier", "category", "_id"})  # token parameters with a rule of their own


@dataclass
class Verdict:
    """What one rule found: failures and warnings (with the offending ids), notes, or why it cannot decide."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inconclusive: str | None = None
    skip: str | None = None
    queries: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures and self.inconclusive is None and self.skip is None


@dataclass
class Answer:
    """A search's answer: every page, or the HTTP status and message of a refusal."""

    query: str
    result: SearchResult | None = None
    status: int | None = None
    error: str | None = None
    first_page_next: bool = False

    @property
    def refused(self) -> bool:
        return self.result is None and self.status is not None and 400 <= self.status < 500

    def resources(self, resource_type: str) -> list[dict[str, Any]]:
        if self.result is None:
            return []
        return [r for r in self.result.resources if r.get("resourceType") == resource_type and r.get("id")]


def _query_text(params: Mapping[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())


class Searcher:
    """Sends the variants of one API's search (GET, POST ``_search``, first page only) through the client."""

    def __init__(self, client: TenantClient, version: str, resource: str) -> None:
        self.client = client
        self.version = version
        self.resource = resource

    def _run(self, method: str, params: dict[str, str], max_pages: int) -> Answer:
        path = f"{self.resource}/_search" if method == "POST" else self.resource
        what = f"{method} {path}" + (f" {_query_text(params)}" if method == "POST" else f"?{_query_text(params)}")
        seen: list[dict[str, Any]] = []
        before = len(self.client.log)
        try:
            result = follow_search(self.client, self.client.url(self.version, path), params=params,
                                   resource_type=self.resource, method=method, max_pages=max_pages,
                                   on_page=seen.append, what=what)
        except AuthError:
            raise  # the token, not the search: the run's token problem, reported as such
        except TenantError as exc:
            sent = self.client.log[before:]
            status = sent[-1].status if sent else None
            return Answer(what, status=status, error=str(exc))
        has_next = any(isinstance(link, dict) and link.get("relation") == "next" and link.get("url")
                       for link in (seen[0].get("link") or [] if seen else []))
        return Answer(what, result=result, status=200, first_page_next=has_next)

    def get(self, params: dict[str, str]) -> Answer:
        return self._run("GET", params, 20)

    def post(self, params: dict[str, str]) -> Answer:
        return self._run("POST", params, 20)

    def first_page(self, params: dict[str, str]) -> Answer:
        return self._run("GET", params, 1)


@dataclass
class SearchContext:
    """One API's base search: what was sent, every entry it answered, and what the tenant declares."""

    version: str
    resource: str
    params: dict[str, str]
    base: SearchResult
    declared: dict[str, str]  # the CapabilityStatement's searchParam for the resource: name -> type
    table: SearchParameterTable = field(default_factory=r4_table)
    # The run's cassettes scrub patient data ([cassettes] scrub_patient_data): names, identifiers and every
    # date but its year are pseudonymized in the recorded answers, so values taken from them would not replay;
    # only codes, ids and references are searched with then.
    pseudonymized: bool = False

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [r for r in self.base.resources if r.get("resourceType") == self.resource and r.get("id")]

    def spec(self, name: str) -> SearchParameter | None:
        return self.table.get(self.resource, name)

    def criterion(self, name: str, value: str) -> Criterion | None:
        spec = self.spec(name)
        return Criterion(spec, value, self.version) if spec is not None else None

    def with_param(self, name: str, value: str) -> dict[str, str]:
        """The probe query with ``name=value`` added or replaced, and without its ``_count``: a variant's pages
        are the tenant's default size, which spares requests (the paging itself is judged elsewhere)."""
        return {**{k: v for k, v in self.params.items() if k not in (name, "_count")}, name: value}


def declared_params(capability: Any, resource: str) -> dict[str, str]:
    """The search parameters a CapabilityStatement (or DSTU2 Conformance) declares for ``resource``."""
    found: dict[str, str] = {}
    if not isinstance(capability, dict):
        return found
    for rest in capability.get("rest") or []:
        for row in (rest.get("resource") or []) if isinstance(rest, dict) else []:
            if isinstance(row, dict) and row.get("type") == resource:
                for param in row.get("searchParam") or []:
                    if isinstance(param, dict) and isinstance(param.get("name"), str):
                        found[param["name"]] = str(param.get("type") or "")
    return found


def restricting_params(resource: str, params: Mapping[str, str], table: SearchParameterTable | None = None
                       ) -> dict[str, str]:
    """The parameters of a query that restrict it to one patient (``patient``, ``subject=Patient/x``, Patient's
    ``_id``)."""
    table = table or r4_table()
    found = {}
    for name, value in params.items():
        if name in CONTROL_PARAMS:
            continue
        if resource == "Patient" and name in ("_id", "identifier"):
            found[name] = value
            continue
        spec = table.get(resource, name)
        if spec is None or not spec.references_patient:
            continue
        key = reference_key(value)
        if (key is not None and key[0] == "Patient") or (key is None and "/" not in value):
            found[name] = value
    return found


def _ids(resources: Iterable[dict[str, Any]]) -> list[str]:
    return [f"{r.get('resourceType')}/{str(r.get('id'))[:64]}" for r in resources]


def _shown(ids: list[str]) -> str:
    more = f" (+{len(ids) - SHOWN} more)" if len(ids) > SHOWN else ""
    return ", ".join(ids[:SHOWN]) + more


def _refs(resource: dict[str, Any], criterion: Criterion) -> str:
    values = criterion.values(resource) or []
    refs = [str(v.data.get("reference"))[:96] for v in values if isinstance(v.data, dict) and v.data.get("reference")]
    return ", ".join(refs[:2]) if refs else "no reference"


def _leaks(ctx: SearchContext, resources: list[dict[str, Any]], where: str) -> list[str]:
    """Failures for entries of an answer that do not belong to the patient the query names."""
    out = []
    for name, value in restricting_params(ctx.resource, ctx.params, ctx.table).items():
        criterion = ctx.criterion(name, value)
        if criterion is None:
            continue
        bad = [r for r in resources if criterion.possible(r) is not True]  # unreadable does not belong either
        if bad:
            shown = _shown([f"{i} ({_refs(r, criterion)})" for i, r in zip(_ids(bad), bad)])
            out.append(f"{where}: {len(bad)} of {len(resources)} entries do not belong to {name}={value}: {shown}")
    return out


def _refusal(answer: Answer) -> str:
    return f"{answer.query} was refused: {answer.error}"


# --- patient restriction ------------------------------------------------------------------------


def _no_such_patient(value: str) -> str:
    key = reference_key(value)
    return f"Patient/{NO_SUCH_ID}" if key is not None else NO_SUCH_ID


def patient_restriction(ctx: SearchContext, searcher: Searcher) -> Verdict:
    """Every entry belongs to the patient asked for; a search for a patient that does not exist finds nothing."""
    verdict = Verdict()
    restricting = restricting_params(ctx.resource, ctx.params, ctx.table)
    if not restricting:
        verdict.skip = f"the probe search ({_query_text(ctx.params)}) names no patient"
        return verdict
    entries = ctx.entries
    verdict.failures += _leaks(ctx, entries, f"GET {ctx.resource}?{_query_text(ctx.params)}")
    control = {k: v for k, v in ctx.params.items() if k != "_count"}
    for name, value in restricting.items():
        control[name] = _no_such_patient(value)
    answer = searcher.get(control)
    verdict.queries.append(answer.query)
    if answer.result is None:
        if answer.refused:
            verdict.notes.append(f"a search for a patient that does not exist was refused (HTTP {answer.status}): "
                                 f"a correct answer")
        else:
            verdict.warnings.append(f"a search for a patient that does not exist failed, so only the entries of "
                                    f"the probe search were judged: {answer.error}")
    else:
        found = answer.resources(ctx.resource)
        if found:
            verdict.failures.append(
                f"{answer.query}: a search for a patient that does not exist answered {len(found)} entries "
                f"({_shown(_ids(found))}): the tenant does not apply {', '.join(restricting)}")
        else:
            verdict.notes.append("a search for a patient that does not exist answered no entries")
    if not entries and not verdict.failures:
        verdict.inconclusive = (f"no {ctx.resource} came back for {_query_text(restricting)}: nothing shows that "
                                f"the answer is restricted to the patient; give a test patient with {ctx.resource} "
                                f"resources")
    elif entries and not verdict.failures:
        verdict.notes.insert(0, f"all {len(entries)} entries belong to {_query_text(restricting)}")
    return verdict


# --- the probe search's own narrowing parameters -----------------------------------------------


def _unmatchable(criterion: Criterion) -> str | None:
    spec = criterion.spec
    if spec.type == "token":
        system = criterion.value.split("|", 1)[0] if "|" in criterion.value else ""
        return f"{system}|{NO_SUCH_CODE}" if system else NO_SUCH_CODE
    if spec.type == "reference":
        key = reference_key(criterion.value)
        return f"{key[0]}/{NO_SUCH_ID}" if key is not None else NO_SUCH_ID
    if spec.type == "string":
        return NO_SUCH_TEXT
    if spec.type == "uri":
        return f"urn:{NO_SUCH_ID}"
    return None


def ignored_parameters(ctx: SearchContext, searcher: Searcher) -> Verdict:
    """Each narrowing parameter of the probe search is applied: its entries satisfy it, and a value nothing can
    match finds nothing (the patient parameters are ``patient_restriction``'s)."""
    verdict = Verdict()
    restricting = restricting_params(ctx.resource, ctx.params, ctx.table)
    entries = ctx.entries
    judged: list[str] = []
    unjudged: list[str] = []
    for name, value in ctx.params.items():
        if name in CONTROL_PARAMS or name in restricting:
            continue
        criterion = ctx.criterion(name, value)
        if criterion is None:
            unjudged.append(f"{name} (FHIR R4 defines no such parameter for {ctx.resource}: the tenant's own)")
            continue
        if not criterion.judged:
            unjudged.append(f"{name} (a {criterion.spec.type} parameter: not judged)")
            continue
        if name not in ctx.declared:
            unjudged.append(f"{name} (not declared by the CapabilityStatement for {ctx.resource}: Epic ignores "
                            f"such parameters)")
            continue
        if ctx.pseudonymized and (criterion.spec.type not in ("token", "reference") or name == "identifier"):
            unjudged.append(f"{name} (its values are pseudonymized in this run's cassettes)")
            continue
        judged.append(name)
        bad = [r for r in entries if criterion.possible(r) is False]
        if bad:
            verdict.warnings.append(f"{name}={value} ({ctx.resource}) is ignored or applied loosely: {len(bad)} of "
                                    f"{len(entries)} entries do not satisfy it: {_shown(_ids(bad))}")
        control_value = _unmatchable(criterion)
        if control_value is None or not entries:
            continue
        answer = searcher.get(ctx.with_param(name, control_value))
        verdict.queries.append(answer.query)
        if answer.result is None:
            if not answer.refused:
                verdict.warnings.append(f"{answer.query} (a value nothing matches) failed: {answer.error}")
            continue
        found = answer.resources(ctx.resource)
        if found:
            verdict.warnings.append(f"{name} ({ctx.resource}) is ignored: {answer.query}, a value nothing "
                                    f"matches, still answered {len(found)} entries: {_shown(_ids(found))}")
    for item in unjudged:
        verdict.notes.append(f"not judged: {item}")
    if not judged:
        verdict.inconclusive = ("no narrowing parameter of the probe search can be judged: " + "; ".join(unjudged)
                                if unjudged else "the probe search has no narrowing parameter")
    elif not entries:
        verdict.inconclusive = (f"no {ctx.resource} came back for {_query_text(ctx.params)}: nothing shows "
                                f"whether {', '.join(judged)} is applied")
    elif not verdict.warnings:
        verdict.notes.insert(0, f"{', '.join(judged)}: all {len(entries)} entries satisfy it, and a value "
                                f"nothing matches finds none")
    return verdict


# --- variants: one parameter added to the probe search ----------------------------------------


def _judge_variant(ctx: SearchContext, criterion: Criterion, answer: Answer, verdict: Verdict, *,
                   refusal_fails: bool, expected: list[dict[str, Any]] | None = None) -> bool:
    """Judge one variant's answer: its entries satisfy the criterion (else a warning), the base entries that
    certainly match it are there (else a failure), none belongs to another patient (else a failure)."""
    verdict.queries.append(answer.query)
    if answer.result is None:
        if answer.refused:
            (verdict.failures if refusal_fails else verdict.warnings).append(_refusal(answer))
        else:
            verdict.failures.append(f"{answer.query} failed: {answer.error}")
        return False
    found = answer.resources(ctx.resource)
    verdict.failures += _leaks(ctx, found, answer.query)
    loose = [r for r in found if criterion.possible(r) is False]
    if loose:
        verdict.warnings.append(f"{answer.query}: {criterion.name} is ignored or applied loosely: {len(loose)} of "
                                f"{len(found)} entries do not satisfy {criterion.name}={criterion.value}: "
                                f"{_shown(_ids(loose))}")
    must = expected if expected is not None else [r for r in ctx.entries if criterion.certain(r) is True]
    have = set(_ids(found))
    missing = [r for r in must if f"{r['resourceType']}/{r['id']}" not in have]
    if missing and not (answer.result.truncated):
        verdict.failures.append(f"{answer.query}: {len(missing)} of the {len(must)} entries that match "
                                f"{criterion.name}={criterion.value} are missing: {_shown(_ids(missing))}")
    if not loose and not missing:
        verdict.notes.append(f"{answer.query}: {len(found)} entries, {len(must)} of them required, all satisfy it")
    return True


def _declared_of_type(ctx: SearchContext, kind: str) -> list[SearchParameter]:
    out = []
    for name, declared_type in ctx.declared.items():
        spec = ctx.spec(name)
        if spec is not None and spec.type == kind and spec.expression and (declared_type in ("", kind)):
            out.append(spec)
    return out


def _applicable(ctx: SearchContext, verdict: Verdict, kind: str, what: str) -> list[SearchParameter] | None:
    if not ctx.declared:
        verdict.inconclusive = f"the CapabilityStatement declares no search parameter for {ctx.resource}"
        return None
    specs = _declared_of_type(ctx, kind)
    if not specs:
        undefined = sorted(n for n, t in ctx.declared.items() if t == kind and ctx.spec(n) is None)
        if undefined:
            verdict.inconclusive = (f"the {what} parameters the CapabilityStatement declares for {ctx.resource} "
                                    f"({', '.join(undefined)}) have no FHIR R4 definition (the tenant's own): not "
                                    f"judged")
        else:
            verdict.skip = f"the CapabilityStatement declares no {what} parameter for {ctx.resource}"
        return None
    if not ctx.entries:
        verdict.inconclusive = (f"no {ctx.resource} came back for {_query_text(ctx.params)}: no value to search "
                                f"{what} parameters with")
        return None
    return specs


# dates


@dataclass(frozen=True)
class _DatePick:
    spec: SearchParameter
    text: str  # the value as found in the chosen entry (a date, dateTime or instant, or a Period's bound)
    resource: dict[str, Any]


def _date_texts(value: Value) -> list[str]:
    if isinstance(value.data, str):
        return [value.data]
    if isinstance(value.data, dict):  # a Period: its start, or its end when it has none
        bounds = [value.data[k] for k in ("start", "end") if isinstance(value.data.get(k), str)]
        return bounds[:1]
    return []


def _pick_date(ctx: SearchContext, specs: list[SearchParameter]) -> _DatePick | None:
    for spec in specs:
        criterion = Criterion(spec, "", ctx.version)
        found: list[tuple[float, tuple[int, int], str, dict[str, Any]]] = []
        for resource in ctx.entries:
            for value in criterion.values(resource) or []:
                if not target_ranges(value.type, value.data):
                    continue
                point = 0 if isinstance(value.data, str) else 1  # a point in time is the clearest value
                for text in _date_texts(value):
                    parsed = parse_date(text)
                    if parsed is not None:  # a time with a zone first: the form US Core servers SHALL support
                        found.append((parsed.low, (0 if _has_zone(text) else 1, point), text, resource))
        if found:
            best = min(p for _, p, _, _ in found)
            chosen = sorted((f for f in found if f[1] == best), key=lambda f: f[0])
            median = chosen[len(chosen) // 2] if len(chosen) % 2 else chosen[len(chosen) // 2 - 1]
            return _DatePick(spec, median[2], median[3])
    return None


def _has_zone(text: str) -> bool:
    return "T" in text and (text.endswith("Z") or text[-6:-5] in ("+", "-"))


def date_prefixes(ctx: SearchContext, searcher: Searcher) -> Verdict:
    """A declared date parameter with each prefix its definition allows (gt ge lt le with the value as the tenant
    wrote it, to the second with its offset; eq by the day, without a zone), judged with FHIR's range semantics."""
    verdict = Verdict()
    specs = _applicable(ctx, verdict, "date", "date")
    if specs is None:
        return verdict
    if ctx.pseudonymized:
        verdict.inconclusive = ("this run's cassettes keep only the year of every date ([cassettes] "
                                "scrub_patient_data): a search by a date found in an answer would not replay; not "
                                "judged")
        return verdict
    pick = _pick_date(ctx, specs)
    if pick is None:
        verdict.inconclusive = (f"no entry carries a value for {', '.join(s.name for s in specs)}: no date to search "
                                f"with")
        return verdict
    allowed = [p for p in ("gt", "ge", "lt", "le", "eq") if not pick.spec.comparators or p in pick.spec.comparators]
    if _has_zone(pick.text):  # US Core: gt ge lt le SHALL, to the second with an offset; eq (MAY) by the day
        variants = [(p, pick.text) if p != "eq" else (p, pick.text[:10]) for p in allowed]
    else:
        variants = [(p, pick.text) for p in allowed]
    verdict.notes.append(f"{pick.spec.name} ({pick.spec.expression}): value {pick.text} from "
                         f"{pick.resource['resourceType']}/{pick.resource['id']}")
    for prefix, text in variants:
        criterion = Criterion(pick.spec, f"{prefix}{text}", ctx.version)
        answer = searcher.get(ctx.with_param(pick.spec.name, criterion.value))
        _judge_variant(ctx, criterion, answer, verdict, refusal_fails=prefix != "eq")
    return verdict


# tokens


def _token_candidates(ctx: SearchContext, spec: SearchParameter) -> list[tuple[tuple[str | None, str], int]]:
    """(system, code) pairs found in the base entries for ``spec``, with how many entries carry each."""
    criterion = Criterion(spec, "", ctx.version)
    counts: dict[tuple[str | None, str], int] = {}
    for resource in ctx.entries:
        usable = [value for value in criterion.values(resource) or [] if value.type != "ContactPoint"
                  and not (ctx.pseudonymized and value.type == "Identifier")]
        pairs = dict.fromkeys(pair for value in usable for pair in tokens_of(value))  # in order: a replay chooses alike
        for pair in pairs:
            counts[pair] = counts.get(pair, 0) + 1
    return list(counts.items())


def _best_token(ctx: SearchContext, specs: list[SearchParameter]
                ) -> tuple[SearchParameter, tuple[str | None, str]] | None:
    """A value with a system, carried by some entries and not by others where possible (the rarest of the first
    such parameter in declaration order: it narrows the most)."""
    total = len(ctx.entries)
    best: tuple[tuple[int, int, int, int], SearchParameter, tuple[str | None, str]] | None = None
    for order, spec in enumerate(specs):
        for pair, carried in _token_candidates(ctx, spec):
            score = (0 if pair[0] else 1, 0 if carried < total else 1, order, carried)
            if best is None or score < best[0]:
                best = (score, spec, pair)
    return (best[1], best[2]) if best else None


def _token_text(pair: tuple[str | None, str]) -> str:
    return f"{pair[0]}|{pair[1]}" if pair[0] else pair[1]


def _variant(ctx: SearchContext, searcher: Searcher, verdict: Verdict, spec: SearchParameter, value: str, *,
             refusal_fails: bool) -> None:
    criterion = Criterion(spec, value, ctx.version)
    answer = searcher.get(ctx.with_param(spec.name, value))
    if _judge_variant(ctx, criterion, answer, verdict, refusal_fails=refusal_fails):
        _control(ctx, searcher, verdict, criterion)


def _control(ctx: SearchContext, searcher: Searcher, verdict: Verdict, criterion: Criterion) -> None:
    """When every base entry carries the value, the variant cannot show that the parameter narrows anything:
    then the same search with a value nothing matches must find nothing."""
    if not ctx.entries or any(criterion.certain(r) is not True for r in ctx.entries):
        return
    value = _unmatchable(criterion)
    if value is None:
        return
    answer = searcher.get(ctx.with_param(criterion.name, value))
    verdict.queries.append(answer.query)
    found = answer.resources(ctx.resource)
    if answer.result is not None and found:
        verdict.warnings.append(f"{criterion.name} ({ctx.resource}) is ignored: every entry carries "
                                f"{criterion.value}, and {answer.query}, a value nothing matches, still answered "
                                f"{len(found)} entries: {_shown(_ids(found))}")
    elif answer.result is not None or answer.refused:
        verdict.notes.append(f"{answer.query}, a value nothing matches, found nothing: {criterion.name} narrows")


def token(ctx: SearchContext, searcher: Searcher) -> Verdict:
    """A declared token parameter (not identifier or category) searched as ``system|code`` with a value found in the
    base entries."""
    verdict = Verdict()
    specs = _applicable(ctx, verdict, "token", "token")
    if specs is None:
        return verdict
    restricting = restricting_params(ctx.resource, ctx.params, ctx.table)
    specs = [s for s in specs if s.name not in _OWN_CHECKS and not s.name.startswith("_")
             and s.name not in ctx.params and s.name not in restricting]
    chosen = _best_token(ctx, specs)
    if chosen is None:
        verdict.inconclusive = (f"no entry carries a code for the declared token parameters of {ctx.resource} "
                                f"({', '.join(s.name for s in specs) or 'none besides identifier and category'})")
        return verdict
    spec, pair = chosen
    _variant(ctx, searcher, verdict, spec, _token_text(pair), refusal_fails=True)
    return verdict


def identifier(ctx: SearchContext, searcher: Searcher) -> Verdict:
    """``identifier=system|value`` with an identifier found in the base entries."""
    verdict = Verdict()
    spec = ctx.spec("identifier")
    if "identifier" not in ctx.declared:
        verdict.skip = f"the CapabilityStatement declares no identifier parameter for {ctx.resource}"
        return verdict
    if spec is None:
        verdict.inconclusive = f"FHIR R4 defines no identifier parameter for {ctx.resource}: not judged"
        return verdict
    if ctx.pseudonymized:
        verdict.inconclusive = ("this run's cassettes pseudonymize identifiers ([cassettes] scrub_patient_data): a "
                                "search by an identifier found in an answer would not replay; not judged")
        return verdict
    if not ctx.entries:
        verdict.inconclusive = f"no {ctx.resource} came back for {_query_text(ctx.params)}: no identifier to search"
        return verdict
    sent = ctx.params.get("identifier")
    pairs = [(pair, n) for pair, n in _token_candidates(ctx, spec) if pair[0] and pair[1]]
    fresh = [(pair, n) for pair, n in pairs if _token_text(pair) != sent]
    if not pairs:
        verdict.inconclusive = f"no {ctx.resource} entry has an identifier with both a system and a value"
        return verdict
    if not fresh:  # the probe search is itself this identifier search: its answer is the evidence
        criterion = Criterion(spec, sent or "", ctx.version)
        answer = Answer(f"GET {ctx.resource}?{_query_text(ctx.params)}", result=ctx.base, status=200)
        if _judge_variant(ctx, criterion, answer, verdict, refusal_fails=True):
            _control(ctx, searcher, verdict, criterion)
        return verdict
    pair = sorted(fresh, key=lambda item: item[1])[0][0]  # the rarest: it narrows the most
    _variant(ctx, searcher, verdict, spec, _token_text(pair), refusal_fails=True)
    return verdict


def category(ctx: SearchContext, searcher: Searcher) -> Verdict:
    """``category=system|code`` with a category coding found in the base entries (the probe's own category, where
    it sends one, with its system)."""
    verdict = Verdict()
    spec = ctx.spec("category")
    if "category" not in ctx.declared:
        verdict.skip = f"the CapabilityStatement declares no category parameter for {ctx.resource}"
        return verdict
    if spec is None or spec.type != "token":
        verdict.inconclusive = (f"category is declared for {ctx.resource}, but FHIR R4 defines no such parameter "
                                f"(the tenant's own): not judged")
        return verdict
    if not ctx.entries:
        verdict.inconclusive = f"no {ctx.resource} came back for {_query_text(ctx.params)}: no category to search"
        return verdict
    pairs = [(pair, n) for pair, n in _token_candidates(ctx, spec) if pair[0]]
    sent = ctx.params.get("category")
    if sent is not None:
        code = sent.split("|", 1)[-1]
        same = [(pair, n) for pair, n in pairs if pair[1] == code and _token_text(pair) != sent]
        if not same:
            verdict.inconclusive = (f"no entry carries a category coding with a system and the code {code!r} the "
                                    f"probe search sends: no system|code form of it to search with")
            return verdict
        pairs = same
    if not pairs:
        verdict.inconclusive = f"no {ctx.resource} entry has a category coding with a system"
        return verdict
    pair = sorted(pairs, key=lambda item: item[1])[0][0]
    _variant(ctx, searcher, verdict, spec, _token_text(pair), refusal_fails=True)
    return verdict


def or_list(ctx: SearchContext, searcher: Searcher) -> Verdict:
    """``a,b``: a token with two values found in the base entries, else ``_id`` with two ids (or one id and one that
    does not exist); every entry with either value must come back."""
    verdict = Verdict()
    if not ctx.declared:
        verdict.inconclusive = f"the CapabilityStatement declares no search parameter for {ctx.resource}"
        return verdict
    if not ctx.entries:
        verdict.inconclusive = f"no {ctx.resource} came back for {_query_text(ctx.params)}: no values to list"
        return verdict
    restricting = restricting_params(ctx.resource, ctx.params, ctx.table)
    for spec in _declared_of_type(ctx, "token"):
        if spec.name in ctx.params or spec.name in restricting or spec.name.startswith("_"):
            continue
        pairs = [pair for pair, n in _token_candidates(ctx, spec) if n < len(ctx.entries)]
        if len(pairs) >= 2:
            systemful = sorted(pairs, key=lambda p: p[0] is None)[:2]
            _variant(ctx, searcher, verdict, spec, ",".join(_token_text(p) for p in systemful), refusal_fails=False)
            return verdict
    spec = ctx.spec("_id")
    if spec is None or "_id" not in ctx.declared:
        verdict.inconclusive = (f"no declared token parameter of {ctx.resource} has two values among the entries, "
                                f"and _id is not declared")
        return verdict
    ids = [r["id"] for r in ctx.entries[:2]]
    if len(ids) < 2:
        ids.append(NO_SUCH_ID)
    value = ",".join(ids)
    criterion = Criterion(spec, value, ctx.version)
    answer = searcher.get(ctx.with_param("_id", value))
    expected = [r for r in ctx.entries if r["id"] in ids]
    if _judge_variant(ctx, criterion, answer, verdict, refusal_fails=False, expected=expected):
        _control(ctx, searcher, verdict, criterion)
    return verdict


# --- _count and POST ----------------------------------------------------------------------------


def count(ctx: SearchContext, searcher: Searcher) -> Verdict:
    """``_count=n`` gives a first page of at most n entries, with a next link when more match."""
    verdict = Verdict()
    if ctx.declared and "_count" not in ctx.declared:
        verdict.skip = f"the CapabilityStatement does not declare _count for {ctx.resource}"
        return verdict
    total = len(ctx.entries)
    if total < 2:
        verdict.inconclusive = (f"{total} {ctx.resource} match {_query_text(ctx.params)}: a page of _count=1 cannot "
                                f"show a page larger than asked")
        return verdict
    size = 2 if total >= 3 else 1
    answer = searcher.first_page({**ctx.params, "_count": str(size)})
    verdict.queries.append(answer.query)
    if answer.result is None:
        verdict.failures.append(_refusal(answer) if answer.refused else f"{answer.query} failed: {answer.error}")
        return verdict
    page = answer.resources(ctx.resource)
    verdict.failures += _leaks(ctx, page, answer.query)
    if len(page) > size:
        verdict.failures.append(f"{answer.query}: the first page holds {len(page)} entries, more than the {size} "
                                f"asked for: {_shown(_ids(page))}")
    if total > len(page) and not answer.first_page_next:
        verdict.failures.append(f"{answer.query}: the first page holds {len(page)} of the {total} entries that match "
                                f"and offers no next link: the other {total - len(page)} cannot be reached")
    if not verdict.failures:
        verdict.notes.append(f"{answer.query}: {len(page)} entries on the first page of {total}, and a next link")
    return verdict


def post_equivalence(ctx: SearchContext, searcher: Searcher) -> Verdict:
    """``POST [type]/_search`` with the probe's parameters form-encoded answers the same ids as the GET."""
    verdict = Verdict()
    if ctx.pseudonymized:
        verdict.inconclusive = ("POST _search carries the query in its body, which this run's cassettes do not "
                                "pseudonymize ([cassettes] scrub_patient_data): not sent")
        return verdict
    answer = searcher.post(dict(ctx.params))
    verdict.queries.append(answer.query)
    if answer.result is None:
        if answer.refused and ctx.version != "R4":  # R4's http.html says SHALL; what Epic offers before R4 is unknown
            verdict.warnings.append(f"{_refusal(answer)}: FHIR {ctx.version} defines POST _search too")
            verdict.inconclusive = f"POST _search is refused on {ctx.version}: nothing to compare"
        else:
            verdict.failures.append(_refusal(answer) if answer.refused else f"{answer.query} failed: {answer.error}")
        return verdict
    got = answer.resources(ctx.resource)
    verdict.failures += _leaks(ctx, got, answer.query)
    by_get, by_post = set(_ids(ctx.entries)), set(_ids(got))
    if by_get != by_post:  # the probe's answer may predate this run's writes: compare with a GET sent now
        again = searcher.get(dict(ctx.params))
        verdict.queries.append(again.query)
        if again.result is not None:
            by_get = set(_ids(again.resources(ctx.resource)))
            if again.result.truncated:
                verdict.inconclusive = "the GET search has more pages than the harness follows: not compared"
                return verdict
    if ctx.base.truncated or answer.result.truncated:
        verdict.inconclusive = "one of the two answers has more pages than the harness follows: not compared"
        return verdict
    if by_get != by_post:
        only_get, only_post = sorted(by_get - by_post), sorted(by_post - by_get)
        parts = [f"only in GET: {_shown(only_get)}" if only_get else "", f"only in POST: {_shown(only_post)}"
                 if only_post else ""]
        verdict.failures.append(f"GET answered {len(by_get)} entries, {answer.query} {len(by_post)}: "
                                + "; ".join(p for p in parts if p))
    elif not by_get:
        verdict.inconclusive = (f"no {ctx.resource} came back for {_query_text(ctx.params)}, by GET or POST: "
                                f"nothing to compare")
    else:
        verdict.notes.append(f"GET and POST _search answered the same {len(by_get)} entries")
    return verdict


RULES: dict[str, Callable[[SearchContext, Searcher], Verdict]] = {
    "patient-restriction": patient_restriction, "ignored-parameters": ignored_parameters,
    "date-prefixes": date_prefixes, "token": token, "identifier": identifier, "category": category,
    "or-list": or_list, "count": count, "post-equivalence": post_equivalence,
}
