"""Benchmark: the embedding UDFs (ns_embed_image / ns_embed_text) against the baselines.

    .venv/bin/python benchmarks/bench_embed.py [--limit N] [--batch-size 32] [--no-large]
        [--data /work/shared/data/agiqa3k] [--workdir bench_out] [--keep]

Data: the real AGIQA-3k images (data.csv `name,prompt,...`, files in images/).
Every variant uses open_clip ViT-B-32 with RANDOM weights (pretrained=None after
torch.manual_seed(0); no download is possible here), on the CPU with
torch.set_num_threads(2), the same batch size, image + prompt. Model loading is
timed apart and left out of every rate. Each variant runs in a fresh process so
its peak memory (ru_maxrss) is its own:
  team        the research notebook: one image at a time (PIL, preprocess,
              encode_image, tokenize, encode_text, batch of one), then
              df = pd.concat([df, pd.DataFrame([row])]) with 512 + 512 float columns
  bare        a batched open_clip loop: decode, preprocess, encode_image +
              encode_text per batch; vectors kept in a list, nothing else
              (images alone: the image part of the same loop, timed apart)
  project     the warehouse's UDF path: EmbeddingFunctions registered on a DuckDB
              warehouse (scratch), a fresh ResumeCache, then
              create table .. as select ns_embed_image(..., count(*) over ()) ..
              and the same with ns_embed_text over the prompts
  nothing new the same queries again with the same cache: must compute 0
  large       project, images only, on 10x the images (distinct files: the JPEG
              bytes plus a few bytes after the end marker): peak memory must not grow
Targets (embedding issue): project/bare >= 0.85, project/team > 1, nothing new
computes 0, peak memory flat in the number of images. Results go to stdout and
WORKDIR/bench_embed.json. Scratch files live in /tmp/bench_embed_* (removed at
the end unless --keep).
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from proc_stats import busy_cpu_seconds  # noqa: E402 (run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = Path("/work/shared/data/agiqa3k")
MODEL = "ViT-B-32"
EMBEDDER_ID = "clip_b32_random"
THREADS = 2
LARGE_FACTOR = 10
# Peak memory is "flat" when 10x the images costs at most this much more.
FLAT_MEMORY_RATIO = 1.10
RANDOM_NOTE = (f"open_clip {MODEL} with RANDOM weights (pretrained=None / `random`, "
               "seed 0): no weights can be downloaded here; speed and memory are those of "
               "the real model, the vectors mean nothing")


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- children: each runs in its own process --------------------------------------------


def _open_clip():
    import open_clip
    import torch

    torch.set_num_threads(THREADS)
    started = time.perf_counter()
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL, pretrained=None)
    model.eval()
    tokenizer = open_clip.get_tokenizer(MODEL)
    return model, preprocess, tokenizer, time.perf_counter() - started


def _child_team(rows: list[dict], batch_size: int) -> dict:
    """The research team's notebook loop, one image at a time, a growing DataFrame."""
    import warnings

    import pandas as pd
    import torch
    from PIL import Image

    warnings.simplefilter("ignore")  # pandas' notes on concat with an empty frame
    model, preprocess, tokenizer, load_s = _open_clip()
    n = len(rows)
    marks = sorted({max(1, n * k // 10) for k in range(1, 11)})
    checkpoints = []
    concat_s = 0.0
    df = pd.DataFrame()
    started = time.perf_counter()
    for done, row in enumerate(rows, start=1):
        with Image.open(row["path"]) as image:
            tensor = preprocess(image.convert("RGB")).unsqueeze(0)
        with torch.no_grad():
            image_vec = model.encode_image(tensor)[0].tolist()
            text_vec = model.encode_text(tokenizer([row["prompt"]]))[0].tolist()
        record = {"name": row["name"], "prompt": row["prompt"]}
        record.update({f"img_{i}": v for i, v in enumerate(image_vec)})
        record.update({f"txt_{i}": v for i, v in enumerate(text_vec)})
        t0 = time.perf_counter()
        df = pd.concat([df, pd.DataFrame([record])])
        concat_s += time.perf_counter() - t0
        if done in marks:
            elapsed = time.perf_counter() - started
            checkpoints.append({"images": done, "seconds": elapsed, "concat_seconds": concat_s})
            _log(f"team {done}/{n} images, {done / elapsed:.1f} images/s "
                 f"(pd.concat so far {concat_s:.1f} s)")
    seconds = time.perf_counter() - started
    assert df.shape == (n, 2 + 2 * len(image_vec)), df.shape
    return {"images": n, "seconds": seconds, "load_seconds": load_s,
            "concat_seconds": concat_s, "checkpoints": checkpoints, "peak_mb": _peak_mb()}


def _child_bare(rows: list[dict], batch_size: int) -> dict:
    """A bare batched loop: decode, preprocess, encode_image + encode_text per batch."""
    import torch
    from PIL import Image

    model, preprocess, tokenizer, load_s = _open_clip()
    n = len(rows)
    image_vectors, text_vectors = [], []
    image_s = text_s = 0.0
    next_report = time.perf_counter() + 10
    started = time.perf_counter()
    for start in range(0, n, batch_size):
        batch = rows[start : start + batch_size]
        t0 = time.perf_counter()
        tensors = []
        for row in batch:
            with Image.open(row["path"]) as image:
                tensors.append(preprocess(image.convert("RGB")))
        with torch.inference_mode():
            image_vectors.append(model.encode_image(torch.stack(tensors)).numpy())
        t1 = time.perf_counter()
        with torch.inference_mode():
            tokens = tokenizer([row["prompt"] for row in batch])
            text_vectors.append(model.encode_text(tokens).numpy())
        t2 = time.perf_counter()
        image_s += t1 - t0
        text_s += t2 - t1
        if t2 >= next_report:
            next_report = t2 + 10
            done = start + len(batch)
            _log(f"bare {done}/{n} images, {done / (t2 - started):.1f} images/s")
    seconds = time.perf_counter() - started
    assert sum(len(v) for v in image_vectors) == n == sum(len(v) for v in text_vectors)
    return {"images": n, "seconds": seconds, "image_seconds": image_s, "text_seconds": text_s,
            "load_seconds": load_s, "peak_mb": _peak_mb()}


class _Timer:
    """Wall time spent in wrapped callables (the UDF code itself is not changed)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.threads: set[int] = set()

    def wrap(self, name: str, fn):
        # functools.wraps: DuckDB reads the UDF's parameters from its signature.
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if name.startswith("udf"):
                self.threads.add(threading.get_native_id())
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
                self.calls[name] = self.calls.get(name, 0) + 1
        return timed

    def take(self) -> dict:
        main = threading.main_thread().native_id
        out = {"parts_seconds": dict(self.seconds), "calls": dict(self.calls),
               "udf_on_main_thread": main in self.threads,
               "udf_on_other_thread": bool(self.threads - {main})}
        self.seconds.clear()
        self.calls.clear()
        self.threads.clear()
        return out


def _threads_cpu() -> dict[int, float]:
    """CPU seconds of each thread of this process (Linux /proc; empty elsewhere)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _query(con, sql: str, timer: _Timer) -> dict:
    """Runs one embedding query; its time, and where the process's CPU went meanwhile."""
    main = threading.main_thread().native_id
    before = _threads_cpu()
    started = time.perf_counter()
    con.execute(sql)
    seconds = time.perf_counter() - started
    after = _threads_cpu()
    used = {tid: cpu - before.get(tid, 0.0) for tid, cpu in after.items()}
    out = {"query_seconds": seconds, **timer.take(),
           "cpu_seconds": sum(used.values()), "main_thread_cpu_seconds": used.get(main, 0.0)}
    return out


def _child_project(warehouse: Path, batch_size: int, with_prompts: bool) -> dict:
    """The warehouse's embedding step: the DuckDB UDFs on the images table."""
    import duckdb
    import torch

    from neurostock.compute.cache import ResumeCache
    from neurostock.core.config import Config, EmbedderConfig
    from neurostock.core.paths import resume_cache_file
    from neurostock.embed.udfs import EmbeddingFunctions

    torch.set_num_threads(THREADS)
    config = Config(embedders=(EmbedderConfig(
        id=EMBEDDER_ID, library="open_clip", model=MODEL, pretrained="random",
        batch_size=batch_size, device="cpu", kinds=("image", "prompt"),
    ),))
    cache = ResumeCache(resume_cache_file(warehouse))
    functions = EmbeddingFunctions(config, cache)
    timer = _Timer()
    # Instance attributes shadow the methods register() binds: timing only.
    functions.embed_image = timer.wrap("udf_image", functions.embed_image)
    functions.embed_text = timer.wrap("udf_text", functions.embed_text)
    # Summed over the decode pool's workers (decode_workers), overlapping the model.
    functions._decode_one = timer.wrap("decode_thread", functions._decode_one)
    cache.vectors.get_many = timer.wrap("cache_get", cache.vectors.get_many)
    cache.vectors.put_many = timer.wrap("cache_put", cache.vectors.put_many)

    con = duckdb.connect(str(warehouse))
    # The settings dbt_project/profiles.yml gives every warehouse connection.
    con.execute("set TimeZone = 'UTC'")
    con.execute("set memory_limit = '1GB'")
    con.execute("set preserve_insertion_order = false")
    con.execute("set enable_progress_bar = false")
    # As the generated dbt models do (pre_hook): the UDF runs on this thread.
    con.execute("set threads = 1")
    functions.register(con)

    started = time.perf_counter()
    model = functions.model(EMBEDDER_ID)  # load first: not part of the rates
    load_s = time.perf_counter() - started
    model.encode_prepared = timer.wrap("encode_image", model.encode_prepared)
    model.embed_texts = timer.wrap("encode_text", model.embed_texts)
    n = con.execute("select count(*) from images").fetchone()[0]
    out: dict = {"images": n, "load_seconds": load_s, "random_init": model.info.is_random_init}

    out["image_breakdown"] = _query(con, (
        f"create or replace table t_image as select image_id, ns_embed_image('{EMBEDDER_ID}', "
        "resolved_path, content_sha256, count(*) over ()) as r from images"
    ), timer)
    out["image_seconds"] = out["image_breakdown"]["query_seconds"]
    out["image_stats"] = _stats(functions.take_stats("image", EMBEDDER_ID))
    out["image_ok"] = con.execute(
        "select count(*) from t_image where r.error is null and len(r.embedding) = 512"
    ).fetchone()[0]
    out["peak_mb_after_images"] = _peak_mb()
    _log(f"project image query: {n} rows in {out['image_seconds']:.1f} s, "
         f"{out['image_stats']['n_computed']} computed")

    if with_prompts:
        out["prompt_breakdown"] = _query(con, (
            "create or replace table t_prompt as select image_id, ns_embed_text("
            f"'{EMBEDDER_ID}', 'prompt', prompt, sha256(prompt), count(*) over ()) as r "
            "from images"
        ), timer)
        out["prompt_seconds"] = out["prompt_breakdown"]["query_seconds"]
        out["prompt_stats"] = _stats(functions.take_stats("prompt", EMBEDDER_ID))
        out["prompt_ok"] = con.execute(
            "select count(*) from t_prompt where r.error is null and len(r.embedding) = 512"
        ).fetchone()[0]
        _log(f"project prompt query: {n} rows in {out['prompt_seconds']:.1f} s, "
             f"{out['prompt_stats']['n_computed']} computed")
    out["seconds"] = out["image_seconds"] + out.get("prompt_seconds", 0.0)
    out["peak_mb"] = _peak_mb()
    con.close()
    cache.close()
    return out


def _stats(stats: dict) -> dict:
    return {k: stats[k] for k in ("n_seen", "n_computed", "n_cached", "n_failed", "seconds")}


def _child(mode: str, args: argparse.Namespace) -> dict:
    if mode in {"team", "bare"}:
        rows = json.loads(Path(args.manifest).read_text())
        run = _child_team if mode == "team" else _child_bare
        return {"mode": mode, **run(rows, args.batch_size)}
    with_prompts = mode in {"project", "nothing_new"}
    return {"mode": mode, **_child_project(Path(args.warehouse), args.batch_size, with_prompts)}


# -- parent -------------------------------------------------------------------------------


def _measure(mode: str, args: argparse.Namespace, **paths: Path) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--batch-size", str(args.batch_size)]
    for key, value in paths.items():
        command += [f"--{key}", str(value)]
    _log(f"running {mode} …")
    busy_before, children_before = busy_cpu_seconds(), _children_cpu_seconds()
    wall_before = time.perf_counter()
    # stderr passes through: the children's progress shows the run is alive.
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    wall = time.perf_counter() - wall_before
    # CPU that other processes used meanwhile (the machine's busy time less the child's):
    # on a shared machine, a sign that the numbers are disturbed.
    others = (busy_cpu_seconds() - busy_before) - (_children_cpu_seconds() - children_before)
    result["others_cpu_cores"] = max(others, 0.0) / wall if wall > 0 else 0.0
    return result


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load_rows(data: Path, limit: int | None) -> list[dict]:
    csv_path = data / "data.csv"
    if not data.is_dir() or not csv_path.is_file():
        sys.exit(f"bench_embed: error: data folder {data} (with data.csv) not found; "
                 "it holds the AGIQA-3k images this benchmark needs")
    folder = data / "images" if (data / "images").is_dir() else data
    with csv_path.open(newline="") as f:
        rows = [{"name": r["name"], "prompt": r["prompt"] or "", "path": str(folder / r["name"])}
                for r in csv.DictReader(f)]
    missing = [r["path"] for r in rows if not Path(r["path"]).is_file()]
    if missing:
        sys.exit(f"bench_embed: error: {len(missing)} image(s) of {csv_path} are missing, "
                 f"e.g. {missing[0]}")
    return rows[:limit] if limit else rows


def _with_hashes(rows: list[dict]) -> list[dict]:
    return [{**r, "sha256": hashlib.sha256(Path(r["path"]).read_bytes()).hexdigest()}
            for r in rows]


def _large_copies(rows: list[dict], folder: Path) -> list[dict]:
    """LARGE_FACTOR distinct files per image: the same JPEG, a few bytes after its end marker."""
    out = []
    for k in range(LARGE_FACTOR):
        (folder / f"copy{k}").mkdir(parents=True, exist_ok=True)
        for r in rows:
            body = Path(r["path"]).read_bytes() + f"bench-copy-{k}".encode()
            path = folder / f"copy{k}" / r["name"]
            path.write_bytes(body)
            out.append({**r, "path": str(path), "sha256": hashlib.sha256(body).hexdigest()})
    return out


def _warehouse(path: Path, rows: list[dict]) -> Path:
    import duckdb
    import pyarrow as pa

    images = pa.table({
        "image_id": pa.array(range(len(rows)), pa.int64()),
        "resolved_path": [r["path"] for r in rows],
        "content_sha256": [r["sha256"] for r in rows],
        "prompt": [r["prompt"] for r in rows],
    })
    con = duckdb.connect(str(path))
    con.register("images_arrow", images)
    con.execute("create or replace table images as select * from images_arrow")
    con.close()
    return path


def _rate(images: int, seconds: float) -> float:
    return images / seconds if seconds > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, help="use the first N images (a quick check)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--large", action=argparse.BooleanOptionalAction, default=True,
                        help=f"also the memory run on {LARGE_FACTOR}x the images (default on)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench_out")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--decode-bound", action="store_true",
                        help="instead: 1,024-px JPEGs through a tiny model, the UDF with one "
                             "decode thread and with WORKERS, beside a torch DataLoader "
                             "(benchmarks/decode_bound.py)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: model-only beside end-to-end images/s on the GPU "
                             "(benchmarks/decode_bound.py)")
    parser.add_argument("--workers", type=int, help="decode workers (default: the cores)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(_child(args.child, args)))
        return

    rows = _load_rows(args.data, args.limit)
    n = len(rows)
    if args.decode_bound or args.device == "cuda":
        from decode_bound import run

        run(rows, args.batch_size, args.workers, args.device, args.workdir)
        return
    print(f"data: {n:,} images of {args.data}; batch size {args.batch_size}; "
          f"CPU, {THREADS} torch threads", flush=True)
    print(f"NOTE: {RANDOM_NOTE}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench_embed_", dir="/tmp"))
    _log(f"scratch: {scratch}")
    try:
        report = _run(args, rows, scratch)
    finally:
        if args.keep:
            _log(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "bench_embed.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.workdir / 'bench_embed.json'}")


def _run(args: argparse.Namespace, rows: list[dict], scratch: Path) -> dict:
    n = len(rows)
    rows = _with_hashes(rows)
    manifest = scratch / "manifest.json"
    manifest.write_text(json.dumps(rows))
    project_wh = _warehouse(scratch / "project.duckdb", rows)
    runs: dict[str, dict] = {}
    for mode in ("team", "bare"):
        runs[mode] = _measure(mode, args, manifest=manifest)
        _log(f"{mode}: {runs[mode]['seconds']:.1f} s, {runs[mode]['peak_mb']:.0f} MB")
    for mode in ("project", "nothing_new"):
        runs[mode] = _measure(mode, args, warehouse=project_wh)
        _log(f"{mode}: {runs[mode]['seconds']:.1f} s, {runs[mode]['peak_mb']:.0f} MB")
    if args.large:
        _log(f"making {LARGE_FACTOR * n:,} distinct image files …")
        large_rows = _large_copies(rows, scratch / "large")
        large_wh = _warehouse(scratch / "large.duckdb", large_rows)
        runs["large"] = _measure("large", args, warehouse=large_wh)
        _log(f"large: {runs['large']['seconds']:.1f} s, {runs['large']['peak_mb']:.0f} MB")
    return _summarise(args, n, runs)


def _summarise(args: argparse.Namespace, n: int, runs: dict[str, dict]) -> dict:
    team, bare, proj, again = runs["team"], runs["bare"], runs["project"], runs["nothing_new"]
    table = [
        # variant, images, computed, load s, seconds, peak MB
        ("team (image+prompt, 1 at a time)", n, n, team["load_seconds"], team["seconds"],
         team["peak_mb"]),
        ("bare (image+prompt)", n, n, bare["load_seconds"], bare["seconds"], bare["peak_mb"]),
        ("bare, images alone", n, n, None, bare["image_seconds"], None),
        ("project (image+prompt)", n, proj["image_stats"]["n_computed"], proj["load_seconds"],
         proj["seconds"], proj["peak_mb"]),
        ("project, images alone", n, proj["image_stats"]["n_computed"], None,
         proj["image_seconds"], proj["peak_mb_after_images"]),
        ("project, nothing new", n, again["image_stats"]["n_computed"], again["load_seconds"],
         again["seconds"], again["peak_mb"]),
    ]
    if "large" in runs:
        large = runs["large"]
        table.append(("project, images alone, large", large["images"],
                      large["image_stats"]["n_computed"], large["load_seconds"],
                      large["image_seconds"], large["peak_mb"]))

    print(f"\n{'variant':<34} {'images':>7} {'computed':>8} {'load s':>7} {'seconds':>8} "
          f"{'images/s':>9} {'peak MB':>8}")
    for name, images, computed, load_s, seconds, peak in table:
        print(f"{name:<34} {images:>7,} {computed:>8,} "
              f"{'-' if load_s is None else f'{load_s:.1f}':>7} {seconds:>8.1f} "
              f"{_rate(images, seconds):>9.2f} {'-' if peak is None else f'{peak:.0f}':>8}")
    print("(computed = images embedded by the model; for the project rows from "
          "functions.take_stats('image', id). Load s is left out of every rate. "
          "project images alone: its image query; peak MB there is the process's peak after "
          "that query.)")

    others = {mode: r.get("others_cpu_cores", 0.0) for mode, r in runs.items()}
    print("other processes' CPU during each run (cores, of "
          f"{os.cpu_count()}): " + ", ".join(f"{m} {c:.2f}" for m, c in others.items()))
    if max(others.values()) > 0.25:
        print("WARNING: other processes were busy during the run; the rates are disturbed "
              "(torch's threads suffer most when the cores are shared)")

    rate = {name: _rate(images, seconds) for name, images, _, _, seconds, _ in table}
    project_vs_bare = rate["project (image+prompt)"] / rate["bare (image+prompt)"]
    project_vs_bare_images = rate["project, images alone"] / rate["bare, images alone"]
    project_vs_team = rate["project (image+prompt)"] / rate["team (image+prompt, 1 at a time)"]
    print(f"\nproject/bare: {project_vs_bare:.2f}x (image+prompt), "
          f"{project_vs_bare_images:.2f}x (images alone)   target >= 0.85")
    print(f"project/team: {project_vs_team:.2f}x (image+prompt)   must be > 1")

    # The team loop slows down as the frame grows: first and last tenth of the rows.
    points = [{"images": 0, "seconds": 0.0, "concat_seconds": 0.0}, *team["checkpoints"]]
    tenths = [{"rows": f"{a['images']}-{b['images']}",
               "images_per_s": _rate(b["images"] - a["images"], b["seconds"] - a["seconds"]),
               "concat_ms_per_row": 1000 * (b["concat_seconds"] - a["concat_seconds"])
               / max(b["images"] - a["images"], 1)}
              for a, b in zip(points[:-1], points[1:], strict=True)]
    print(f"team: {tenths[0]['images_per_s']:.2f} images/s over rows {tenths[0]['rows']}, "
          f"{tenths[-1]['images_per_s']:.2f} over rows {tenths[-1]['rows']}; pd.concat "
          f"{tenths[0]['concat_ms_per_row']:.1f} -> {tenths[-1]['concat_ms_per_row']:.1f} "
          f"ms/row, {team['concat_seconds']:.1f} s of {team['seconds']:.1f} s in all")

    breakdown = {}
    for kind in ("image", "prompt"):
        q = proj[f"{kind}_breakdown"]
        parts = q["parts_seconds"]
        udf = parts.get("udf_image" if kind == "image" else "udf_text", 0.0)
        encode = parts.get("encode_image" if kind == "image" else "encode_text", 0.0)
        cache = parts.get("cache_get", 0.0) + parts.get("cache_put", 0.0)
        where = ("main thread" if q["udf_on_main_thread"] else "") + (
            " and " if q["udf_on_main_thread"] and q["udf_on_other_thread"] else "") + (
            "a DuckDB worker thread" if q["udf_on_other_thread"] else "")
        breakdown[kind] = b = {
            "query_seconds": q["query_seconds"], "udf_seconds": udf,
            "model_encode_seconds": encode, "cache_seconds": cache,
            "decode_thread_seconds": parts.get("decode_thread", 0.0),
            "udf_other_seconds": udf - encode - cache,
            "outside_udf_seconds": q["query_seconds"] - udf,
            "udf_calls": q["calls"].get("udf_image" if kind == "image" else "udf_text", 0),
            "udf_ran_on": where, "process_cpu_seconds": q["cpu_seconds"],
            "main_thread_cpu_seconds": q["main_thread_cpu_seconds"],
        }
        print(f"project {kind} query {q['query_seconds']:.1f} s: in the UDF {udf:.1f} s (model "
              f"{encode:.1f}, cache {cache:.2f}, waiting/other {b['udf_other_seconds']:.1f}"
              + (f"; decode thread {b['decode_thread_seconds']:.1f} s, overlapped"
                 if kind == "image" else "")
              + f"), DuckDB outside the UDF {b['outside_udf_seconds']:.2f} s; "
              f"{b['udf_calls']} UDF call(s) on {where or '-'}; process CPU "
              f"{q['cpu_seconds']:.1f} s, of which the main thread "
              f"{b['main_thread_cpu_seconds']:.1f}")
        if q["udf_on_other_thread"] and not q["udf_on_main_thread"] and (
                b["main_thread_cpu_seconds"] > 0.3 * q["query_seconds"]):
            print(f"  note: while the UDF ran on a DuckDB worker thread, the main thread "
                  f"(waiting in con.execute) burned {b['main_thread_cpu_seconds']:.1f} CPU-s: "
                  f"on {os.cpu_count()} cores that is taken from torch")
    print(f"bare: image part {bare['image_seconds']:.1f} s, text part "
          f"{bare['text_seconds']:.1f} s")

    computed_again = again["image_stats"]["n_computed"] + again["prompt_stats"]["n_computed"]
    print(f"nothing new: {again['seconds']:.2f} s, {again['image_stats']['n_computed']} images "
          f"and {again['prompt_stats']['n_computed']} prompts computed, "
          f"{again['image_stats']['n_cached']} images from the cache")
    checks = {
        "project/bare >= 0.85 (image+prompt)": project_vs_bare >= 0.85,
        "project/team > 1 (image+prompt)": project_vs_team > 1,
        "nothing new computes 0 images and 0 prompts": computed_again == 0,
        "every row embedded (project: no errors)": (
            proj["image_ok"] == n and proj["prompt_ok"] == n
            and again["image_ok"] == n and again["prompt_ok"] == n
        ),
    }
    memory = None
    if "large" in runs:
        large = runs["large"]
        small_peak = proj["peak_mb_after_images"]
        # DuckDB calls the UDF once per chunk of up to 2,048 rows, possibly on several
        # threads at once: UDF time over the query's wall time says how many overlapped.
        concurrency = {}
        for size, run in ((n, proj), (large["images"], large)):
            q = run["image_breakdown"]
            concurrency[size] = {
                "udf_calls": q["calls"].get("udf_image", 0),
                "udf_seconds_per_wall_second":
                    q["parts_seconds"].get("udf_image", 0.0) / q["query_seconds"],
            }
        memory = {"images_small": n, "peak_mb_small": small_peak,
                  "images_large": large["images"], "peak_mb_large": large["peak_mb"],
                  "ratio": large["peak_mb"] / small_peak, "udf_concurrency": concurrency}
        print(f"memory (project, images only): {n:,} images {small_peak:.0f} MB, "
              f"{large['images']:,} images {large['peak_mb']:.0f} MB: "
              f"{memory['ratio']:.2f}x for {LARGE_FACTOR}x the images")
        print("  image UDF calls (one per DuckDB chunk) and how many ran at once: " + "; ".join(
            f"{size:,} images {c['udf_calls']} call(s), {c['udf_seconds_per_wall_second']:.2f}"
            for size, c in concurrency.items()))
        checks[f"peak memory flat: {LARGE_FACTOR}x images <= {FLAT_MEMORY_RATIO}x peak"] = (
            memory["ratio"] <= FLAT_MEMORY_RATIO)
        checks["large: every distinct file computed"] = (
            large["image_stats"]["n_computed"] == large["images"] == large["image_ok"])
    else:
        print("memory: the large run was skipped (--no-large)")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(f"NOTE: {RANDOM_NOTE}; the large run embeds images only (no prompts) to keep the "
          "run time reasonable")
    return {
        "images": n, "batch_size": args.batch_size, "threads": THREADS, "model": MODEL,
        "weights": "random (pretrained=None, torch.manual_seed(0))", "note": RANDOM_NOTE,
        "data": str(args.data), "limit": args.limit,
        "table": [dict(zip(("variant", "images", "computed", "load_seconds", "seconds",
                            "peak_mb"), row, strict=True)) | {"images_per_s": rate[row[0]]}
                  for row in table],
        "ratios": {"project_vs_bare": project_vs_bare,
                   "project_vs_bare_images_alone": project_vs_bare_images,
                   "project_vs_team": project_vs_team},
        "others_cpu_cores": others, "team_tenths": tenths, "project_breakdown": breakdown,
        "memory": memory, "checks": checks, "runs": runs,
    }


if __name__ == "__main__":
    main()
