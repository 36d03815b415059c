"""Requirement traceability: the specification sentences each check verifies, and what a run verified.

- :func:`load_catalogue` reads the shipped data (one file per source document, plus the check mapping);
- :func:`requirements_for` gives the requirement ids a check's result verifies;
- :func:`compute_coverage` turns a run's results into per-requirement statuses and totals per source and verb;
- :func:`to_dict`, :func:`to_markdown`, :func:`to_html`, :func:`to_text`, :func:`closing_note` render it.
"""

from harness.requirements.catalogue import (
    ACTORS, VERBS, Catalogue, CheckMapping, Requirement, RequirementsDataError, Source, load_catalogue,
    requirements_for,
)
from harness.requirements.coverage import (
    OUTCOMES, CheckOutcome, Coverage, CoverageInputError, RequirementCoverage, Totals, as_outcome, closing_note,
    compute_coverage,
)
from harness.requirements.render import anchor_of, to_dict, to_html, to_markdown, to_text

__all__ = [
    "ACTORS", "OUTCOMES", "VERBS", "Catalogue", "CheckMapping", "CheckOutcome", "Coverage", "CoverageInputError",
    "Requirement", "RequirementCoverage", "RequirementsDataError", "Source", "Totals", "anchor_of", "as_outcome",
    "closing_note", "compute_coverage", "load_catalogue", "requirements_for", "to_dict", "to_html", "to_markdown",
    "to_text",
]
