"""Benchmark: a large `pool` through `neurostock build`, first build and rebuilds, each
step in its own process; plain (no embedders or scorers) or --full (the demo's
configuration: embedders, scorers, learned models and the gate).

    .venv/bin/python benchmarks/bench_pool.py [--rows 2100000 | --sizes 100000,400000]
        [--full] [--ratings 4000] [--add N] [--scratch /tmp/bench_pool] [--workers 2]
        [--keep] [--out bench_out/pool.json | bench_out/pool_full.json]

Makes, under --scratch/<rows>: a source SQLite of `rows` img_info rows in the team's
schema and --ratings metadata rows (about half rated 5), and one tiny distinct real JPEG
per row (one small JPEG's bytes plus the image id after its end marker: every file
decodes and hashes differently). `pool: {unrated: all}`, the scratch folder as the only
image root. Each step is a fresh process; its peak memory is sampled (the largest
process's VmHWM, and the whole tree's summed RSS); per dbt model, dbt's own seconds and
the dbt processes' peak RSS while it ran.

Plain (no embedders, scorers or learned models):
  ingest, build_1 (every file read, hashed and decoded once), build_2 (nothing new: 0
  new, 0 files read), ingest_3 (--add rows and files appended, default 1,000), build_3.
  Targets (issue 13): build_1 peak under 4 GB; build_2 under 60 s.

--full (issue 24): the demo's neurostock.yml (its random CLIP loads a saved ViT-B-32
checkpoint of random weights instead, so the warehouse treats it as real weights and
searches its vectors for pairs, as it would the team's):
  ingest; sync (a build with the plain config: the files checked and hashed, which the
  embedding steps' to-do list needs); simulate (the embedding and scoring steps: SYNTHETIC
  vectors and scores written as the Ray engine's shards, benchmarks/pool_inputs.py);
  build_1 (everything, taking the shards up); build_2 (nothing new); similar (one
  `neurostock similar` question); ingest_3 (--add rows, default 10,000), simulate_3
  (their shards), build_3. Checked: the planted hash pairs are all in
  near_duplicate_pairs and >= 99% of the planted embedding pairs in image_embedding_pairs.
  Targets: build_1 < 30 min, peak < 8 GB; build_2 < 90 s; build_3 < build_2 + 3 min;
  every model's growth exponent (build_1, the two largest sizes) <= 1.2.

The machine's other load is measured per step (busy CPU seconds of the whole machine
minus the step's own). Results: stdout (tables, slowest models, exponents) and --out
(JSON). The scratch folders are removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.proc_stats import busy_cpu_seconds, watch_peaks  # noqa: E402

# The source's schema, as the tests build it.
from tests.source_builder import IMG_INFO_DDL, METADATA_DDL, USER_DDL  # noqa: E402

FILES_PER_FOLDER = 10_000
MARKER = ".bench_pool"  # marks a scratch folder this benchmark made
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


def _prompt(image_id: int, per_prompt: int) -> str:
    """The raw prompt of an image. per_prompt 0: a few thousand prompts shared by the
    pool (the plain benchmark, as before); n: each prompt generated n images, as in a
    text-to-image batch (--full), and the prompt has no characters the cleaning changes
    besides the prefix and the underscores (see expected_clean)."""
    if per_prompt == 0:
        word = WORDS[image_id % len(WORDS)]
        # A few thousand distinct prompts; prefixes 3 and 6 (7 is left out of the pool).
        return f"{3 if image_id % 5 == 0 else 6}_A_{word}_picture_{image_id % 3000}.."
    k = (image_id - 1) // per_prompt
    return f"{3 if k % 5 == 0 else 6}_A_{WORDS[k % len(WORDS)]}_picture_number_{k}"


def expected_clean(raw: str) -> str:
    """The cleaned prompt (macro clean_prompt) of a --full prompt: the bench checks this
    against the warehouse before relying on it."""
    return re.sub(r"^[0-9]+_", "", raw).replace("_", " ").strip()


def _img_rows(images: Path, first: int, last: int, per_prompt: int = 0):
    for image_id in range(first, last + 1):
        prompt = _prompt(image_id, per_prompt)
        month = 1 + image_id % 12
        yield (image_id, str(_image_path(images, image_id)), f"{prompt[:40]}_{image_id}.jpg",
               f"2022-{month:02d}-14T23:01:11.924645", 1 + image_id % 5,
               1 + image_id % 19, prompt)


def make_source(scratch: Path, rows: int, ratings: int, per_prompt: int = 0) -> Path:
    """The source SQLite and the image files; returns the SQLite's path."""
    images = scratch / "images"
    source = scratch / "core.download.db"
    con = sqlite3.connect(source)
    with con:
        con.execute(IMG_INFO_DDL)
        con.executemany("insert into img_info values (?, ?, ?, ?, ?, ?, ?)",
                        _img_rows(images, 1, rows, per_prompt))
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


