"""Headless Chromium opens every dashboard from a file: the pages load the one plotly.js of
their folder (offline), no console errors, every chart drawn with data, a screenshot for
people, and hostile PBX names shown as text (no dialog fires). The weekly email's HTML fits a
400 px phone screen without sideways scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.cdp import Browser, Tab, chromium, chromium_path
from tests.support import small_warehouse as small
from vats_etl import dashboards, reports, weekly_email
from vats_etl.config import Settings
from vats_etl.reports import Reader

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PAGES = ("overview.html", "missed-calls.html", "ratings.html")

# For each plotly chart: points in its data and marks drawn in its SVG (bars, markers,
# lines, heatmap image).
CHARTS_JS = """
Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (el) {
  var points = (el.data || []).reduce(function (n, t) {
    var values = t.type === 'heatmap' ? [].concat.apply([], t.z || []) : (t.y || t.x || []);
    return n + values.filter(function (v) { return v !== null && v !== undefined; }).length;
  }, 0);
  var marks = el.querySelectorAll(
    'g.trace.bars path, g.points path, path.js-line, g.hm image, .heatmaplayer image').length;
  var box = el.getBoundingClientRect();
  return {id: el.id, traces: (el.data || []).length, points: points, marks: marks,
          width: box.width, height: box.height};
})
"""


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    if chromium_path() is None:
        pytest.fail("chromium is not installed: run `make chromium` (apt-get install chromium)")
    return small.build(tmp_path_factory.mktemp("browser-db"))


@pytest.fixture(scope="module")
def built(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dashboards")
    dashboards.write(settings, small.WEEK, out, now=small.NOW)
    with reports.open_read(settings) as con:  # the XSS department's own pages too
        reader = Reader(con, small.WEEK, small.XSS_DEPARTMENT, now=small.NOW)
        dashboards.write_files(out, dashboards.build(reader))
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _open(browser: Browser, path: Path) -> Tab:
    tab = browser.new_tab()
    tab.open(path.resolve().as_uri())
    tab.settle(0.5)
    return tab


@pytest.mark.parametrize("page", PAGES)
def test_dashboard_renders_in_chromium(
    browser: Browser, built: Path, page: str, tmp_path: Path
) -> None:
    tab = _open(browser, built / page)
    scripts = tab.evaluate(
        "Array.from(document.scripts).filter(function (s) { return s.src; })"
        ".map(function (s) { return s.src; })"
    )
    shared = (built / dashboards.plotly_file()).resolve().as_uri()
    assert scripts == [shared]  # the folder's one plotly.js, from the disk
    assert (built / page).stat().st_size < 500_000
    assert tab.evaluate("typeof Plotly") == "object"  # it loaded, offline
    charts: list[dict[str, Any]] = tab.evaluate(CHARTS_JS)
    expected = {
        "overview.html": {"chart-daily", "chart-heatmap", "chart-service_level", "chart-asa"},
        "missed-calls.html": {
            "chart-recovery",
            "chart-reason",
            "chart-department",
            "chart-number",
        },
        "ratings.html": {"chart-distribution", "chart-trend", "chart-employees"},
    }[page]
    assert {c["id"] for c in charts} == expected
    for chart in charts:
        assert chart["traces"] > 0 and chart["points"] > 0, chart
        assert chart["marks"] > 0, chart  # something was drawn, not an empty frame
        assert 200 < chart["width"] < 1400 and chart["height"] > 150, chart
    shot = tab.screenshot(tmp_path / page.replace(".html", ".png"))
    assert shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert tab.log.problems == [], tab.log.problems
    assert tab.log.dialogs == []


def test_hostile_names_show_as_text(browser: Browser, built: Path) -> None:
    tab = _open(browser, built / "ratings.html")
    text = tab.evaluate("document.body.innerText")
    assert small.XSS_NAME in text  # in the employee table, as text
    assert tab.evaluate("document.querySelectorAll('body script').length") == _count_scripts(
        built / "ratings.html"
    )  # no script element was injected
    labels = tab.evaluate(
        "Array.from(document.querySelectorAll('#chart-employees .ytick text'))"
        ".map(function (t) { return t.textContent; })"
    )
    assert small.XSS_NAME in labels  # the chart's axis shows the name as it is
    link = tab.evaluate(
        "Array.from(document.querySelectorAll('#low-ratings a')).map(function (a) {"
        " return a.getAttribute('href'); })"
    )
    assert link and all(href.startswith("https://") for href in link)
    assert tab.log.dialogs == [] and tab.log.problems == []

    missed = _open(browser, built / "missed-calls-отдел-img-src-x-onerror-alert-2.html")
    text = missed.evaluate("document.body.innerText")
    assert small.XSS_DEPARTMENT in text and small.XSS_NUMBER in text
    assert missed.evaluate("document.querySelectorAll('img').length") == 0
    number_labels = missed.evaluate(
        "Array.from(document.querySelectorAll('#chart-number .ytick text'))"
        ".map(function (t) { return t.textContent; })"
    )
    assert small.XSS_NUMBER in number_labels
    missed.settle(0.5)
    assert missed.log.dialogs == [] and missed.log.problems == []


def _count_scripts(path: Path) -> int:
    html = path.read_text("utf-8")
    body = html[html.index("<body>") :]
    return body.count("<script")


# Every word of the page whose letters do not all sit on one line: a word is a run of
# characters between spaces, hyphens, dashes and slashes (where a line may break), so a
# phone number, a time, a label or a name split in two is found; each as [word, lines].
SPLIT_WORDS_JS = """
(function () {
  var found = [];
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  var word = /[^\\s\\-\u2010-\u2015\\/]+/g;
  for (var node = walker.nextNode(); node; node = walker.nextNode()) {
    var text = node.nodeValue, match;
    word.lastIndex = 0;
    while ((match = word.exec(text)) !== null) {
      var range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      var tops = {};
      Array.from(range.getClientRects()).forEach(function (r) {
        if (r.width > 0) { tops[Math.round(r.top)] = true; }
      });
      var lines = Object.keys(tops).length;
      if (lines > 1) { found.push([match[0], lines]); }
    }
  }
  return found;
})()
"""


def test_the_weekly_email_fits_a_phone_screen(
    browser: Browser, settings: Settings, tmp_path: Path
) -> None:
    routing = weekly_email.Routing({small.XSS_DEPARTMENT: ("x@example.ru",)})
    messages, _ = weekly_email.prepare(
        settings, small.WEEK, routing, dry_run=True, cap=25, now=small.NOW
    )
    written = weekly_email.write_dry_run(messages, tmp_path)
    assert len(written) == 2
    for eml in written:
        page = eml.with_suffix(".html")
        tab = browser.new_tab(width=400, height=800)
        tab.open(page.resolve().as_uri())
        tab.settle(0.3)
        widths = tab.evaluate(
            "[document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
        )
        assert widths[0] <= 400 and widths[1] <= 400 and widths[2] == 400, (page.name, widths)
        # nothing breaks in the middle of a word: labels, phone numbers, times, names
        assert tab.evaluate(SPLIT_WORDS_JS) == [], page.name
        assert tab.evaluate("document.querySelectorAll('script').length") == 0
        assert tab.evaluate("document.querySelectorAll('a[href^=\"tel:\"]').length") > 0
        text = tab.evaluate("document.body.innerText")
        assert "Как считаем." in text
        assert tab.log.dialogs == [] and tab.log.problems == []
        if "roll-up" in page.name:
            tab.screenshot(tmp_path / "email-400.png", width=400)


def test_the_call_back_digest_reads_on_a_phone(
    browser: Browser, settings: Settings, tmp_path: Path
) -> None:
    """The morning's digest at 400 px: no sideways scrolling, no word broken in two, a tap
    calls each client."""
    from datetime import date

    from vats_etl import callback_digest

    routing = weekly_email.Routing({"Отдел продаж": ("s@example.ru",)})
    messages, _ = callback_digest.prepare(
        settings, routing, day=date(2024, 6, 10), dry_run=True, now=small.NOW
    )
    written = weekly_email.write_dry_run(messages, tmp_path)
    assert len(written) == 2
    for eml in written:
        page = eml.with_suffix(".html")
        tab = browser.new_tab(width=400, height=800)
        tab.open(page.resolve().as_uri())
        tab.settle(0.3)
        widths = tab.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert widths[0] <= 400 and widths[1] == 400, (page.name, widths)
        assert tab.evaluate(SPLIT_WORDS_JS) == [], page.name
        rows = tab.evaluate("document.querySelectorAll('tr[data-client]').length")
        assert rows > 0
        tel = "document.querySelectorAll('tr[data-client] a[href^=\"tel:\"]').length"
        assert tab.evaluate(tel) == rows
        assert tab.log.dialogs == [] and tab.log.problems == []
