"""The rating loop: the app `neurostock rate` in a real headless Chromium (rates by key,
undoes, two sessions at once), its refusals (images outside files.images, bad fields,
cross-site posts), the one-writer lock, the ratings' way into image_ratings, the
export, the queue (no near-duplicate pair) and the learning curve. Real DuckDB, real
dbt, real SQLite, real image files; the app runs as the real command in a child
process on 127.0.0.1."""

from __future__ import annotations

import csv
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from neurostock.sampledata.source import write_sample
from tests.conftest import copy_warehouse, query, sha256_of
from tests.conftest import run_cli as _cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """A 500-row sample with pHash and technical scores, a learned model on the scores,
    and two unrated images made near-duplicates of each other (same file content)."""
    root = tmp_path_factory.mktemp("rate")
    summary = write_sample(root / "sample", rows=500, seed=31)
    source = sqlite3.connect(summary.db_path)
    rated_ids = {r[0] for r in source.execute("select id from metadata")}
    paths = [(i, p) for i, p, n in source.execute(
                 "select id, img_path, img_name from img_info order by id")
             if i not in rated_ids and p and Path(p).is_file() and not (n or "").startswith("7")]
    source.close()
    (a_id, a_path), (b_id, b_path) = paths[3], paths[4]
    shutil.copyfile(a_path, b_path)
    config = root / "neurostock.yml"
    config.write_text(
        "scorers: [technical, phash]\n"
        "learned:\n"
        "  - {name: quality, embedders: [], scores: true}\n"
        f"images: {{dest: {root / 'all_data'}}}\n")
    warehouse = root / "warehouse.duckdb"
    assert _cli(warehouse, config, "ingest", str(summary.db_path)) == 0
    assert _cli(warehouse, config, "build") == 0
    return warehouse, config, root, (a_id, b_id), summary


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _app(warehouse: Path, config: Path, *extra: str, host: str = "127.0.0.1",
         log: list[str] | None = None):
    """`neurostock rate` as a child process on a free port; its URL while it runs. Its
    stderr goes to `log` when it has stopped."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from neurostock.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "--warehouse", str(warehouse), "--config",
         str(config), "rate", "--port", str(port), "--host", host, *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://{host}:{port}/"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the app did not start: {proc.communicate()}") \
                        from None
                time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if log is not None:
            log.append(err)


class _Session:
    """One browser-like session over HTTP: its cookie and CSRF token from the page."""

    def __init__(self, url: str):
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = self.get("")[1].decode()
        self.token = re.search(r'data-csrf="([^"]+)"', page).group(1)
        self.image_id = int(re.search(r'data-image-id="(\d+)"', page).group(1))

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def post(self, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
        request = urllib.request.Request(self.url + path, data=body, headers=headers,
                                         method="POST")
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def rate(self, image_id, rating, **overrides) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json", "X-CSRF-Token": self.token,
                   "Origin": self.url.rstrip("/")}
        headers.update(overrides.pop("headers", {}))
        payload = overrides.pop("payload", {"image_id": image_id, "rating": rating})
        return self.post("api/rate", json.dumps(payload).encode(), headers)


def _local(warehouse: Path) -> list[tuple]:
    return query(warehouse, "select rating_id, image_id, rating, retracts_rating_id, "
                            "annotator, app_session from annotations.ratings order by rating_id")


def test_the_page_escapes_the_prompt():
    from neurostock.rate.app import environment
    from neurostock.rate.store import QueueItem

    html = environment().get_template("rate.html.j2").render(
        item=QueueItem(1, '<img src=x onerror="alert(1)">', Path("x.jpg")), index=0, total=1,
        n_rated=0, given=None, csrf='"><script>', annotator="<b>", queue="active")
    assert "<img src=x" not in html and "<script>" not in html and "<b>" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


# ------------------------------------------------------------------ the queue

def test_the_queue_ranks_unrated_images_with_files_and_a_reason(rated):
    warehouse, *_ = rated
    rows = query(warehouse, "select queue_rank, image_id, reason, priority from rpt_rating_queue "
                            "order by queue_rank")
    assert len(rows) > 50
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert all(r[2] for r in rows)
    assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True)
    assert not query(warehouse, """
        select image_id from rpt_rating_queue
        where image_id in (select image_id from image_ratings)
           or image_id not in (select image_id from files.images where status = 'ok')""")


def test_the_queue_never_holds_a_near_duplicate_pair(rated):
    warehouse, _, _, (a_id, b_id), _ = rated
    group = query(warehouse, "select image_id, group_id from near_duplicate_groups "
                             f"where image_id in ({a_id}, {b_id})")
    assert len(group) == 2 and group[0][1] == group[1][1]  # the planted pair
    queued = {r[0] for r in query(warehouse, "select image_id from rpt_rating_queue")}
    assert len(queued & {a_id, b_id}) == 1
    assert not query(warehouse, """
        select g.group_id from rpt_rating_queue q join near_duplicate_groups g using (image_id)
        group by g.group_id having count(*) > 1""")


def test_the_simulation_ranks_by_the_queues_own_rule(rated):
    """learn/queue_simulation.py's priority, given the warehouse's inputs (the learned
    scores the queue used, the rated images' sellability, clusters, experiment models,
    prefixes, scorers' spread), is rpt_rating_queue's priority for every queued image,
    and its boundary the queue's."""
    import duckdb
    import numpy as np

    from neurostock.learn.queue_simulation import QueueRule, boundary, load_rated, priority

    warehouse, *_ = rated
    queued = query(warehouse, "select image_id, learned_score, priority, uncertainty_boundary, "
                              "learned_scorer_id from rpt_rating_queue order by image_id")
    assert queued and all(r[1] is not None for r in queued)
    scorer = queued[0][4]
    known = query(warehouse, f"""
        select r.image_id, s.score, r.is_sellable from image_ratings r
        semi join (select image_id from int_images_checked where is_valid) using (image_id)
        left join scores s on s.image_id = r.image_id and s.scorer_id = '{scorer}'
        order by r.image_id""")
    ids = np.array([r[0] for r in known] + [r[0] for r in queued], dtype=np.int64)
    sellable = np.array([bool(r[2]) for r in known] + [False] * len(queued))
    zeros = np.zeros(len(ids))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        inputs = load_rated(con, ids, zeros, sellable, zeros.astype(bool), ids)
    assert len({c for c in inputs.experiment if c is not None}) > 1
    assert inputs.disagreement.max() > 0
    prediction = np.array([np.nan if r[1] is None else r[1] for r in known]
                          + [r[1] for r in queued], dtype=float)
    is_rated = np.r_[np.ones(len(known), bool), np.zeros(len(queued), bool)]
    rule = QueueRule.from_vars()
    # The model's own boundary, not the fallback (a sellable share strictly inside 0-1).
    assert 0 < sellable[is_rated].mean() < 1
    assert boundary(rule, prediction, sellable, is_rated) == pytest.approx(queued[0][3],
                                                                           abs=1e-4)
    assert abs(queued[0][3] - rule.threshold) > 0.01
    value = priority(rule, prediction, inputs, is_rated)[len(known):]
    assert np.allclose(value, [r[2] for r in queued], atol=1e-4)


@pytest.mark.data_tests
def test_the_queue_rule_puts_the_planted_uncertain_region_first(rated):
    """dbt's unit test of rpt_rating_queue: images the learned model puts at the
    threshold come first; a near-duplicate, an image without a file and a rated image
    never enter."""
    warehouse, config, *_ = rated
    assert _cli(warehouse, config, "dbt", "test", "--select",
                "rpt_rating_queue,test_type:unit") == 0


def test_the_random_queue_is_a_seeded_sample_of_the_same_pool(rated):
    import duckdb

    from neurostock.rate.store import load_queue

    warehouse, *_ = rated
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        first = [q.image_id for q in load_queue(con, "random", 30)]
        again = [q.image_id for q in load_queue(con, "random", 30)]
        active = [q.image_id for q in load_queue(con, "active", 30)]
    finally:
        con.close()
    assert first == again and len(first) == 30 and first != active
    assert not query(warehouse, f"""
        select image_id from files.images where image_id in ({", ".join(map(str, first))})
          and (status != 'ok' or image_id in (select image_id from image_ratings)
               or image_id not in (select image_id from pool
                                   where source_rating is null))""")


# ------------------------------------------------------------------ the app, by HTTP

def test_refusals_write_nothing(rated):
    warehouse, config, *_ = rated
    before = _local(warehouse)
    outside = query(warehouse, "select max(image_id) + 1000 from files.images")[0][0]
    unknown_status = query(warehouse, """
        select min(image_id) from int_images_checked
        where is_valid and image_id not in (select image_id from files.images)""")[0][0]
    with _app(warehouse, config, "--annotator", "mallory") as url:
        s = _Session(url)
        assert s.get(f"image/{s.image_id}")[0] == 200
        assert s.get(f"image/{outside}")[0] == 404
        assert s.get(f"image/{unknown_status}")[0] == 404
        assert s.get("image/..%2F..%2Fetc%2Fpasswd")[0] == 404
        assert s.get("?i=-1")[0] == 400
        assert s.rate(s.image_id, 7)[0] == 400
        assert s.rate(s.image_id, 0)[0] == 400
        assert s.rate(s.image_id, "3")[0] == 400
        assert s.rate(s.image_id, True)[0] == 400
        assert s.rate(outside, 3)[0] == 400
        assert s.rate(None, None, payload={"image_id": s.image_id})[0] == 400
        assert s.rate(None, None, payload={"image_id": s.image_id, "rating": 3,
                                           "path": "/etc/passwd"})[0] == 400
        # Cross-site: another origin, even with the cookie and the token.
        assert s.rate(s.image_id, 3, headers={"Origin": "http://evil.example"})[0] == 403
        # A forged HTML form: no token, form encoding, another origin.
        status, _ = s.post("api/rate", b"image_id=1&rating=3", {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "http://evil.example"})
        assert status == 403
        # Same origin but no token (a page that is not ours cannot read it).
        assert s.rate(s.image_id, 3, headers={"X-CSRF-Token": "guess"})[0] == 403
        # Right token, wrong encoding.
        status, _ = s.post("api/rate", b"image_id=1&rating=3", {
            "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": s.token,
            "Origin": url.rstrip("/")})
        assert status == 415
        # DNS rebinding: a foreign Host header.
        assert s.get("", headers={"Host": "evil.example"})[0] == 400
        assert s.post("api/undo", b"{}", {"Content-Type": "application/json",
                                          "X-CSRF-Token": s.token,
                                          "Origin": url.rstrip("/")})[0] == 409
    assert _local(warehouse) == before


def test_a_build_meanwhile_gets_one_line(rated, capsys):
    warehouse, config, *_ = rated
    with _app(warehouse, config, "--annotator", "builder"):
        capsys.readouterr()
        assert _cli(warehouse, config, "build", "-s", "image_ratings") == 1
        err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "in use by `neurostock rate`" in err


def test_host_and_port_are_checked_in_one_line(rated, capsys):
    from neurostock.rate.app import check_host

    warehouse, config, *_ = rated
    for args, words in ((["--port", "70000"], "--port must be an integer 1-65535"),
                        (["--port", "http"], "--port must be an integer 1-65535"),
                        (["--host", "0.0.0.0"], "not a wildcard"),
                        (["--host", "::1"], "IPv6 addresses are not supported"),
                        (["--host", "evil host/"], "neither an IPv4 address nor a host name")):
        capsys.readouterr()
        assert _cli(warehouse, config, "rate", *args) == 1, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, (args, err)
    assert check_host("127.0.0.1") is None and check_host("localhost") is None
    assert "no login" in check_host("192.168.1.20") and "no login" in check_host("rater.lan")


def test_another_host_must_be_asked_for_and_warns_once(rated):
    """Only an explicit --host other than 127.0.0.1/localhost listens elsewhere, with
    one warning line; the app then answers on that address."""
    warehouse, config, *_ = rated
    logs: list[str] = []
    with _app(warehouse, config, "--annotator", "dora", host="127.0.0.2", log=logs) as url:
        assert _Session(url).image_id > 0
    warnings = [line for line in logs[0].splitlines() if "no login" in line]
    assert len(warnings) == 1 and "127.0.0.2" in warnings[0]
    logs.clear()
    with _app(warehouse, config, "--annotator", "dora", log=logs) as url:
        _Session(url)
    assert "no login" not in logs[0]


@pytest.mark.data_tests
def test_rated_in_the_app_then_built_reach_image_ratings_the_model_and_the_page(rated,
                                                                                tmp_path):
    """The issue's "done when": after a build, the app (real uvicorn, over HTTP: the
    Chromium tests below drive the same endpoints by key) rates four images, `neurostock
    build` runs, and image_ratings holds them as local ratings, the learned model is
    retrained on exactly the three usable ones more, and the Ratings page lists them."""
    warehouse, config, *_ = rated
    copy = copy_warehouse(warehouse, tmp_path / "loop" / warehouse.name)
    n_train, data_sha = query(copy, "select n_train, data_sha256 from meta.learned_models "
                                    "where scorer_id = 'learned_quality'")[0]
    full_set = query(copy, "select count(*) from full_set")[0][0]
    source_images = query(copy, "select count(*) from image_ratings "
                                "where rating_sources = ['source']")[0][0]
    assert n_train == full_set
    given = [3, 4, 2, 5]  # three usable ratings and one unusable
    with _app(copy, config, "--annotator", "carol") as url:
        s = _Session(url)
        ids = [int(re.search(r'data-image-id="(\d+)"', s.get(f"?i={i}")[1].decode()).group(1))
               for i in range(len(given))]
        for image_id, rating in zip(ids, given, strict=True):
            assert s.rate(image_id, rating)[0] == 200
    # Ratings other tests of this module gave before the copy join the build as well.
    earlier = dict(query(copy, """
        select image_id, rating from annotations.ratings r
        where rating is not null and annotator != 'carol'
          and rating_id not in (select retracts_rating_id from annotations.ratings
                                where retracts_rating_id is not null)
        qualify row_number() over (partition by image_id order by rating_id desc) = 1"""))
    expected = {**earlier, **dict(zip(ids, given, strict=True))}
    assert _cli(copy, config, "build") == 0
    local = query(copy, "select image_id, rating, rating_sources, n_local_ratings, "
                        "n_source_ratings from image_ratings where n_local_ratings > 0")
    assert {r[0]: r[1] for r in local} == expected
    assert all(r[2] == ["local"] and r[3] == 1 and r[4] == 0 for r in local
               if r[0] in ids)
    assert query(copy, "select count(*) from image_ratings "
                       "where rating_sources = ['source']")[0][0] == source_images
    usable_new = sum(1 for rating in expected.values() if rating < 5)
    n_train_after, data_sha_after = query(copy, "select n_train, data_sha256 from "
                                                "meta.learned_models where scorer_id = "
                                                "'learned_quality'")[0]
    assert n_train_after == n_train + usable_new and data_sha_after != data_sha
    in_full_set = {r[0] for r in query(copy, f"select image_id from full_set where image_id "
                                             f"in ({', '.join(map(str, ids))})")}
    assert in_full_set == set(ids[:3])
    out = tmp_path / "report"
    assert _cli(copy, config, "report", "--out", str(out), "--no-docs") == 0
    page = (out / "ratings.html").read_text()
    table = page[page.index('id="local-ratings"'):]
    table = table[:table.index("</table>")]
    for image_id, rating in zip(ids, given, strict=True):
        assert (f'<td class="n">{image_id}</td><td class="n">{rating}</td><td>local</td>'
                in table), image_id


# ------------------------------------------------------------------ the app, in Chromium

@pytest.fixture(scope="module")
def chromium():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium + chromium-driver are not installed "
                    "(scripts/test.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers, profiles = [], []

    def start():
        profile = tempfile.mkdtemp(prefix="neurostock-rate-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-component-update",
                         "--no-first-run", f"--user-data-dir={profile}",
                         "--window-size=1200,1000"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        drivers.append(driver)
        profiles.append(profile)
        return driver

    yield start
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


_STATE = """
return document.readyState === 'complete' && document.body
    ? [document.body.dataset.index, document.body.dataset.imageId,
       (document.getElementById('status') || {}).textContent]
    : null;
"""


def _state(driver) -> list | None:
    from selenium.common.exceptions import WebDriverException

    try:
        return driver.execute_script(_STATE)
    except WebDriverException:  # between two pages
        return None


def _press(driver, key: str, expect_index: int) -> int:
    """Press `key` on the page; wait for the page at `expect_index`; its image id."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()
    deadline = time.monotonic() + 10
    state = None
    while time.monotonic() < deadline:
        state = _state(driver)
        if state and state[0] == str(expect_index):
            return int(state[1]) if state[1] else -1
        time.sleep(0.05)
    raise AssertionError(f"after {key!r}: page state {state}")


def test_rate_three_by_key_undo_one_in_chromium(rated, chromium, tmp_path):
    warehouse, config, *_ = rated
    before = len(_local(warehouse))
    driver = chromium()
    with _app(warehouse, config, "--annotator", "alice") as url:
        driver.get(url)
        body = driver.find_element("tag name", "body")
        assert body.get_attribute("data-index") == "0"
        image = driver.find_element("id", "image")
        deadline = time.monotonic() + 10
        while not driver.execute_script("return arguments[0].complete", image) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert driver.execute_script("return arguments[0].naturalWidth", image) > 0
        prompt = driver.find_element("id", "prompt").text
        shown = [int(body.get_attribute("data-image-id"))]
        shown.append(_press(driver, "3", 1))
        shown.append(_press(driver, "5", 2))
        text = driver.find_element("tag name", "body").text.lower()
        assert not any(w in text for w in ("priority", "learned", "score", "reason"))
        _press(driver, "1", 3)
        _press(driver, "u", 2)  # back to the image whose rating was taken back
        assert "2 of" in driver.find_element("id", "progress").text
        from selenium.webdriver.common.keys import Keys

        _press(driver, Keys.ARROW_LEFT, 1)
        assert "rated 5 here" in driver.find_element("id", "given").text
    rows = _local(warehouse)[before:]
    given = [(r[1], r[2]) for r in rows if r[3] is None]
    retracted = [r[3] for r in rows if r[3] is not None]
    assert given == [(shown[0], 3), (shown[1], 5), (shown[2], 1)]
    assert len(retracted) == 1 and retracted[0] == rows[2][0]
    assert {r[4] for r in rows} == {"alice"} and len({r[5] for r in rows}) == 1
    assert prompt == query(warehouse, "select prompt from pool where image_id = ?",
                           [shown[0]])[0][0]
    # Exactly the two standing ratings reach the marts, with their provenance.
    standing = query(warehouse, """
        select image_id, rating from int_ratings_unioned
        where rating_source = 'local' and is_valid and image_id in (?, ?, ?)
        order by image_id""", shown)
    assert sorted(standing) == sorted([(shown[0], 3), (shown[1], 5)])
    # On a copy (the module's warehouse keeps its marts consistent for the tests after).
    copy = copy_warehouse(warehouse, tmp_path / "copy" / warehouse.name)
    assert _cli(copy, config, "dbt", "run", "-s", "int_ratings_aggregated", "image_ratings") == 0
    facts = query(copy, "select image_id, rating, rating_sources, n_local_ratings "
                             "from image_ratings where image_id in (?, ?, ?) order by image_id",
                  shown)
    assert sorted(facts) == sorted([(shown[0], 3, ["local"], 1), (shown[1], 5, ["local"], 1)])


def test_two_sessions_rating_at_once_lose_nothing(rated, chromium):
    warehouse, config, *_ = rated
    before = len(_local(warehouse))
    first, second = chromium(), chromium()
    with _app(warehouse, config, "--annotator", "bob") as url:
        first.get(url + "?i=10")
        second.get(url + "?i=20")
        for step in range(4):
            _press(first, "2", 11 + step)
            _press(second, "4", 21 + step)
        # And a burst over HTTP from two more sessions in threads.
        import threading

        sessions = [_Session(url), _Session(url)]
        ids = [int(re.search(r'data-image-id="(\d+)"', sessions[0].get(f"?i={i}")[1].decode())
                   .group(1)) for i in range(40, 50)]
        results: list[int] = []

        def burst(session, images):
            for image_id in images:
                results.append(session.rate(image_id, 3)[0])

        threads = [threading.Thread(target=burst, args=(s, ids[k::2]))
                   for k, s in enumerate(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [200] * 10
    rows = _local(warehouse)[before:]
    assert len(rows) == 8 + 10 and all(r[3] is None for r in rows)
    assert len({r[0] for r in rows}) == 18
    assert len({r[5] for r in rows}) == 4  # four browser sessions


# ------------------------------------------------------------------ export

def test_export_twice_does_not_duplicate_and_never_touches_other_files(rated, capsys):
    warehouse, config, root, _, summary = rated
    standing = query(warehouse, """
        select rating_id, rating, image_id from annotations.ratings r
        where retracts_rating_id is null and rating_id not in (
            select retracts_rating_id from annotations.ratings
            where retracts_rating_id is not null)""")
    assert standing
    out = root / "export" / "ratings.db"
    for _ in range(2):
        assert _cli(warehouse, config, "ratings", "export", "--out", str(out)) == 0
    db = sqlite3.connect(out)
    columns = [r[1] for r in db.execute("pragma table_info(metadata)")]
    assert columns == ["rating", "rating_date", "annotator_id", "id"]
    rows = db.execute("select m.rating, m.id, e.rating_id from metadata m "
                      "join neurostock_export e on e.metadata_rowid = m.rowid").fetchall()
    users = dict(db.execute("select id, name from user").fetchall())
    db.close()
    assert sorted(rows) == sorted((r[1], r[2], r[0]) for r in standing)
    assert {"alice", "bob"} <= set(users.values())
    with open(out.with_suffix(".csv"), newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(standing)
    # The source file is never overwritten.
    sha = sha256_of(summary.db_path)
    capsys.readouterr()
    assert _cli(warehouse, config, "ratings", "export", "--out", str(summary.db_path)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a ratings export" in err
    assert sha256_of(summary.db_path) == sha


def test_curve_and_simulate_name_a_missing_model_in_one_line(rated, tmp_path, capsys):
    warehouse, config, *_ = rated
    bare = tmp_path / "bare.yml"
    bare.write_text("scorers: [technical]\n")
    for command in (("ratings", "curve"), ("ratings", "simulate")):
        capsys.readouterr()
        assert _cli(warehouse, bare, *command) != 0
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "no learned model in neurostock.yml" in err
        assert _cli(warehouse, config, *command, "--name", "nope") != 0
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "no learned model 'nope'" in err
        assert "(have: quality)" in err
    assert _cli(warehouse, config, "ratings", "simulate", "--seeds", "0") != 0
    assert "--seeds and --batch must be at least 1" in capsys.readouterr().err


# ------------------------------------------------------------------ learning curve

def test_learning_curve_queue_simulation_and_the_ratings_page(rated):
    warehouse, config, root, *_ = rated
    # The module's config plus a decision model: its curve is the one with the AUC.
    both = root / "curve.yml"
    both.write_text(config.read_text().replace(
        "learned:\n", "learned:\n  - {name: decision, embedders: [], scores: true, "
                      "model: decision, blocks: [prefix]}\n"))
    assert _cli(warehouse, both, "ratings", "curve", "--repeats", "2") == 0
    decided = query(warehouse, "select fraction, n_repeats, auc_sellable_mean, "
                               "auc_sellable_sd, auc_sellable_plus_1000, spearman_mean "
                               "from rpt_learning_curve where scorer_id = 'learned_decision' "
                               "order by fraction")
    assert len(decided) == 10 and all(0 <= r[2] <= 1 and r[5] is not None for r in decided)
    assert decided[0][3] is not None and decided[-1][1] == 1 and decided[0][4] is not None
    n_decision = query(warehouse, "select max(n_ratings) from rpt_learning_curve "
                                  "where scorer_id = 'learned_decision'")[0][0]
    assert n_decision == query(warehouse, "select count(*) from image_ratings where image_id "
                                          "in (select image_id from int_images_checked "
                                          "where is_valid)")[0][0]
    rows = query(warehouse, "select fraction, n_ratings, n_repeats, spearman_mean, "
                            "spearman_fit_b, spearman_plus_1000, auc_sellable_mean, "
                            "auc_sellable_plus_1000 from rpt_learning_curve "
                            "where scorer_id = 'learned_quality' order by fraction")
    assert [r[0] for r in rows] == [round(0.1 * k, 1) for k in range(1, 11)]
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    assert rows[0][2] == 2 and rows[-1][2] == 1
    assert all(r[4] == rows[0][4] and r[5] is not None for r in rows)
    # A ridge model never sees an unusable image: no AUC of sellable (the decision
    # model's is tested in tests/test_learning_curve.py).
    assert all(r[6] is None and r[7] is None for r in rows)
    # The queue replayed against random on the decision model's rated images.
    assert _cli(warehouse, both, "ratings", "simulate", "--seeds", "2", "--batch", "60") == 0
    points = query(warehouse, "select arm, seed, round, n_rated, n_test, auc_sellable "
                              "from annotations.queue_simulation "
                              "where scorer_id = 'learned_decision' order by arm, seed, round")
    assert {(p[0], p[1]) for p in points} == {(a, s) for a in ("queue", "random") for s in (0, 1)}
    assert all(0 <= p[5] <= 1 for p in points)
    for seed in (0, 1):
        mine = [p for p in points if p[1] == seed]
        # Every image of the decision population is either in the seed's test set or, by
        # the last round, rated; both arms rate as many per round.
        assert max(p[3] for p in mine) + mine[0][4] == n_decision
        assert ([p[3] for p in mine if p[0] == "queue"]
                == [p[3] for p in mine if p[0] == "random"])
    from neurostock.learn.queue_simulation import paired_differences, ratings_saved

    saved = ratings_saved([dict(zip(("arm", "seed", "round", "n_rated", "n_test",
                                     "auc_sellable"), p, strict=True)) | {"spearman": None}
                           for p in points])
    sql = query(warehouse, "select random_final_auc_sellable, random_final_n, "
                           "queue_reaches_auc_sellable_n, random_reaches_auc_sellable_n, "
                           "count(*) from rpt_queue_simulation "
                           "where scorer_id = 'learned_decision' group by all")
    assert len(sql) == 1 and sql[0][0] == pytest.approx(saved["random_final"])
    assert sql[0][1] == round(saved["random_final_n"])
    assert sql[0][2] == (round(saved["queue_reaches_n"]) if saved["queue_reaches_n"] else None)
    assert sql[0][3] == round(saved["random_reaches_n"])
    paired = paired_differences([dict(zip(("arm", "seed", "round", "n_rated", "n_test",
                                           "auc_sellable"), p, strict=True)) for p in points])
    intervals = query(warehouse, "select round, auc_sellable_difference, "
                                 "auc_sellable_difference_ci_low, auc_sellable_difference_ci_high "
                                 "from rpt_queue_simulation "
                                 "where scorer_id = 'learned_decision' order by round")
    assert [r[0] for r in intervals] == sorted(paired)
    for round_, difference, low, high in intervals:
        assert difference == pytest.approx(paired[round_]["difference"], abs=1e-9)
        assert (low, high) == (pytest.approx(paired[round_]["low"], abs=1e-3),
                               pytest.approx(paired[round_]["high"], abs=1e-3))
    out = root / "report"
    assert _cli(warehouse, config, "report", "--out", str(out), "--no-docs") == 0
    page = (out / "ratings.html").read_text()
    assert 'id="queue-simulation"' in page and "random's final" in page
    figure = re.search(r'src="(plots/queue-simulation-[0-9a-f]+\.svg)"', page)
    assert figure and (out / figure.group(1)).is_file()
    table = page[page.index('<table class="queue-simulation">'):]
    assert table[:table.index("</table>")].count("<tr>") == 1 + len(
        {p[2] for p in points if p[0] == "queue"})
    assert "learning curve" in page.lower() and "extrapolation" in page
    assert "AUC of sellable: the decision model only" in page
    assert "learned_decision (decision)" in page and "AUC of sellable (every rated image)" in page
    assert page.count("<tr>") > 10 and 'id="rating-queue"' in page
    thumbs = re.findall(r'src="(ratings/thumbs/[^"]+)"', page)
    assert thumbs and all((out / t).is_file() for t in thumbs)
    assert 'href="ratings.html"' in (out / "index.html").read_text()
