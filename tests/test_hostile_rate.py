"""The rating app and `submit` hand on only the files `images sync` checked: a file
swapped for a link (to /etc/passwd, to a picture outside the roots, to a 300 MB file)
or grown since is refused at the moment of use; request bodies are capped before they
are read; long digit ids are 404, not 500; every response carries the CSP and nosniff;
the page logs nothing in the browser's console. The real `neurostock rate` (uvicorn)
on 127.0.0.1 over real HTTP, a real warehouse built by the CLI, real files."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from tests.conftest import built_sample, copy_warehouse, query
from tests.conftest import run_cli as _cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CONFIG = "submission:\n  policy: adobe_stock\n  overrides: {min_megapixels: 0.01}\n"
REQUIRED = {"content-security-policy", "x-content-type-options"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A 200-row sample built through the CLI; the rating queue's images with their
    files; a copy of the warehouse for `submit`, made before the app opens it."""
    root = tmp_path_factory.mktemp("hostile_rate")
    warehouse, config, summary, _ = built_sample(root, CONFIG, rows=200, seed=43)
    queue = query(warehouse, """
        select q.image_id, f.resolved_path from rpt_rating_queue q
        join files.images f using (image_id) where f.status = 'ok' order by q.queue_rank""")
    assert len(queue) > 30
    pack_copy = copy_warehouse(warehouse, root / "pack_copy" / warehouse.name)
    return {"root": root, "warehouse": warehouse, "config": config, "queue": queue,
            "pack_copy": pack_copy, "sample": summary.db_path.parent}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app(site):
    """`neurostock rate` as a child process; (port, its log file) while it runs."""
    port = _free_port()
    log = site["root"] / "rate.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "neurostock.cli", "--warehouse", str(site["warehouse"]),
             "--config", str(site["config"]), "rate", "--port", str(port),
             "--annotator", "mallory"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if _get(port, "/")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the app did not start: {log.read_text()}")
            time.sleep(0.2)
        yield port, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        connection.close()