def add_rows(scratch: Path, source: Path, first: int, n: int, per_prompt: int = 0) -> None:
    """Append n img_info rows (ids first..) and their files."""
    con = sqlite3.connect(source)
    with con:
        con.executemany("insert into img_info values (?, ?, ?, ?, ?, ?, ?)",
                        _img_rows(scratch / "images", first, first + n - 1, per_prompt))
    con.close()
    _write_files(scratch / "images", first, first + n - 1)


def write_config(scratch: Path, workers: int, name: str = "neurostock.yml") -> Path:
    """No embedders, no scorers, no learned models: the plain benchmark's config, and
    the --full benchmark's first sync of the files."""
    config = scratch / name
    config.write_text(
        "embedders: []\n"
        "scorers: []\n"
        "pool: {unrated: all}\n"
        f"images: {{roots: [{scratch / 'images'}], dest: {scratch / 'all_data'}, "
        f"workers: {workers}}}\n"
    )
    return config


def run_step(name: str, args: list[str], log: Path) -> dict:
    """One CLI command in its own process: wall seconds, the peak RSS of its largest
    process and of the whole tree summed (sampled: watch_peaks), the main process's
    and the dbt runs' peaks, the machine's CPU use besides this step, and per dbt model its
    seconds (dbt's own figure) and the dbt processes' peak RSS while it ran (two dbt
    threads: a model shares that peak with whatever ran beside it)."""
    busy_before = busy_cpu_seconds()
    started = time.perf_counter()
    stamped: list[tuple[float, str]] = []
    timeline: list[tuple[float, int]] = []
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "neurostock.cli", *args], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        peaks: dict[str, int] = {}
        cpu: dict[int, float] = {}
        done = threading.Event()
        watcher = threading.Thread(target=watch_peaks, args=(proc.pid, peaks, done),
                                   kwargs={"cpu": cpu, "timeline": timeline})
        watcher.start()
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            stamped.append((time.perf_counter(), line))
            out.write(line)
            out.flush()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        watcher.join()
    seconds = time.perf_counter() - started
    # The larger of what wait4 says (the command and the children it waited for) and the
    # sampled CPU of every process of the tree (dbt runs forked by the fork server too).
    own_cpu = max(usage.ru_utime + usage.ru_stime, sum(cpu.values()))
    other_cpu = max(0.0, busy_cpu_seconds() - busy_before - own_cpu)
    text = log.read_text()
    result = {"step": name, "seconds": round(seconds, 1),
              # Sampled VmHWM, not wait4's ru_maxrss: a child forked from this process
              # (which may hold torch) reports this process's pages there.
              "peak_mb": round(max(peaks.get("main", 0), peaks.get("dbt", 0)) / 1024),
              "tree_sum_peak_mb": round(peaks.get("tree_sum", 0) / 1024),
              "main_peak_mb": round(peaks.get("main", 0) / 1024),
              "dbt_peak_mb": round(peaks.get("dbt", 0) / 1024),
              "own_cpu_s": round(own_cpu, 1), "other_cpu_s": round(other_cpu, 1),
              "models": model_times(stamped, timeline)}
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


_START = re.compile(r"\d+ of \d+ START \S+ (?:\S+ )?model ([\w.]+) ")
_END = re.compile(r"\d+ of \d+ (?:OK|ERROR)\b.*? model ([\w.]+) \.* \[.*? in ([\d.]+)s\]")


