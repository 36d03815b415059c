"""Findings grouped by rule and element, so that a report says "[binding] Immunization.status: 12
resources" once instead of one line per resource.

    groups = group_findings(validator.validate(r) for r in resources)   # one issue list per resource
    for group in groups:
        print(group)        # [binding] Immunization.status: 12 resources (e.g. "done")

The same works for profile findings (:mod:`harness.fhir.profiles`, rule ``us-core-patient|6.1.0``)
and for a mix of both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.fhir.validation import ValidationIssue

__all__ = ["FindingGroup", "group_findings"]


@dataclass(frozen=True)
class FindingGroup:
    """Every issue of one rule at one element (indices removed), across the resources seen."""

    rule: str
    element: str
    severity: str
    issues: int          # how many issues (a resource may have several: one per repetition)
    resources: int       # in how many resources
    example: ValidationIssue
    values: tuple[str, ...] = ()   # a few distinct offending values

    def __str__(self) -> str:
        count = f"{self.resources} resource{'s' if self.resources != 1 else ''}"
        shown = f" (e.g. {', '.join(self.values)})" if self.values else ""
        return f"[{self.rule}] {self.element}: {count}{shown}"


def group_findings(results: Iterable[Sequence[ValidationIssue]], *, max_values: int = 3) -> list[FindingGroup]:
    """Group per-resource issue lists by (rule, element): the most widespread first."""
    counts: dict[tuple[str, str], list[int]] = {}
    examples: dict[tuple[str, str], ValidationIssue] = {}
    values: dict[tuple[str, str], list[str]] = {}
    for issues in results:
        seen_here: set[tuple[str, str]] = set()
        for issue in issues:
            key = (issue.rule, issue.element or issue.path)
            tally = counts.setdefault(key, [0, 0])
            tally[0] += 1
            if key not in seen_here:
                tally[1] += 1
                seen_here.add(key)
            examples.setdefault(key, issue)
            shown = values.setdefault(key, [])
            if issue.value and issue.value not in shown and len(shown) < max_values:
                shown.append(issue.value)
    groups = [
        FindingGroup(rule, element, examples[(rule, element)].severity, n, r, examples[(rule, element)],
                     tuple(values[(rule, element)]))
        for (rule, element), (n, r) in counts.items()
    ]
    return sorted(groups, key=lambda g: (g.severity != "error", -g.resources, g.rule, g.element))
