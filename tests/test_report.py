"""The HTML report: rendered from a real warehouse (sample source with image files,
tiny open_clip embedders, the technical scorer), checked as files and in headless
Chromium (Debian's chromium + chromedriver; scripts/test.sh installs them)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from neurostock.cli import main
from neurostock.sampledata.source import write_sample
from tests.conftest import query
from tests.conftest import run_cli as _cli
from tests.tiny_clip import tiny_checkpoint

pytestmark = pytest.mark.slow

HOSTILE = "<script>alert(1)</script>"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def _plant_hostile_prompt(source: Path) -> int:
    """Give one image rated once (1-4) a prompt that is also HTML."""
    con = sqlite3.connect(source)
    with con:
        image_id = con.execute(
            "select cast(id as integer) from metadata group by id "
            "having count(*) = 1 and max(rating) between 1 and 4 order by 1 limit 1"
        ).fetchone()[0]
        con.execute("update img_info set img_generation_promt = ? where id = ?",
                    (f"6_{HOSTILE}", image_id))
    con.close()
    return image_id


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    root = tmp_path_factory.mktemp("reported")
    summary = write_sample(root / "sample", rows=300, seed=23)
    hostile_id = _plant_hostile_prompt(summary.db_path)
    model_config, checkpoint = tiny_checkpoint(root)
    config = root / "neurostock.yml"
    config.write_text(
        "embedders:\n"
        f"  - {{id: tiny, library: open_clip, model: tiny-clip-test, model_config: {model_config},"
        f" pretrained: {checkpoint}, batch_size: 32}}\n"
        f"  - {{id: tiny_random, library: open_clip, model: tiny-clip-test,"
        f" model_config: {model_config}, pretrained: random, kinds: [image]}}\n"
        "scorers: [technical]\n"
        f"images: {{dest: {root / 'all_data'}}}\n"
    )
    warehouse = root / "warehouse.duckdb"
    assert _cli(warehouse, config, "ingest", str(summary.db_path)) == 0
    assert _cli(warehouse, config, "build", "--vars", "{cluster_k_values: [3, 4]}") == 0
    out = root / "report"
    assert _cli(warehouse, config, "report", "--out", str(out)) == 0
    return warehouse, config, out, hostile_id


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append((tag, value))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.scripts.append(data)


def _report_pages(out: Path) -> list[Path]:
    return [p for p in out.rglob("*.html") if "dbt-docs" not in p.parts]


def test_every_page_exists_and_links_only_inside_the_report(reported):
    warehouse, _, out, _ = reported
    ids = [r[0] for r in query(warehouse, "select image_id from full_set")]
    for name in ("index.html", "scores.html", "agreement.html", "thresholds.html",
                 "keywords.html", "dbt-docs/index.html"):
        assert (out / name).is_file(), name
    assert {p.stem for p in (out / "images").glob("*.html")} == {str(i) for i in ids}
    assert (out / "clusters" / "tiny.html").is_file()
    pages = _report_pages(out)
    checked = 0
    root = out.resolve()
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        assert not parser.scripts, f"{page}: inline script"
        for _tag, link in parser.links:
            parsed = urlparse(link)
            assert not parsed.scheme and not parsed.netloc, f"{page}: external {link}"
            if not parsed.path:
                continue  # an anchor on the same page
            target = (page.parent / unquote(parsed.path)).resolve()
            assert target.is_relative_to(root), f"{page}: {link} leaves the report"
            assert target.exists(), f"{page}: {link} is missing"
            checked += 1
    assert checked > 1000


# An interval or a pair of bounds with an end left blank: "[0.000, ]", "[, 0.4]", "0.1 – ".
_HALF_OPEN = re.compile(r"\[[^\[\]<>]*,\s*\]|\[\s*,[^\[\]<>]*\]|–\s*<")


def test_an_interval_with_a_missing_end_is_said_in_words():
    from neurostock.reports.site import _environment

    template = _environment().from_string(
        '{% import "macros.html.j2" as m %}'
        "{{ m.interval(0.0, none) }}|{{ m.interval(none, 0.4) }}|{{ m.interval(0.1, 0.4) }}|"
        "{{ m.figure_or_bounds(none, 0.2, 0.7) }}|{{ m.figure_or_bounds(none, 0.0, none) }}|"
        "{{ m.figure_or_bounds(none, 0.1, 0.3, true, 'dropped', 'kept') }}|"
        "{{ m.figure_or_bounds(0.5, 0.5, 0.5) }}")
    parts = template.render().split("|")
    assert not any(_HALF_OPEN.search(part) for part in parts), parts
    assert parts[0].startswith("at least 0.000") and parts[1].startswith("at most 0.400")
    assert parts[2] == "[0.100, 0.400]"
    assert parts[3].startswith("between 0.200 and 0.700") \
        and "bounds: unscored counted bad / good" in parts[3]
    assert parts[4].startswith("at least 0.000") and "undefined" in parts[4]
    assert parts[5].startswith("between 10.0% and 30.0%") and "dropped / kept" in parts[5]
    assert parts[6] == "0.500"


def test_no_page_shows_a_half_open_interval(reported):
    _, _, out, _ = reported
    for page in _report_pages(out):
        found = _HALF_OPEN.search(page.read_text(encoding="utf-8"))
        assert found is None, f"{page}: {found and found.group(0)}"


# What makes a browser fetch something: an element's src (or a stylesheet's href), a
# script setting .src, CSS url() and @import; and the hosts of dbt's usage tracker.
_EXTERNAL_LOADS = re.compile(
    r"""<(?:script|img|iframe|link|source|video|audio|embed)\b[^>]*\b(?:src|href)\s*=\s*["']?"""
    r"""(?:https?:)?//|\.src\s*=\s*["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?["']?(?:https?:)?//|cloudfront\.net|sinter-collect\.com""",
    re.IGNORECASE)