def model_times(stamped: list[tuple[float, str]],
                timeline: list[tuple[float, int]]) -> dict[str, dict]:
    """Per model of the step's dbt runs (a model run twice: its seconds summed, its
    peak the larger): dbt's seconds and the dbt processes' peak RSS (MB) between the
    model's START and end lines, as they arrived."""
    started: dict[str, float] = {}
    models: dict[str, dict] = {}
    for at, line in stamped:
        if (begin := _START.search(line)):
            started[begin.group(1)] = at
        elif (end := _END.search(line)):
            name = end.group(1).split(".")[-1]
            since = started.pop(end.group(1), at)
            peak = max((kb for t, kb in timeline if since - 0.1 <= t <= at + 0.1), default=0)
            entry = models.setdefault(name, {"seconds": 0.0, "peak_mb": 0})
            entry["seconds"] = round(entry["seconds"] + float(end.group(2)), 2)
            entry["peak_mb"] = max(entry["peak_mb"], round(peak / 1024))
    return models


def write_full_config(scratch: Path, workers: int, checkpoint: Path) -> Path:
    """The demo's neurostock.yml (embedders, scorers, learned models, the gate), with the
    pool made of every unrated image and the CLIP embedder loading `checkpoint` (so the
    warehouse treats it as real weights, and searches its vectors for pairs)."""
    import yaml

    config = yaml.safe_load((REPO / "neurostock.yml").read_text())
    for embedder in config["embedders"]:
        if embedder.get("pretrained") == "random":
            embedder["id"] = embedder["id"].replace("_random", "") + "_bench"
            embedder["pretrained"] = str(checkpoint)
    config["pool"] = {"unrated": "all"}
    config["images"] = {"roots": [str(scratch / "images")], "dest": str(scratch / "all_data"),
                        "workers": workers}
    path = scratch / "neurostock.full.yml"
    path.write_text("# bench_pool.py --full: the demo's configuration at pool scale\n"
                    + yaml.safe_dump(config, sort_keys=False))
    return path


def make_checkpoint(folder: Path) -> Path:
    """ViT-B-32 with RANDOM weights saved as a local checkpoint: the build loads it as it
    would the team's weights. Its vectors are never computed here (every image's vector
    comes from the shards), so only the loading and the fingerprint are real."""
    path = folder / "vit_b32_random_weights.pt"
    if not path.exists():
        import open_clip
        import torch

        model = open_clip.create_model("ViT-B-32", pretrained=None)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
    return path


def describe_models(config_path: Path) -> tuple[list[dict], list[dict]]:
    """Each configured embedder's and scorer's id and fingerprint, as the build will
    compute them (the project's own loading code); the scorers' results on a few real
    pictures serve as templates."""
    from benchmarks.pool_inputs import real_results
    from neurostock.core.config import load_config
    from neurostock.embed.backends import load_embedder
    from neurostock.score.catalog import load_scorer
    from neurostock.score.udfs import scorer_fingerprint

    config = load_config(config_path)
    embedders = []
    for cfg in config.embedders:
        info = load_embedder(cfg).info
        embedders.append({"id": cfg.id, "fingerprint": info.fingerprint, "dim": info.dim,
                          "kinds": list(info.kinds)})
    scorers = []
    for scorer_id in config.scorers:
        scorer = load_scorer(scorer_id)
        scorers.append({"id": scorer_id, "fingerprint": scorer_fingerprint(scorer),
                        "templates": [] if scorer_id == "phash" else real_results(scorer)})
    return embedders, scorers


def new_inputs(first: int, n: int, per_prompt: int) -> tuple[np.ndarray, list[str], list[str]]:
    """The ids, content sha256 and distinct prompt hashes of rows the bench adds: the
    bench wrote the files (it knows their bytes) and the prompts (expected_clean, checked
    against the warehouse first)."""
    base = _base_jpeg()
    ids = np.arange(first, first + n)
    shas = [hashlib.sha256(base + b"%d" % i).hexdigest() for i in ids]
    prompts = sorted({hashlib.sha256(expected_clean(_prompt(int(i), per_prompt)).encode())
                      .hexdigest() for i in ids})
    return ids, shas, prompts


