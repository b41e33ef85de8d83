"""The weekly report and the owner digests read well at a phone's width (375 px), a mail
pane's (600 px) and a desktop's (1,400 px), in a real browser: headless Chromium (Debian's
package, scripts/install-chromium.sh) driven by Playwright.

Each page must not scroll sideways (``scrollWidth > innerWidth``), must not cut its headline
or a headline figure, and must not break a word in the middle: every run of letters and
digits lies on one line, unless the whole token around it (up to white space) is wider than
both its line and 120 px, when it has to break somewhere. An address may wrap at its dots
or its @. Without its <style> element —
as a mail client that strips it shows the page — it must still not scroll sideways.

Pages: the demo's (``overlap demo``) weekly report and every digest of its last week, and the
report-test warehouse's (hostile and long names) report and digests.
``OVERLAP_LAYOUT_SHOTS=<folder>`` keeps a full-page screenshot of each page at each width.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from reports.render import render_week
from tests.reports.conftest import GENERATED
from tests.reports.fixture import WEEK, build

CHROMIUM = Path(os.environ.get("OVERLAP_CHROMIUM", "/usr/bin/chromium"))
WIDTHS = (375, 600, 1400)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# What a reader would notice, measured in the page: sideways scrolling, headline elements
# cut or pushed out of view, and words broken in the middle (a word's text on two lines).
MEASURE = r"""() => {
  const width = window.innerWidth;
  const out = {scrollWidth: document.documentElement.scrollWidth, width, cut: [], broken: [],
               wide: []};
  for (const el of document.querySelectorAll('h1, h2, .figure, .week-chip, .sub')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.left < -0.5 || r.right > width + 0.5 || el.scrollWidth > el.clientWidth + 1)
      out.cut.push(el.className + ' ' + el.textContent.trim().slice(0, 60));
  }
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 0.5 && out.wide.length < 5)
      out.wide.push(el.tagName + '.' + el.className + ' ' + Math.round(r.right));
  }
  // A token (up to white space) wider than its whole line — a long address on a phone — has
  // to break somewhere. Any other broken word is a layout fault, and so is a column narrower
  // than an ordinary word: a token up to 120 px wide must never break.
  const fits = (text, el) => {
    let block = el;
    while (block.parentElement && getComputedStyle(block).display.startsWith('inline'))
      block = block.parentElement;
    const cs = getComputedStyle(block);
    const room = block.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    const probe = document.createElement('span');
    probe.style.cssText = 'position:absolute;visibility:hidden;white-space:nowrap';
    probe.style.font = getComputedStyle(el).font;
    probe.style.letterSpacing = getComputedStyle(el).letterSpacing;
    probe.textContent = text;
    document.body.appendChild(probe);
    const need = probe.getBoundingClientRect().width;
    probe.remove();
    return need <= Math.max(room, 120);
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const token = /\S+/g, run = /[\p{L}\p{N}]+/gu;
  const lines = (node, start, end) => {
    const range = document.createRange();
    range.setStart(node, start);
    range.setEnd(node, end);
    return new Set([...range.getClientRects()].filter(x => x.width > 0)
                   .map(x => Math.round(x.top))).size;
  };
  let node;
  while ((node = walker.nextNode())) {
    const el = node.parentElement;
    if (!el || el.closest('svg, .path') || el.getClientRects().length === 0) continue;
    let t;
    token.lastIndex = 0;
    while ((t = token.exec(node.data))) {
      if (lines(node, t.index, t.index + t[0].length) < 2) continue;
      let r;
      run.lastIndex = 0;
      while ((r = run.exec(t[0]))) {
        const at = t.index + r.index;
        if (lines(node, at, at + r[0].length) > 1 && fits(t[0], el)) out.broken.push(r[0]);
      }
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-chromium.sh (make test does), "
                    "or set OVERLAP_CHROMIUM to a Chromium binary")
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            java_script_enabled=True, offline=True)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def demo_pages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The demo's last weekly report and every digest of that week."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    subprocess.run([sys.executable, "-m", "overlap.cli", "demo", "--out", str(out), "-q"],
                   check=True, capture_output=True, timeout=300)
    week_dir = sorted(p for p in (out / "out").iterdir() if p.name[:4].isdigit())[-1]
    return [*week_dir.glob("overlap-*.html"), *sorted((week_dir / "digests").glob("*.html"))]


@pytest.fixture(scope="module")
def fixture_pages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The report-test warehouse: long and hostile names, a failed mailbox, quarantine."""
    con = duckdb.connect()
    try:
        wh = build(con)
        paths = render_week(wh.con, WEEK, tmp_path_factory.mktemp("fixture"),
                            generated_at=GENERATED, title="Acme Sales", subjects=True)
    finally:
        con.close()
    return [paths.html, *sorted(paths.digests.values())]


def measure(page: Page, path: Path, width: int, *, strip_style: bool = False) -> dict[str, Any]:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(path.as_uri())
    if strip_style:
        page.evaluate("() => document.querySelectorAll('style').forEach(s => s.remove())")
    shots = os.environ.get("OVERLAP_LAYOUT_SHOTS")
    if shots:
        name = f"{path.parent.parent.name}-{path.stem}-{width}{'-nostyle' if strip_style else ''}"
        page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=True)
    result: dict[str, Any] = page.evaluate(MEASURE)
    return result


def check(context: BrowserContext, pages: list[Path]) -> None:
    assert pages
    page = context.new_page()
    problems = []
    try:
        for path in pages:
            for width in WIDTHS:
                m = measure(page, path, width)
                if m["scrollWidth"] > m["width"]:
                    problems.append(f"{path.name} at {width}px scrolls sideways "
                                    f"({m['scrollWidth']}px): {m['wide']}")
                if m["cut"]:
                    problems.append(f"{path.name} at {width}px cuts {m['cut']}")
                if m["broken"]:
                    problems.append(f"{path.name} at {width}px breaks words {m['broken'][:8]}")
            bare = measure(page, path, WIDTHS[0], strip_style=True)
            if bare["scrollWidth"] > bare["width"]:
                problems.append(f"{path.name} without <style> at {WIDTHS[0]}px scrolls sideways "
                                f"({bare['scrollWidth']}px): {bare['wide']}")
    finally:
        page.close()
    assert not problems, "\n".join(problems)


def test_demo_report_and_digests_read_well_at_phone_mail_and_desktop_widths(
        browser: BrowserContext, demo_pages: list[Path]) -> None:
    check(browser, demo_pages)


def test_long_and_hostile_names_read_well_at_every_width(
        browser: BrowserContext, fixture_pages: list[Path]) -> None:
    check(browser, fixture_pages)


def test_the_check_sees_a_page_that_scrolls_sideways_and_a_broken_word(
        browser: BrowserContext, tmp_path: Path) -> None:
    """The measurement itself: a headline wider than the phone and a column that breaks words
    that would fit its line (as the old `word-break: break-all` addresses did) fail."""
    page_path = tmp_path / "bad.html"
    page_path.write_text(
        "<!DOCTYPE html><meta name=viewport content='width=device-width'>"
        "<h1 style='white-space:nowrap'>Your accounts contacted without you, this week</h1>"
        "<table style='table-layout:fixed;width:300px'><tr><td style='width:90px;"
        "word-break:break-all'>1 meeting and a reason</td><td>x</td></tr></table>",
        encoding="utf-8")
    page = browser.new_page()
    try:
        m = measure(page, page_path, 375)
    finally:
        page.close()
    assert m["scrollWidth"] > m["width"]
    assert m["cut"] and m["broken"]
