"""Benchmark: the Ray Data engine beside the embedding UDF, same images, same model.

    .venv/bin/python benchmarks/bench_ray.py [--model ViT-B-32|tiny] [--limit N]
        [--cpus 2] [--batch-size 32] [--data /work/shared/data/agiqa3k] [--keep]

The AGIQA-3K images (1,200 JPEGs) through
  udf   the warehouse's UDF path: EmbeddingFunctions on a DuckDB connection (one DuckDB
        thread, as the generated models run it), torch on `--cpus` threads,
        `decode_workers: --cpus`, a fresh resume cache; model loading timed apart
  ray   a local Ray instance with `--cpus` CPUs: embed/ray_engine.run_job with the
        ImageEmbedActor (one actor per CPU, each loading the model: that load is inside
        the job's time), shards written to a scratch folder; a warm-up job on a few
        images first measures a job's fixed cost, and the rate without it is printed too
then the largest absolute difference between the two paths' vectors, image by image.
The model has RANDOM weights (open_clip ViT-B-32, or the tests' tiny model): the speed
and the equality are what is measured, not the vectors' meaning. Scratch files live in
/tmp/bench_ray_* (removed unless --keep); the result also goes to
<scratch>/bench_ray.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

DATA = Path("/work/shared/data/agiqa3k")


def _config(scratch: Path, model: str, batch_size: int, cpus: int) -> Path:
    if model == "tiny":
        from tests.tiny_clip import tiny_checkpoint

        model_config, checkpoint = tiny_checkpoint(scratch)
        spec = (f"model: tiny-clip-test, model_config: {model_config}, "
                f"pretrained: {checkpoint}")
    else:
        spec = f"model: {model}, pretrained: random"
    path = scratch / "neurostock.yml"
    path.write_text(
        "embedders:\n"
        f"  - {{id: bench, library: open_clip, {spec}, batch_size: {batch_size}, "
        "kinds: [image]}\n"
        f"decode_workers: {cpus}\n")
    return path


def _files(data: Path, limit: int | None) -> list[tuple[str, str]]:
    from neurostock.core.fileio import file_sha256

    paths = sorted((data / "images").glob("*.jpg"))[:limit]
    return [(file_sha256(p), str(p)) for p in paths]


def run_udf(config, files, cpus: int, scratch: Path) -> tuple[dict, dict]:
    import duckdb
    import numpy as np
    import torch

    from neurostock.compute.cache import ResumeCache
    from neurostock.embed.udfs import EmbeddingFunctions

    torch.set_num_threads(cpus)
    functions = EmbeddingFunctions(config, ResumeCache(scratch / "udf_cache.sqlite"))
    started = time.perf_counter()
    functions.model("bench")
    load = time.perf_counter() - started
    con = duckdb.connect()
    con.execute("set threads = 1")
    functions.register(con)
    con.execute("create table todo (sha varchar, path varchar)")
    con.executemany("insert into todo values (?, ?)", files)
    started = time.perf_counter()
    rows = con.execute("select sha, ns_embed_image('bench', path, sha, count(*) over ())"
                       ".embedding from todo").fetchall()
    seconds = time.perf_counter() - started
    vectors = {sha: np.asarray(v, np.float32) for sha, v in rows if v is not None}
    return vectors, {"load_s": round(load, 2), "embed_s": round(seconds, 2),
                     "images_per_s": round(len(files) / seconds, 2)}


def run_ray(config, files, cpus: int, scratch: Path) -> tuple[dict, dict]:
    import numpy as np
    import pyarrow.parquet as pq
    import ray

    from neurostock.embed.backends import describe
    from neurostock.embed.ray_engine import ImageEmbedActor, pinned_config, ray_session, run_job

    cfg = pinned_config(config.embedders[0])
    fingerprint = describe(cfg).fingerprint
    shards = scratch / "shards"
    temp = tempfile.mkdtemp(prefix="nsbr", dir="/tmp")
    try:
        started = time.perf_counter()
        with ray_session(num_cpus=cpus, temp_dir=temp):
            start_s = time.perf_counter() - started
            # The fixed cost of a job (actor start, one model load per actor), measured
            # on a few images into a folder of its own.
            warm = run_job("ray warm-up", files[: 2 * cpus], ImageEmbedActor,
                           {"cfg": cfg, "fingerprint": fingerprint,
                            "shards": str(scratch / "warmup")}, cfg.batch_size)
            summary = run_job("ray embed image bench", files, ImageEmbedActor,
                              {"cfg": cfg, "fingerprint": fingerprint, "shards": str(shards)},
                              cfg.batch_size)
        assert not ray.is_initialized()
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    vectors = {}
    for path in shards.rglob("part-*.parquet"):
        table = pq.read_table(path)
        for sha, v in zip(table["content_sha256"].to_pylist(), table["vector"].to_pylist(),
                          strict=True):
            if v is not None:
                vectors[sha] = np.asarray(v, np.float32)
    overhead = warm.seconds
    return vectors, {"ray_start_s": round(start_s, 2), "job_s": round(summary.seconds, 2),
                     "images_per_s": round(summary.per_second, 2),
                     "job_overhead_s": round(overhead, 2),
                     # Only meaningful when the job ran well past its fixed cost.
                     "images_per_s_after_overhead": round(
                         summary.n_done / (summary.seconds - overhead), 2)
                     if summary.seconds > 2 * overhead else None,
                     "n_done": summary.n_done, "n_failed": summary.n_failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32", help="open_clip model, or `tiny`")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not (args.data / "images").is_dir():
        sys.exit(f"no images in {args.data / 'images'}")

    from neurostock.core.config import load_config

    scratch = Path(tempfile.mkdtemp(prefix="bench_ray_", dir="/tmp"))
    try:
        config = load_config(_config(scratch, args.model, args.batch_size, args.cpus))
        files = _files(args.data, args.limit)
        udf_vectors, udf = run_udf(config, files, args.cpus, scratch)
        ray_vectors, ray_ = run_ray(config, files, args.cpus, scratch)
        common = udf_vectors.keys() & ray_vectors.keys()
        worst = max(float(abs(udf_vectors[s] - ray_vectors[s]).max()) for s in common)
        result = {
            "model": f"open_clip {args.model}, RANDOM weights", "images": len(files),
            "cpus": args.cpus, "batch_size": args.batch_size,
            "same_images_embedded": len(common) == len(udf_vectors) == len(ray_vectors),
            "max_abs_difference": worst, "udf": udf, "ray": ray_,
            "ray_over_udf": round(ray_["images_per_s"] / udf["images_per_s"], 3),
        }
        print(f"{len(files):,} images, {result['model']}, {args.cpus} CPUs, "
              f"batch {args.batch_size}")
        print(f"  udf  {udf['images_per_s']:7.2f} images/s  ({udf['embed_s']} s; "
              f"model load {udf['load_s']} s apart)")
        print(f"  ray  {ray_['images_per_s']:7.2f} images/s  ({ray_['job_s']} s, actor start "
              f"and model loads included; Ray start {ray_['ray_start_s']} s apart)")
        after = ray_["images_per_s_after_overhead"]
        print(f"       {after if after is not None else 'n/a':>7} images/s after the job's "
              f"fixed cost ({ray_['job_overhead_s']} s: actor start, model loads; measured "
              "by a warm-up job on a few images)")
        print(f"  max abs difference of the vectors: {worst:.3g} over {len(common):,} images")
        (scratch / "bench_ray.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
