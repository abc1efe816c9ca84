"""The report in a real headless Chromium (Debian's /usr/bin/chromium driven by chromedriver
through selenium; nothing is downloaded or installed at test time): no console errors, every
plot rendered (each ``svg.plot`` has a non-empty box and children; as many as the sections
count), no request to anything but the file itself, and a screenshot in the test's folder.

Skipped where Chromium or chromedriver is missing, unless OVERCOAT_REQUIRE_BROWSER=1 (CI), where
that is a failure."""

import json
import os
import shutil
from pathlib import Path

import pytest

from overcoat.report.html import n_plots, page_sections, write_report

CHROMIUM = os.environ.get("OVERCOAT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("OVERCOAT_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1280,900",
]


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"{path} not found (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    why = _missing()
    if why:
        if os.environ.get("OVERCOAT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"OVERCOAT_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # both paths given: selenium's driver manager is never consulted (it would download)
    service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(driver, path: Path) -> tuple[list[dict], list[str]]:
    """Load ``path``; the console messages and every requested URL while it loaded."""
    driver.get_log("browser")  # drop what an earlier page left
    driver.get_log("performance")
    driver.get(path.as_uri())
    driver.execute_script("return document.readyState")
    console = driver.get_log("browser")
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return console, urls


def _plots(driver) -> list[dict]:
    return driver.execute_script(
        """return Array.from(document.querySelectorAll('svg.plot')).map(function (s) {
             var r = s.getBoundingClientRect();
             return {w: r.width, h: r.height, children: s.childElementCount,
                     shapes: s.querySelectorAll('path, use, text, rect, image').length,
                     label: s.getAttribute('aria-label')};
           });"""
    )


def test_report_in_headless_chromium(browser, docs, tmp_path):
    sections = page_sections(docs)
    page = write_report(docs, tmp_path / "report", command_line="overcoat run")
    console, urls = _open(browser, page)
    assert [m for m in console if m["level"] in ("SEVERE", "WARNING")] == []
    assert urls and all(u == page.as_uri() for u in urls), urls
    plots = _plots(browser)
    assert len(plots) == n_plots(sections) >= 4
    for p in plots:
        assert p["w"] > 100 and p["h"] > 50, p
        assert p["children"] > 0 and p["shapes"] > 10, p
    # the contents' links lead somewhere on the page
    missing = browser.execute_script(
        """return Array.from(document.querySelectorAll('nav a')).filter(function (a) {
             return !document.getElementById(a.getAttribute('href').slice(1)); }).length;"""
    )
    assert missing == 0
    assert browser.title.startswith("overcoat report: ")
    # the inlined stylesheet applies (a sans-serif font, the table of contents styled)
    style = browser.execute_script(
        """var b = getComputedStyle(document.body), n = getComputedStyle(document.querySelector('nav'));
           return [b.fontFamily, n.borderTopStyle];"""
    )
    assert "Arial" in style[0] and style[1] == "solid", style
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_leaderboard_report_in_headless_chromium(browser, tmp_path):
    """``overcoat leaderboard --all-runs --report``'s page (results store, html_store.py): the
    same checks, on the dot plots and the history plot."""
    from test_html_store import store_with_three_runs

    from overcoat.report.store import ResultsStore, leaderboard_doc, leaderboard_rows

    path = store_with_three_runs(tmp_path / "results.sqlite")
    rows = leaderboard_rows(ResultsStore(path).rows(), all_runs=True)
    doc = leaderboard_doc(rows, store=path, all_runs=True, query={"all_runs": True})
    sections = page_sections([doc])
    page = write_report([doc], tmp_path / "report", command_line="overcoat leaderboard")
    console, urls = _open(browser, page)
    assert [m for m in console if m["level"] in ("SEVERE", "WARNING")] == []
    assert urls and all(u == page.as_uri() for u in urls), urls
    plots = _plots(browser)
    assert len(plots) == n_plots(sections) == 3
    for p in plots:
        assert p["w"] > 100 and p["h"] > 50, p
        assert p["children"] > 0 and p["shapes"] > 10, p
    assert browser.title == "overcoat report: leaderboard"
    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_the_checks_catch_errors_and_requests(browser, tmp_path):
    """The same checks on a broken page: a console error, a request off the page, an empty
    plot, so that the test above can fail."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><title>x</title></head><body>"
        '<svg class="plot" width="0" height="0"></svg>'
        '<img src="http://127.0.0.1:9/x.png">'
        "<script>console.error('boom')</script></body></html>"
    )
    console, urls = _open(browser, bad)
    assert any("boom" in m["message"] for m in console if m["level"] == "SEVERE")
    assert "http://127.0.0.1:9/x.png" in urls
    (p,) = _plots(browser)
    assert p["w"] == 0 and p["children"] == 0


def test_chromium_is_debians(browser):
    """Not a browser build that selenium or playwright fetched: the one the test was given."""
    assert browser.capabilities["browserName"] in ("chrome", "chromium")
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists()
