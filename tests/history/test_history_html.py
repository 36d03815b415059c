"""history.html and the fleet-over-time fragment: self-contained (no script, no external request),
every tenant string escaped, and rendered by headless Chromium where it is installed."""

from __future__ import annotations

import copy
import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.fleet.report import render_html
from harness.history.page import fleet_history_section, write_history_html
from harness.history.record import record_fleet, record_run
from tests.history.history_helpers import tenant_runs

HOSTILE = '<img src=x onerror="document.title=1"><script>alert(1)</script>&amp;"\'\x1b[31m'
#: Set to a folder to keep the screenshots (they are written to a temporary folder otherwise).
SHOTS_ENV = "EPIC_HARNESS_SCREENSHOTS"


@pytest.fixture(scope="module")
def hostile_history(tmp_path_factory, fleet_days):
    """The four fleet days and three tenant runs, one fleet tenant and the tenant named with markup."""
    path = tmp_path_factory.mktemp("html") / "history.sqlite"
    for day in fleet_days:
        day = copy.deepcopy(day)
        day["tenants"][3]["name"] = HOSTILE
        record_fleet(day, history=path)
    for summary in tenant_runs(HOSTILE):
        record_run(summary, history=path)
    for summary in tenant_runs("acme-nonprod"):
        record_run(summary, history=path)
    return path


@pytest.fixture(scope="module")
def page(hostile_history, tmp_path_factory) -> Path:
    return write_history_html(hostile_history, tmp_path_factory.mktemp("page") / "history.html", window="400d")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "poster", "srcset", "data") or name.startswith("on"):
                self.refs.append(f"{name}={value}")
            if name == "style":
                self.styles.append(value or "")

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)

    def handle_endtag(self, tag):
        self._in_style = False


def _parsed(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


def _external(text: str) -> list[str]:
    """Every attribute or style that would make a browser fetch something or run code."""
    parsed = _parsed(text)
    refs = [r for r in parsed.refs if not r.split("=", 1)[1].startswith("#")]
    refs += [s for s in parsed.styles if re.search(r"url\(|@import", s, re.I)]
    refs += [t for t in parsed.tags if t in ("script", "img", "iframe", "link", "object", "embed", "image")]
    return refs


def test_the_page_is_self_contained_and_escapes_every_tenant_string(page):
    text = page.read_text("utf-8")
    assert "<script" not in text.lower().replace("&lt;script", "")
    assert _external(text) == []
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert "<img" not in text and "onerror=\"" not in text
    assert "&lt;img src=x onerror=&quot;document.title=1&quot;&gt;&lt;script&gt;" in text
    assert "\x1b" not in text
    assert text.count("<svg") >= 7


def test_the_fleet_fragment_goes_into_fleet_html(hostile_history, fleet_days):
    fragment = fleet_history_section(hostile_history, window="400d")
    assert fragment.startswith('<section class="eh" id="fleet-history">') and fragment.endswith("</section>")
    assert "<script" not in fragment.lower().replace("&lt;script", "") and _external(fragment) == []
    assert fragment.count("<svg") >= 4 and "Latest changes" in fragment
    assert "&lt;img src=x" in fragment and "<img" not in fragment
    fleet_html = render_html(fleet_days[-1]).replace("</body>", fragment + "</body>")
    assert fleet_html.count('id="fleet-history"') == 1


def test_no_fleet_run_no_fragment(tmp_path):
    assert fleet_history_section(tmp_path / "none.sqlite") == ""
    record_run(tenant_runs()[0], history=tmp_path / "h.sqlite")
    assert fleet_history_section(tmp_path / "h.sqlite") == ""


def _png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the first rows): a blank page has one or two."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, pos = [], 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    return width, height, len(set(raw[: width * 4 * 400]))


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


PROFILE = Path(os.environ.get("TMPDIR", "/tmp")) / f"epic-harness-chromium-{os.getpid()}"


def _headless(browser: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--no-first-run", "--disable-extensions", "--disable-background-networking",
                           "--user-data-dir=" + str(PROFILE), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def rendered_pages(page, hostile_history, fleet_days, tmp_path_factory):
    """history.html and a fleet.html holding the fragment, rendered to PNG screenshots and to their DOM."""
    browser = _chromium()
    folder = tmp_path_factory.mktemp("shots")
    fleet_page = folder / "fleet.html"
    fragment = fleet_history_section(hostile_history, window="400d")
    fleet_page.write_text(render_html(fleet_days[-1]).replace("</body>", fragment + "</body>"), "utf-8")
    out = {}
    for name, source, height in (("history", page, 5200), ("fleet", fleet_page, 3000)):
        shot = folder / f"{name}.png"
        done = _headless(browser, f"--window-size=1200,{height}", f"--screenshot={shot}", "--dump-dom",
                         source.as_uri())  # one launch: the screenshot, and the DOM on stdout
        assert shot.is_file(), done.stderr[-2000:]
        out[name] = (shot, done.stdout)
        if os.environ.get(SHOTS_ENV):
            Path(os.environ[SHOTS_ENV]).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, Path(os.environ[SHOTS_ENV]) / f"{name}.png")
    shutil.rmtree(PROFILE, ignore_errors=True)
    return out


def test_chromium_renders_history_html_with_its_charts(rendered_pages):
    shot, dom = rendered_pages["history"]
    width, height, colours = _png_size_and_colours(shot)
    assert (width, height) == (1200, 5200) and colours > 20
    assert dom.count("<svg") >= 7 and "Tenants per Epic release over time" in dom
    assert "<img" not in dom and "<script" not in dom  # the hostile name stayed text
    assert "&lt;img src=x" in dom


def test_chromium_renders_fleet_html_with_the_fleet_over_time(rendered_pages):
    shot, dom = rendered_pages["fleet"]
    width, height, colours = _png_size_and_colours(shot)
    assert (width, height) == (1200, 3000) and colours > 20
    assert 'id="fleet-history"' in dom and dom.count("<svg") >= 4


def test_a_history_of_tenant_runs_only_has_a_page(tmp_path):
    for summary in tenant_runs():
        record_run(summary, history=tmp_path / "h.sqlite")
    text = write_history_html(tmp_path / "h.sqlite", tmp_path / "history.html", window="400d").read_text("utf-8")
    assert "Tenant runs" in text and "gate passed -&gt; failed" in text and _external(text) == []
