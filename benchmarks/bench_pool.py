"""Benchmark: a large `pool` through `neurostock build` with no embedders or scorers
(marts, checks and `images sync` only), first build and rebuilds, each in its own process.

    .venv/bin/python benchmarks/bench_pool.py [--rows 2100000] [--ratings 4000]
        [--scratch /tmp/bench_pool] [--workers 2] [--keep] [--out bench_out/pool.json]

Makes, under --scratch: a source SQLite of --rows img_info rows in the team's schema and
--ratings metadata rows (about half rated 5), and one tiny distinct real JPEG per row (one
small JPEG's bytes plus the image id after its end marker: every file decodes and hashes
differently). The config has no embedders and no scorers, `pool: {unrated: all}`, and
the scratch folder as the only image root. Then, each step a fresh process (peak RSS =
ru_maxrss of the process tree, from wait4, beside the sampled peak of the dbt child):

  ingest     neurostock ingest
  build_1    the first build: every file is read, hashed and decoded once
  build_2    nothing new: must say 0 new and 0 files read
  ingest_3   --add more rows (and their files) appended to the source, ingested again
  build_3    the build after that: must say --add new and --add files read

Targets (issue 13): build_1 peak under 4 GB; build_2 under 60 s. The machine's other
load is measured per step (busy CPU seconds of the whole machine minus the step's own),
since the timings mean little on a shared machine. Results: stdout and --out (JSON).
The scratch folder is removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.proc_stats import busy_cpu_seconds, watch_peaks  # noqa: E402

# The source's schema, as the tests build it.
from tests.source_builder import IMG_INFO_DDL, METADATA_DDL, USER_DDL  # noqa: E402

FILES_PER_FOLDER = 10_000
WORDS = ("cat", "forest", "portrait", "city", "sunset", "robot", "flower", "ocean", "castle",
         "dragon", "car", "mountain", "bird", "kitchen", "neon", "winter")


def _base_jpeg() -> bytes:
    """One small real JPEG (16x16, a few hundred bytes)."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=75)
    return buffer.getvalue()


def _image_path(images: Path, image_id: int) -> Path:
    return images / f"{image_id // FILES_PER_FOLDER:04d}" / f"{image_id}.jpg"


def _write_files(images: Path, first: int, last: int) -> None:
    """Files for ids first..last: the base JPEG plus the id after its end marker."""
    base = _base_jpeg()
    made: set[int] = set()
    for image_id in range(first, last + 1):
        folder = image_id // FILES_PER_FOLDER
        if folder not in made:
            (images / f"{folder:04d}").mkdir(parents=True, exist_ok=True)
            made.add(folder)
        with open(_image_path(images, image_id), "wb") as fh:
            fh.write(base + b"%d" % image_id)


def _img_rows(images: Path, first: int, last: int):
    for image_id in range(first, last + 1):
        word = WORDS[image_id % len(WORDS)]
        # A few thousand distinct prompts; prefixes 3 and 6 (7 is left out of the pool).
        prompt = f"{3 if image_id % 5 == 0 else 6}_A_{word}_picture_{image_id % 3000}.."
        month = 1 + image_id % 12
        yield (image_id, str(_image_path(images, image_id)), f"{prompt}_{image_id}.jpg",
               f"2022-{month:02d}-14T23:01:11.924645", 1 + image_id % 5,
               1 + image_id % 19, prompt)


