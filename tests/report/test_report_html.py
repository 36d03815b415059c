"""summary.html: the verdict and who must act first, identical failures collapsed, each check's explanation said
once, self-contained, and every tenant string escaped."""

from __future__ import annotations

import re

from harness.escape import html as esc
from harness.report.html import render
from tests.report.sample import DECLARED_WHY, NOT_DECLARED, PRACTITIONER_APIS, sample_results


def _between(html: str, start: str, end: str) -> str:
    return html[html.index(start):html.index(end, html.index(start))]


def test_the_verdict_and_who_must_act_come_first() -> None:
    html = render(sample_results())
    assert '<span class="gate failed">NOT READY</span> verified 30 of 43 requested APIs' in html
    assert html.index("What has to be done") < html.index("Coverage matrix") < html.index("All checks")
    todo = _between(html, "<h2>What has to be done</h2>", "<h2>Not verified in this run</h2>")
    assert "<h3>the customer&#x27;s Epic team: the tenant&#x27;s configuration (10)</h3>" in todo
    assert "<h3>Epic technical services: the tenant answers wrongly (2)</h3>" in todo
    assert "<h3>Blocked until a failure above is fixed</h3><ul><li>5 check(s) blocked by exercise.search[" in todo
    assert "Nothing failed." not in html


def test_identical_failures_are_one_item_naming_their_apis() -> None:
    html = render(sample_results())
    todo = _between(html, "<h2>What has to be done</h2>", "<h2>Not verified in this run</h2>")
    assert todo.count(NOT_DECLARED) == 1 and todo.count("<li>") == 4 + 1  # four findings, one root cause
    assert "<small>10 checks: " + ", ".join(PRACTITIONER_APIS) + "</small>" in todo


def test_each_checks_explanation_is_said_once() -> None:
    html = render(sample_results())
    assert html.count(esc(DECLARED_WHY)) == 1  # 40 results of coverage.declared: one group row, then one row per API
    every = html[html.index("<h2>All checks</h2>"):]
    assert every.count("<code>coverage.declared</code>") == 1 and every.count('<td class="passed">passed</td>') == 32


def test_nothing_failed_says_so() -> None:
    results = sample_results()
    results.checks = [c for c in results.checks if c.outcome.proved]
    assert "<p>Nothing failed.</p>" in render(results)


def test_tenant_text_is_escaped_and_the_page_loads_nothing() -> None:
    html = render(sample_results())
    assert "<script" not in html.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>Health</b>" not in html and "<title>Epic go-live summary: St. Elsewhere &lt;b&gt;Health&lt;/b&gt;" in html
    assert "\x1b" not in html and "\u202e" not in html and "evil.example" not in html
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|url\(", html, re.I)
    links = re.findall(r'href="([^"]+)"', html)  # the checks' sources and the requirements' sections: plain links
    assert links and all(re.match(r"https?://[\w.-]+/", link) for link in links), links