def _session(port: int) -> tuple[str, str]:
    """A browser session's cookie and CSRF token, from the page."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        cookie = response.getheader("set-cookie").split(";")[0]
        page = response.read().decode()
    finally:
        connection.close()
    return cookie, re.search(r'data-csrf="([^"]+)"', page).group(1)


def _raw_exchange(port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request head and some body parts, never the rest; the response the
    server sends meanwhile (its head at least), or what came before it hung up."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
        except ConnectionResetError:
            pass
        except TimeoutError:
            raise AssertionError("no response within 30 s: the server waits for the rest "
                                 f"of the body (got {received[:200]!r})") from None
    return received


def _head(raw: bytes) -> tuple[int, dict]:
    lines = raw.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def _log_lines(log: Path, words: str) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if words in line]


def _swap_for_link(path: str, target: Path) -> None:
    """Replace the file at `path` by a symlink to `target` (one rename: no moment without
    a file)."""
    link = Path(path + ".swap")
    link.symlink_to(target)
    os.replace(link, path)


# ------------------------------------------------------------------ files at request time

def test_a_file_swapped_for_a_link_to_etc_passwd_is_404_with_one_log_line(site, app):
    port, log = app
    image_id, path = site["queue"][1]
    status, headers, body = _get(port, f"/image/{image_id}")
    assert status == 200 and body == Path(path).read_bytes()
    assert headers["content-type"] == "image/jpeg"
    _swap_for_link(path, Path("/etc/passwd"))
    status, headers, body = _get(port, f"/image/{image_id}")
    assert status == 404 and b"root:" not in body
    assert REQUIRED <= set(headers)
    lines = _log_lines(log, f"image {image_id} not served")
    assert len(lines) == 1 and "outside the allowed roots" in lines[0], lines
    # A link to a picture outside the roots: refused the same way.
    image_id, path = site["queue"][2]
    secret = site["root"] / "outside" / "secret.jpg"
    secret.parent.mkdir(exist_ok=True)
    shutil.copyfile(path, secret)
    _swap_for_link(path, secret)
    assert _get(port, f"/image/{image_id}")[0] == 404
    assert len(_log_lines(log, f"image {image_id} not served")) == 1


def test_a_file_grown_past_its_recorded_size_or_linked_to_a_huge_one_is_404(site, app):
    port, log = app
    image_id, path = site["queue"][3]
    assert _get(port, f"/image/{image_id}")[0] == 200
    with open(path, "ab") as handle:
        handle.write(b"\0" * 4096)
    status, _, body = _get(port, f"/image/{image_id}")
    assert status == 404 and len(body) < 1000
    assert "changed since" in _log_lines(log, f"image {image_id} not served")[0]
    # A link, inside the roots, to a 300 MB (sparse) file: not one byte of it is sent.
    image_id, path = site["queue"][4]
    huge = site["sample"] / "huge.jpg"
    with open(huge, "wb") as handle:
        handle.truncate(300_000_000)
    _swap_for_link(path, huge)
    status, _, body = _get(port, f"/image/{image_id}")
    assert status == 404 and len(body) < 1000
    assert len(_log_lines(log, f"image {image_id} not served")) == 1


def test_a_huge_body_is_refused_before_it_is_read(app):
    port, _ = app
    cookie, token = _session(port)
    common = (f"POST /api/rate HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
              f"Origin: http://127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
              f"X-CSRF-Token: {token}\r\nContent-Type: application/json\r\n")
    start = b'{"image_id": 1, "rating": 3, "pad": "' + b"x" * 8000
    # A declared 50 MB, of which 8 KB are ever sent.
    raw = _raw_exchange(port, (common + "Content-Length: 50000000\r\n\r\n").encode(), [start])
    status, headers = _head(raw)
    assert status == 413 and REQUIRED <= set(headers), raw[:300]
    # No length declared: chunks, never a last one; refused once past the cap.
    chunks = [b"%x\r\n%s\r\n" % (1000, b"x" * 1000) for _ in range(5)]
    raw = _raw_exchange(port, (common + "Transfer-Encoding: chunked\r\n\r\n").encode(), chunks)
    assert _head(raw)[0] == 413, raw[:300]


def test_long_digit_ids_are_404_not_500(site, app):
    port, log = app
    long_id = "9" * 5000
    for path in (f"/image/{long_id}", f"/?i={long_id}", "/image/" + "1" * 19,
                 "/image/-1", "/image/1e3", f"/?i={len(site['queue']) + 1}"):
        status, headers, _ = _get(port, path)
        assert status == 404, (path[:30], status)
        assert REQUIRED <= set(headers)
    assert _get(port, "/?i=abc")[0] == 400
    assert "Traceback" not in log.read_text(errors="replace")


def test_every_response_carries_the_csp_and_nosniff(site, app):
    port, _ = app
    image_id, path = site["queue"][0]
    responses = {
        "page": _get(port, "/"),
        "image": _get(port, f"/image/{image_id}"),
        "css": _get(port, "/static/rate.css"),
        "js": _get(port, "/static/rate.js"),
        "favicon": _get(port, "/favicon.ico"),
        "icon": _get(port, "/static/favicon.svg"),
        "no static": _get(port, "/static/nothing.css"),
        "no route": _get(port, "/nowhere"),
        "no image": _get(port, "/image/0"),
        "bad host": _get(port, "/", {"Host": "evil.example"}),
    }
    expected = {"page": 200, "image": 200, "css": 200, "js": 200, "favicon": 200,
                "icon": 200, "no static": 404, "no route": 404, "no image": 404,
                "bad host": 400}
    assert {k: r[0] for k, r in responses.items()} == expected
    csp = responses["page"][1]["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    for name, (_, headers, _) in responses.items():
        assert headers.get("content-security-policy") == csp, name
        assert headers.get("x-content-type-options") == "nosniff", name
    assert responses["favicon"][1]["content-type"].startswith("image/svg+xml")
    assert 'rel="icon" href="/static/favicon.svg"' in responses["page"][2].decode()


# ------------------------------------------------------------------ the page, in Chromium

def test_the_page_logs_no_console_error_in_chromium(site, app):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium + chromium-driver are not installed "
                    "(scripts/test.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    port, _ = app
    profile = tempfile.mkdtemp(prefix="neurostock-hostile-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        entries = []
        # Two pages, each to its image's end: the first page's favicon request has long
        # been answered when the second page has loaded.
        for position in (0, 5):
            driver.get(f"http://127.0.0.1:{port}/?i={position}")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not driver.execute_script(
                    "const i = document.getElementById('image');"
                    "return document.readyState === 'complete' && i && i.complete"):
                time.sleep(0.05)
            assert driver.execute_script(
                "return document.getElementById('image').naturalWidth") > 0
            entries += driver.get_log("browser")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    assert entries == [], entries


# ------------------------------------------------------------------ submit

def test_submit_refuses_a_swapped_or_grown_file_and_says_so(site, capsys):
    """On a copy of the warehouse whose gate says submit (three images) and upscale
    (one): the unchanged image is packed; the one swapped for a link to a picture
    outside the roots and the one grown since `images sync` are not copied, and the
    manifest and the progress output name them."""
    pool = [r[0] for r in query(site["pack_copy"], """
        select image_id from submission_decisions where image_set = 'pool'
        order by image_id""")]
    used = {image_id for image_id, _ in site["queue"][:6]}
    paths = dict(site["queue"])
    chosen = [i for i in pool if i not in used and i in paths][:4]
    assert len(chosen) == 4
    honest, swapped, grown, upscale = chosen
    con = duckdb.connect(str(site["pack_copy"]))
    try:
        con.execute("update submission_decisions set verdict = 'reject', "
                    "needs_upscaling_only = false")
        con.execute("update submission_decisions set verdict = 'submit' "
                    "where image_id in (?, ?, ?)", [honest, swapped, grown])
        con.execute("update submission_decisions set verdict = 'hold', "
                    "needs_upscaling_only = true, upscale_factor = 2 where image_id = ?",
                    [upscale])
    finally:
        con.close()
    secret = site["root"] / "outside_pack" / "secret.jpg"
    secret.parent.mkdir()
    Image.new("RGB", (300, 300), (200, 0, 0)).save(secret)
    _swap_for_link(paths[swapped], secret)
    for image_id in (grown, upscale):
        with open(paths[image_id], "ab") as handle:
            handle.write(b"\0" * 2048)
    out = site["root"] / "pack"
    capsys.readouterr()
    assert _cli(site["pack_copy"], site["config"], "submit", "--out", str(out)) == 0
    printed = capsys.readouterr()
    packed = sorted(p.name for p in (out / "images").iterdir())
    assert len(packed) == 1 and packed[0].endswith(f"-{honest}.jpg"), packed
    assert not (out / "to_upscale").exists() or not any((out / "to_upscale").iterdir())
    notes = {n["image_id"]: n["note"]
             for n in json.loads((out / "manifest.json").read_text())["pack"]["notes"]}
    assert "outside the allowed roots" in notes[swapped]
    assert "changed since" in notes[grown] and "changed since" in notes[upscale]
    for image_id in (swapped, grown, upscale):
        assert f"image {image_id} not packed" in printed.err
    assert "3 source files refused" in printed.out