def make_source(scratch: Path, rows: int, ratings: int) -> Path:
    """The source SQLite and the image files; returns the SQLite's path."""
    images = scratch / "images"
    source = scratch / "core.download.db"
    con = sqlite3.connect(source)
    with con:
        con.execute(IMG_INFO_DDL)
        con.executemany("insert into img_info values (?, ?, ?, ?, ?, ?, ?)",
                        _img_rows(images, 1, rows))
        con.execute(METADATA_DDL)
        step = max(1, rows // ratings)
        con.executemany(
            "insert into metadata values (?, ?, ?, ?)",
            ((5 if k % 2 else 1 + k % 4, "2023-01-02 10:00:00", 1 + k % 2, 1 + k * step)
             for k in range(min(ratings, rows))))
        con.execute(USER_DDL)
        con.execute("insert into user (name) values ('annotator one'), ('annotator two')")
    con.close()
    _write_files(images, 1, rows)
    return source


def add_rows(scratch: Path, source: Path, first: int, n: int) -> None:
    """Append n img_info rows (ids first..) and their files."""
    con = sqlite3.connect(source)
    with con:
        con.executemany("insert into img_info values (?, ?, ?, ?, ?, ?, ?)",
                        _img_rows(scratch / "images", first, first + n - 1))
    con.close()
    _write_files(scratch / "images", first, first + n - 1)


def write_config(scratch: Path, workers: int) -> Path:
    config = scratch / "neurostock.yml"
    config.write_text(
        "embedders: []\n"
        "scorers: []\n"
        "pool: {unrated: all}\n"
        f"images: {{roots: [{scratch / 'images'}], dest: {scratch / 'all_data'}, "
        f"workers: {workers}}}\n"
    )
    return config


def run_step(name: str, args: list[str], log: Path) -> dict:
    """One CLI command in its own process: wall seconds, peak RSS of its tree (wait4's
    ru_maxrss: the largest process of the tree), the sampled peaks of the main process
    and dbt child, and the machine's CPU use besides this step."""
    busy_before = busy_cpu_seconds()
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "neurostock.cli", *args], cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT)
        peaks: dict[str, int] = {}
        done = threading.Event()
        watcher = threading.Thread(target=watch_peaks, args=(proc.pid, peaks, done))
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        watcher.join()
    seconds = time.perf_counter() - started
    own_cpu = usage.ru_utime + usage.ru_stime
    other_cpu = max(0.0, busy_cpu_seconds() - busy_before - own_cpu)
    text = log.read_text()
    result = {"step": name, "seconds": round(seconds, 1),
              "peak_mb": round(usage.ru_maxrss / 1024),
              "main_peak_mb": round(peaks.get("main", 0) / 1024),
              "dbt_peak_mb": round(peaks.get("dbt", 0) / 1024),
              "own_cpu_s": round(own_cpu, 1), "other_cpu_s": round(other_cpu, 1)}
    if proc.returncode != 0:
        # Kept, not fatal: a model failing after `images sync` (another stage's) still
        # leaves the sync's figures to read; the table and the checks show the failure.
        failed = re.findall(r"neurostock: error: (.*)", text)
        result["error"] = failed[-1] if failed else f"exit {proc.returncode}; log {log}"
        print(f"  {name} FAILED: {result['error']}", flush=True)
    found = re.search(r"images: ([\d,]+) new in the pool, ([\d,]+) files read", text)
    if found:
        result["n_new"] = int(found.group(1).replace(",", ""))
        result["n_read"] = int(found.group(2).replace(",", ""))
    checked = re.search(r"images: ([\d,]+) checked \(([^)]*)\)", text)
    if checked:
        result["n_checked"] = int(checked.group(1).replace(",", ""))
        result["statuses"] = checked.group(2)
    print(f"  {name:<9} {result['seconds']:8.1f} s {result['peak_mb']:7,} MB  "
          f"new {result.get('n_new', '-')}, read {result.get('n_read', '-')}; "
          f"other load {result['other_cpu_s']:.0f} CPU-s", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_100_000)
    parser.add_argument("--ratings", type=int, default=4_000)
    parser.add_argument("--add", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2, help="images sync threads")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/bench_pool"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--out", type=Path, default=REPO / "bench_out" / "pool.json")
    args = parser.parse_args()

    scratch = args.scratch.resolve()
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    results = []
    try:
        started = time.perf_counter()
        source = make_source(scratch, args.rows, args.ratings)
        generated = time.perf_counter() - started
        print(f"generated {args.rows:,} rows and files in {generated:.0f} s under {scratch}",
              flush=True)
        config = write_config(scratch, args.workers)
        cli = ["--warehouse", str(scratch / "warehouse.duckdb"), "--config", str(config)]
        results.append(run_step("ingest", [*cli, "ingest", str(source)],
                                scratch / "ingest.log"))
        for name in ("build_1", "build_2"):
            results.append(run_step(name, [*cli, "build"], scratch / f"{name}.log"))
        add_rows(scratch, source, args.rows + 1, args.add)
        results.append(run_step("ingest_3", [*cli, "ingest", str(source)],
                                scratch / "ingest_3.log"))
        results.append(run_step("build_3", [*cli, "build"], scratch / "build_3.log"))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    steps = {r["step"]: r for r in results}
    checks = {
        "every step succeeded": not any("error" in r for r in results),
        "build_1 peak < 4 GB": steps["build_1"]["peak_mb"] < 4096,
        "build_2 < 60 s": steps["build_2"]["seconds"] < 60,
        "build_2: 0 new, 0 read": (steps["build_2"].get("n_new"),
                                   steps["build_2"].get("n_read")) == (0, 0),
        f"build_3: {args.add} new, {args.add} read": (
            steps["build_3"].get("n_new"), steps["build_3"].get("n_read")) == (args.add,
                                                                              args.add),
    }
    print(f"\npool: {args.rows:,} images ({args.ratings:,} ratings), no embedders or scorers; "
          f"{os.cpu_count()} cores, shared: see 'other CPU-s'\n")
    print("| step | seconds | peak MB (tree) | main / dbt peak MB | new | files read "
          "| own CPU-s | other CPU-s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['step']} | {r['seconds']} | {r['peak_mb']:,} | {r['main_peak_mb']:,} / "
              f"{r['dbt_peak_mb']:,} | {r.get('n_new', '')} | {r.get('n_read', '')} "
              f"| {r['own_cpu_s']} | {r['other_cpu_s']} |"
              + (f" FAILED: {r['error']}" if "error" in r else ""))
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": args.rows, "ratings": args.ratings, "add": args.add,
                                    "generate_seconds": round(generated, 1),
                                    "cores": os.cpu_count(), "steps": results,
                                    "checks": checks}, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