def simulate(name: str, warehouse: Path, embedders: list[dict], scorers: list[dict],
             inputs: tuple[np.ndarray, list[str], list[str]]) -> dict:
    """The embedding and scoring steps, simulated: shards under <warehouse>.shards/."""
    from benchmarks.pool_inputs import write_embeddings, write_scores
    from neurostock.core.paths import shards_dir

    started = time.perf_counter()
    ids, shas, prompts = inputs
    shards = shards_dir(warehouse)
    written = write_embeddings(shards, embedders, ids, shas, prompts)
    written.update(write_scores(shards, scorers, ids, shas))
    seconds = round(time.perf_counter() - started, 1)
    print(f"  {name:<9} {seconds:8.1f} s  shards written: "
          + ", ".join(f"{k} {v:,}" for k, v in written.items()), flush=True)
    return {"step": name, "seconds": seconds, "written": written}


def check_prompts(warehouse: Path, rows: int, per_prompt: int) -> None:
    """expected_clean must give the warehouse's cleaned prompts (the added rows' prompt
    hashes rest on it)."""
    from benchmarks.pool_inputs import cleaned_prompts

    sample = sorted({1, 2, rows // 3, rows // 2, rows - 1, rows} - {0})
    found = cleaned_prompts(warehouse, sample)
    for image_id in sample:
        expected = expected_clean(_prompt(image_id, per_prompt))
        if image_id in found and found[image_id] != expected:
            raise SystemExit(f"bench_pool: image {image_id}: the warehouse cleaned its prompt "
                             f"to {found[image_id]!r}, the bench expected {expected!r}")


def run_pool(rows: int, args, scratch: Path) -> dict:
    """One pool size: the source, then each step in its own process."""
    scratch.mkdir(parents=True)
    per_prompt = 4 if args.full else 0
    started = time.perf_counter()
    source = make_source(scratch, rows, args.ratings, per_prompt)
    generated = time.perf_counter() - started
    print(f"generated {rows:,} rows and files in {generated:.0f} s under {scratch}", flush=True)
    warehouse = scratch / "warehouse.duckdb"
    plain = write_config(scratch, args.workers)
    cli = ["--warehouse", str(warehouse), "--config"]
    results = [run_step("ingest", [*cli, str(plain), "ingest", str(source)],
                        scratch / "ingest.log")]
    extra: dict = {}
    if not args.full:
        for name in ("build_1", "build_2"):
            results.append(run_step(name, [*cli, str(plain), "build"], scratch / f"{name}.log"))
        add_rows(scratch, source, rows + 1, args.add)
        results.append(run_step("ingest_3", [*cli, str(plain), "ingest", str(source)],
                                scratch / "ingest_3.log"))
        results.append(run_step("build_3", [*cli, str(plain), "build"], scratch / "build_3.log"))
        return {"rows": rows, "generate_seconds": round(generated, 1), "steps": results}

    from benchmarks.pool_inputs import (
        found_pairs,
        planted_embedding_pairs,
        planted_hash_pairs,
        warehouse_inputs,
    )

    full = write_full_config(scratch, args.workers, make_checkpoint(args.scratch))
    embedders, scorers = describe_models(full)
    # The files checked and hashed once (what the Ray engine's to-do list needs) ...
    results.append(run_step("sync", [*cli, str(plain), "build"], scratch / "sync.log"))
    check_prompts(warehouse, rows, per_prompt)
    # ... the embedding and scoring steps (simulated), then the builds with everything on.
    results.append(simulate("simulate", warehouse, embedders, scorers,
                            warehouse_inputs(warehouse, 1, rows)))
    for name in ("build_1", "build_2"):
        results.append(run_step(name, [*cli, str(full), "build"], scratch / f"{name}.log"))
    clip = next(e["id"] for e in embedders if "image" in e["kinds"])
    extra["planted_hash_pairs_found"] = found_pairs(warehouse, "near_duplicate_pairs",
                                                    planted_hash_pairs(rows))
    extra["planted_embedding_pairs_found"] = found_pairs(
        warehouse, "image_embedding_pairs", planted_embedding_pairs(rows),
        f"where embedder_id = '{clip}'")
    results.append(run_step("similar", [*cli, str(full), "similar", "--image", str(rows // 2),
                                        "--embedder", clip, "-k", "20"],
                            scratch / "similar.log"))
    add_rows(scratch, source, rows + 1, args.add, per_prompt)
    results.append(run_step("ingest_3", [*cli, str(full), "ingest", str(source)],
                            scratch / "ingest_3.log"))
    results.append(simulate("simulate_3", warehouse, embedders, scorers,
                            new_inputs(rows + 1, args.add, per_prompt)))
    results.append(run_step("build_3", [*cli, str(full), "build"], scratch / "build_3.log"))
    return {"rows": rows, "generate_seconds": round(generated, 1), "steps": results, **extra}


def exponents(runs: list[dict], step: str) -> dict[str, float]:
    """Each model's growth exponent in `step` between the two largest sizes: the slope
    of log(seconds) on log(rows). Models under 1 s at the larger size are left out
    (their time is mostly fixed cost and noise)."""
    if len(runs) < 2:
        return {}
    small, large = runs[-2], runs[-1]
    a = next(r for r in small["steps"] if r["step"] == step).get("models", {})
    b = next(r for r in large["steps"] if r["step"] == step).get("models", {})
    ratio = math.log(large["rows"] / small["rows"])
    return {name: round(math.log(max(b[name]["seconds"], 0.01)
                                 / max(a[name]["seconds"], 0.01)) / ratio, 2)
            for name in b if name in a and b[name]["seconds"] >= 1.0}


def print_run(run: dict, args) -> dict[str, bool]:
    steps = {r["step"]: r for r in run["steps"]}
    rows, add = run["rows"], args.add
    print(f"\npool: {rows:,} images ({args.ratings:,} ratings), "
          f"{'the demo configuration (--full)' if args.full else 'no embedders or scorers'}; "
          f"{os.cpu_count()} cores, shared: see 'other CPU-s'\n")
    print("| step | seconds | peak MB (largest process) | summed MB | main / dbt peak MB "
          "| new | files read | own CPU-s | other CPU-s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in run["steps"]:
        if "peak_mb" not in r:
            print(f"| {r['step']} | {r['seconds']} | | | | | | | |")
            continue
        print(f"| {r['step']} | {r['seconds']} | {r['peak_mb']:,} | "
              f"{r['tree_sum_peak_mb']:,} | {r['main_peak_mb']:,} / "
              f"{r['dbt_peak_mb']:,} | {r.get('n_new', '')} | {r.get('n_read', '')} "
              f"| {r['own_cpu_s']} | {r['other_cpu_s']} |"
              + (f" FAILED: {r['error']}" if "error" in r else ""))
    checks = {f"{rows:,}: every step succeeded": not any("error" in r for r in run["steps"])}
    if args.full:
        first, again, more = steps["build_1"], steps["build_2"], steps["build_3"]
        checks.update({
            f"{rows:,}: build_1 < 30 min": first["seconds"] < 1800,
            # The summed resident memory of the build's processes (an upper bound).
            f"{rows:,}: build_1 peak < 8 GB": first["tree_sum_peak_mb"] < 8192,
            f"{rows:,}: build_2 < 90 s": again["seconds"] < 90,
            f"{rows:,}: build_3 < build_2 + 180 s": more["seconds"] < again["seconds"] + 180,
            f"{rows:,}: build_3 read {add} files": more.get("n_read") == add,
            f"{rows:,}: planted hash pairs all found": (
                run["planted_hash_pairs_found"][0] == run["planted_hash_pairs_found"][1]),
            f"{rows:,}: planted embedding pairs >= 99% found": (
                run["planted_embedding_pairs_found"][0]
                >= 0.99 * run["planted_embedding_pairs_found"][1]),
        })
        print(f"\nplanted hash pairs found {run['planted_hash_pairs_found']}, planted "
              f"embedding pairs found {run['planted_embedding_pairs_found']}")
        print("\nslowest models (build_1 | build_2 | build_3 seconds, build_1 peak MB):")
        models = first.get("models", {})
        for name in sorted(models, key=lambda m: -models[m]["seconds"])[:25]:
            print(f"  {name:<40} {models[name]['seconds']:8.1f} | "
                  f"{again.get('models', {}).get(name, {}).get('seconds', 0):6.1f} | "
                  f"{more.get('models', {}).get(name, {}).get('seconds', 0):6.1f}   "
                  f"{models[name]['peak_mb']:,} MB")
    else:
        checks.update({
            f"{rows:,}: build_1 peak < 4 GB": steps["build_1"]["peak_mb"] < 4096,
            f"{rows:,}: build_2 < 60 s": steps["build_2"]["seconds"] < 60,
            f"{rows:,}: build_2: 0 new, 0 read": (steps["build_2"].get("n_new"),
                                                   steps["build_2"].get("n_read")) == (0, 0),
            f"{rows:,}: build_3: {add} new, {add} read": (
                steps["build_3"].get("n_new"), steps["build_3"].get("n_read")) == (add, add),
        })
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_100_000)
    parser.add_argument("--sizes", type=str, default=None,
                        help="several pool sizes, e.g. 100000,400000,2100000 (each its own "
                             "warehouse; the growth exponents between the two largest)")
    parser.add_argument("--full", action="store_true",
                        help="the demo's configuration: embedders, scorers, learned models")
    parser.add_argument("--ratings", type=int, default=4_000)
    parser.add_argument("--add", type=int, default=None,
                        help="rows added before the last build (default 1,000; --full 10,000)")
    parser.add_argument("--workers", type=int, default=2, help="images sync threads")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/bench_pool"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.add = args.add or (10_000 if args.full else 1_000)
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else [args.rows]
    out = args.out or REPO / "bench_out" / ("pool_full.json" if args.full else "pool.json")

    args.scratch = args.scratch.resolve()
    marker = args.scratch / MARKER
    if args.scratch.exists() and any(args.scratch.iterdir()) and not marker.exists():
        raise SystemExit(f"bench_pool: --scratch {args.scratch} holds files this benchmark "
                         "did not write; name an empty or new folder")
    if args.scratch.exists():
        shutil.rmtree(args.scratch)  # an earlier run's (it carries the marker)
    args.scratch.mkdir(parents=True)
    marker.write_text("written by benchmarks/bench_pool.py; removed with its folder\n")
    runs = []
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        for rows in sizes:
            runs.append(run_pool(rows, args, args.scratch / str(rows)))
            # Each size's figures saved as soon as it is done (a long run stopped later
            # keeps them); the final write adds the exponents and the checks.
            out.write_text(json.dumps({"sizes": sizes, "full": args.full, "runs": runs},
                                      indent=2) + "\n")
            if not args.keep:
                shutil.rmtree(args.scratch / str(rows), ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(args.scratch, ignore_errors=True)

    checks: dict[str, bool] = {}
    for run in runs:
        checks.update(print_run(run, args))
    growth = {step: exponents(runs, step) for step in ("build_1", "build_2")}
    if len(runs) >= 2:
        for step, slopes in growth.items():
            print(f"\ngrowth exponents, {step}, {runs[-2]['rows']:,} -> {runs[-1]['rows']:,} "
                  "(models >= 1 s at the larger size):")
            for name, slope in sorted(slopes.items(), key=lambda kv: -kv[1]):
                print(f"  {name:<40} {slope:5.2f}")
        if args.full:
            checks["every model's exponent <= 1.2 (build_1)"] = all(
                v <= 1.2 for v in growth["build_1"].values())
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    out.write_text(json.dumps({"sizes": sizes, "full": args.full, "ratings": args.ratings,
                               "add": args.add, "cores": os.cpu_count(), "runs": runs,
                               "exponents": growth, "checks": checks}, indent=2) + "\n")
    print(f"results: {out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
