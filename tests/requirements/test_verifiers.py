"""Which checks verify a requirement: read from an index built once, it answers what a scan of every
check's mapping answers, in the same order (each check in mapping order, its own requirements before its
parameters')."""

from __future__ import annotations

from harness.requirements import load_catalogue
from harness.requirements.catalogue import Catalogue, build_catalogue


def scanned(catalogue: Catalogue, requirement_id: str) -> tuple[tuple[str, str | None], ...]:
    found: list[tuple[str, str | None]] = []
    for mapping in catalogue.checks.values():
        if requirement_id in mapping.requirements:
            found.append((mapping.check_id, None))
        found += [(mapping.check_id, p) for p, ids in mapping.params.items() if requirement_id in ids]
    return tuple(found)


def test_the_shipped_catalogue_answers_as_a_scan() -> None:
    catalogue = load_catalogue()
    answers = {rid: catalogue.verifiers_of(rid) for rid in catalogue.requirements}
    assert answers == {rid: scanned(catalogue, rid) for rid in catalogue.requirements}
    assert sum(map(len, answers.values())) > len(answers) / 2  # most requirements have a verifier
    assert catalogue.verifiers_of("no-such-requirement") == ()


def test_checks_and_parameters_sharing_a_requirement_come_in_mapping_order() -> None:
    source = {"source": {"key": "x", "title": "X", "document": "X", "version": "1", "url": "https://example.org/",
                         "licence": "CC0", "id_scheme": "x@N"},
              "requirement": [{"id": f"x@{n}", "url": "https://example.org/#a", "text": "The server SHALL answer.",
                               "verb": "SHALL", "actor": "server", "topic": "t"} for n in (1, 2, 3)]}
    mapping = {"checks": {
        "b.second": {"requirements": ["x@2"], "params": {"p": {"requirements": ["x@1", "x@2"]},
                                                          "q": {"requirements": ["x@1"]}}},
        "a.first": {"requirements": ["x@1"]},
    }}
    catalogue = build_catalogue({"x.toml": source}, mapping)
    assert catalogue.verifiers_of("x@1") == (("b.second", "p"), ("b.second", "q"), ("a.first", None))
    assert catalogue.verifiers_of("x@2") == (("b.second", None), ("b.second", "p"))
    assert catalogue.verifiers_of("x@3") == ()
    assert all(catalogue.verifiers_of(r) == scanned(catalogue, r) for r in catalogue.requirements)