def _external_loads(text: str) -> list[str]:
    return [text[max(0, m.start() - 40):m.end() + 40] for m in _EXTERNAL_LOADS.finditer(text)]


def test_the_dbt_docs_page_fetches_nothing_from_outside(reported):
    _, _, out, _ = reported
    page = (out / "dbt-docs" / "index.html").read_text(encoding="utf-8")
    assert "dbt" in page and len(page) > 100_000  # the real page, with its manifest
    assert _external_loads(page) == []
    for path in _report_pages(out):
        assert _external_loads(path.read_text(encoding="utf-8")) == [], path


def test_the_check_catches_dbts_own_page_and_its_tracker():
    """dbt's template as shipped names its tracker: the check above would fail on it."""
    import dbt.task.docs

    stock = (Path(dbt.task.docs.__file__).parent / "index.html").read_text(encoding="utf-8")
    assert any("cloudfront.net" in hit for hit in _external_loads(stock))
    from neurostock.reports.dbt_docs import offline_docs_page

    assert _external_loads(offline_docs_page(stock)) == []


def test_a_hostile_prompt_is_text_everywhere(reported):
    _, _, out, hostile_id = reported
    page = (out / "images" / f"{hostile_id}.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for path in _report_pages(out):
        assert HOSTILE not in path.read_text(encoding="utf-8"), path


def test_the_samples_planted_signals_are_announced_next_to_the_figures(reported):
    _, _, out, _ = reported
    for name in ("index.html", "scores.html", "agreement.html", "thresholds.html",
                 "clusters/tiny.html"):
        text = (out / name).read_text(encoding="utf-8")
        assert 'id="planted-signals"' in text and "by construction" in text, name
    index = (out / "index.html").read_text(encoding="utf-8")
    agreement = index.split("<h2>Best agreement")[1].split("</table>")[0]
    assert "Synthetic sample:" in agreement and "not findings" in agreement


def test_a_team_source_gets_no_planted_signals_banner(tmp_path, tiny_source):
    warehouse = tmp_path / "w.duckdb"
    assert main(["--warehouse", str(warehouse), "ingest", str(tiny_source)]) == 0
    from neurostock.core.warehouse import connect
    from neurostock.reports.data import planted_sample

    with connect(warehouse, read_only=True) as con:
        assert planted_sample(con) is None


def test_random_weights_are_announced_on_every_page(reported):
    _, _, out, _ = reported
    for name in ("index.html", "scores.html", "clusters/tiny_random.html"):
        text = (out / name).read_text(encoding="utf-8")
        assert 'class="banner"' in text and "tiny_random" in text, name


def test_a_second_run_reuses_thumbnails_figures_and_docs(reported, capsys):
    warehouse, config, out, _ = reported
    thumbs = sorted(p.relative_to(out) for p in (out / "thumbs").rglob("*.jpg"))
    assert thumbs
    stamp = {p: p.stat().st_mtime_ns for p in (out / "thumbs").rglob("*.jpg")}
    pages = {p: p.stat().st_mtime_ns for p in (out / "images").glob("*.html")}
    docs = (out / "dbt-docs" / "index.html").stat().st_mtime_ns
    capsys.readouterr()
    # How long this takes is measured by benchmarks/bench_report.py; here: that the
    # second run redoes nothing.
    assert _cli(warehouse, config, "report", "--out", str(out)) == 0
    line = capsys.readouterr().out
    assert "0 figures drawn" in line and "thumbnails 0 made" in line
    assert "dbt docs unchanged" in line, line
    assert {p: p.stat().st_mtime_ns for p in (out / "thumbs").rglob("*.jpg")} == stamp
    assert {p: p.stat().st_mtime_ns for p in (out / "images").glob("*.html")} == pages
    assert (out / "dbt-docs" / "index.html").stat().st_mtime_ns == docs
    report = json.loads((out / "report.json").read_text())
    assert report["thumbnails_failed"] == {}


def test_thumbnails_are_named_by_the_image_content(reported):
    warehouse, _, out, _ = reported
    hashes = {r[0] for r in query(warehouse, "select file_sha256 from rpt_image_pages "
                                             "where file_status = 'ok'")}
    made = {p.stem for p in (out / "thumbs").rglob("*.jpg")}
    assert made == hashes


def test_report_on_an_unbuilt_warehouse_says_what_to_do(tmp_path, tiny_source, capsys):
    warehouse = tmp_path / "w" / "warehouse.duckdb"
    assert main(["--warehouse", str(warehouse), "ingest", str(tiny_source)]) == 0
    capsys.readouterr()
    assert main(["--warehouse", str(warehouse), "report", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip()
    assert "run `neurostock build` first" in err and len(err.splitlines()) == 1


# ------------------------------------------------------------------ in a real browser

@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium + chromium-driver are not installed "
                    "(scripts/test.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="neurostock-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", f"--user-data-dir={profile}", "--window-size=1400,1800"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


_ALL_IMAGES_LOADED = """
document.querySelectorAll('img[loading=lazy]').forEach(function (i) { i.loading = 'eager'; });
var images = Array.from(document.images);
return {total: images.length,
        pending: images.filter(function (i) { return !i.complete; }).length,
        broken: images.filter(function (i) { return i.complete && i.naturalWidth === 0; })
                      .map(function (i) { return i.getAttribute('src'); })};
"""


def _open(driver, path: Path, screenshot: Path | None = None) -> dict:
    driver.get(path.resolve().as_uri())
    deadline = time.monotonic() + 20
    state = driver.execute_script(_ALL_IMAGES_LOADED)
    while state["pending"] and time.monotonic() < deadline:
        time.sleep(0.1)
        state = driver.execute_script(_ALL_IMAGES_LOADED)
    if screenshot is not None:
        driver.save_screenshot(str(screenshot))
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return {**state, "errors": errors}


def test_pages_render_in_chromium_with_every_asset(reported, browser, tmp_path):
    _, _, out, _ = reported
    for name, shot in (("index.html", "index.png"), ("clusters/tiny.html", "cluster.png"),
                       ("scores.html", None), ("thresholds.html", None),
                       ("clusters/tiny/rating.html", None)):
        page = out / name
        if not page.exists():
            continue
        state = _open(browser, page, tmp_path / shot if shot else None)
        assert state["errors"] == [], (name, state["errors"])
        assert state["pending"] == 0 and state["broken"] == [], (name, state)
        if shot:
            assert (tmp_path / shot).stat().st_size > 10_000
    # The style sheet applied, and the sorting script ran.
    _open(browser, out / "scores.html")
    colour = browser.execute_script(
        "return getComputedStyle(document.querySelector('header')).backgroundColor")
    assert colour == "rgb(31, 59, 87)"
    header = browser.find_element("css selector", "table.sortable th")
    header.click()
    assert "sorted-asc" in header.get_attribute("class")
    shots = [p.name for p in tmp_path.glob("*.png")]
    print(f"screenshots: {tmp_path} {shots}")


def test_every_kind_of_page_logs_no_console_error_when_served(reported, browser):
    """One page of every kind, served over HTTP as a shared report is (a file:// page
    asks for no favicon; a served one does): no console error, every image loaded."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    _, _, out, _ = reported
    kinds = sorted({str(p.relative_to(out)) for p in out.glob("*.html")}) + [
        str(next(out.glob(pattern)).relative_to(out))
        for pattern in ("images/*.html", "clusters/*.html", "clusters/*/*.html",
                        "dbt-docs/index.html")]
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(Quiet, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser.get_log("browser")  # what earlier pages logged
    try:
        for name in kinds:
            browser.get(f"http://127.0.0.1:{server.server_port}/{name}")
            time.sleep(1)  # the favicon is asked for after the page has loaded
            state = _open_loaded(browser)
            assert state["errors"] == [], (name, state["errors"])
            assert state["pending"] == 0 and state["broken"] == [], (name, state)
    finally:
        server.shutdown()
        server.server_close()


def _open_loaded(driver) -> dict:
    """The page now open in `driver` once its images loaded, with its console errors."""
    deadline = time.monotonic() + 20
    state = driver.execute_script(_ALL_IMAGES_LOADED)
    while state["pending"] and time.monotonic() < deadline:
        time.sleep(0.1)
        state = driver.execute_script(_ALL_IMAGES_LOADED)
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return {**state, "errors": errors}


def test_no_page_is_wider_than_a_1366_px_window(reported, browser):
    """Every top-level page, one image page and one cluster page, at 1366 px: the page
    never scrolls sideways (a wide table scrolls inside itself)."""
    _, _, out, _ = reported
    pages = sorted(out.glob("*.html")) + [next(out.glob("images/*.html")),
                                          next(out.glob("clusters/*.html"))]
    browser.set_window_size(1366, 900)
    try:
        for page in pages:
            browser.get(page.resolve().as_uri())
            width = browser.execute_script(
                "return [document.documentElement.scrollWidth, "
                "document.documentElement.clientWidth]")
            assert width[0] <= width[1], (page.name, width)
    finally:
        browser.set_window_size(1400, 1800)
    assert {"index.html", "submission.html", "decision.html"} <= {p.name for p in pages}


def test_the_decision_page_leads_with_the_top_scores_curves(reported):
    _, _, out, _ = reported
    page = (out / "decision.html").read_text(encoding="utf-8")
    lead = page.index('id="decision-lead"')
    assert lead < page.index('id="decision"')
    src = re.search(r'id="decision-lead"><img src="(plots/decision_overview-[0-9a-f]+\.svg)"',
                    page).group(1)
    assert (out / src).stat().st_size > 5_000


def test_the_hostile_prompt_shows_as_text_in_chromium(reported, browser):
    from selenium.common.exceptions import NoAlertPresentException

    _, _, out, hostile_id = reported
    state = _open(browser, out / "images" / f"{hostile_id}.html")
    assert state["errors"] == [] and state["broken"] == []
    prompts = [e.text for e in browser.find_elements("css selector", "td.prompt")]
    assert prompts[0] == HOSTILE
    assert HOSTILE in prompts[1]
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    scripts = browser.execute_script(
        "return Array.from(document.scripts).map(function (s) { return s.src || s.text; })")
    assert all(re.search(r"assets/sort\.js$", s) for s in scripts), scripts
