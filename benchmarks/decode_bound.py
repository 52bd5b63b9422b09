"""The decode-bound and GPU parts of bench_embed.py (`--decode-bound`, `--device cuda`).

    .venv/bin/python benchmarks/bench_embed.py --decode-bound [--limit N] [--batch-size 32]
        [--workers CORES] [--device cpu|cuda]

Decode-bound (the default device, cpu): 1,024-px JPEGs made from the AGIQA-3K images
(upscaled, bicubic, quality 90, in a scratch folder) through a TINY open_clip model
(random, seeded weights: 224 px input, two 64-wide layers), so decoding and
preprocessing dominate. Side by side, same files, same batch size, same model:
  one_thread   the UDF with decode_workers 1 (today's path before the pool: one
               thread decoding the next batch while the model runs)
  project      the UDF with decode_workers = WORKERS (the process's decode pool)
  dataloader   a bare torch DataLoader(num_workers=WORKERS) over the files with the
               same preprocessing, feeding model.encode_image
Target: project >= 0.9x dataloader's images/s.

`--device cuda` (on a GPU machine): the real ViT-B-32 architecture (random weights),
precision auto (fp16), and prints model-only images/s (random tensors already on the
GPU) beside end-to-end images/s through the UDF with WORKERS decode workers on the
same 1,024-px files. Target: end to end >= 60% of model only with 16 workers.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "patch_size": 32,
                   "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2,
                 "layers": 2},
}
SIDE = 1024


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def make_large_jpegs(rows: list[dict], folder: Path) -> list[str]:
    """Each image upscaled to SIDE px on its long side, saved as a JPEG (quality 90)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n, row in enumerate(rows):
        with Image.open(row["path"]) as image:
            image = image.convert("RGB")
            scale = SIDE / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            path = folder / f"{n}.jpg"
            image.resize(size, Image.BICUBIC).save(path, quality=90)
        out.append(str(path))
    return out


def _config(folder: Path, model: str, batch_size: int, workers: int, device: str):
    from neurostock.core.config import Config, EmbedderConfig

    model_config = None
    if model == "tiny":
        model_config = folder / "bench-tiny-clip.json"
        model_config.write_text(json.dumps(TINY))
    return Config(embedders=(EmbedderConfig(
        id="bench", library="open_clip", model="bench-tiny-clip" if model == "tiny" else model,
        model_config=str(model_config) if model_config else None, pretrained="random",
        batch_size=batch_size, device=device, kinds=("image",),
    ),), decode_workers=workers)


def _udf_rate(config, paths: list[str], scratch: Path, label: str) -> dict:
    """Images/s of ns_embed_image over `paths` (model loaded first, not timed)."""
    import duckdb

    from neurostock.compute.cache import ResumeCache
    from neurostock.embed.udfs import EmbeddingFunctions

    cache = ResumeCache(scratch / f"{label}.cache.sqlite")
    functions = EmbeddingFunctions(config, cache)
    functions.model("bench")
    con = duckdb.connect()
    con.execute("set threads = 1")  # as the generated models run it
    functions.register(con)
    con.execute("create table todo (path varchar, sha varchar)")
    con.executemany("insert into todo values (?, ?)",
                    [(p, f"{label}-{n}") for n, p in enumerate(paths)])
    started = time.perf_counter()
    n_ok = con.execute("select count(r.embedding) from (select ns_embed_image('bench', path, "
                       "sha, count(*) over ()) as r from todo)").fetchone()[0]
    seconds = time.perf_counter() - started
    con.close()
    cache.close()
    functions.decoders.close()
    _log(f"{label}: {len(paths)} images in {seconds:.1f} s, {len(paths) / seconds:.1f}/s")
    return {"images": len(paths), "ok": n_ok, "seconds": seconds,
            "images_per_s": len(paths) / seconds}


class _Files:
    """A torch Dataset of image files through a preprocess (what DataLoader workers run)."""

    def __init__(self, paths: list[str], preprocess) -> None:
        self.paths, self.preprocess = paths, preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from PIL import Image

        from neurostock.core.imaging import to_rgb

        with Image.open(self.paths[i]) as image:
            return self.preprocess(to_rgb(image))


def _dataloader_rate(config, paths: list[str], batch_size: int, workers: int) -> dict:
    import torch

    from neurostock.embed.backends import load_embedder

    model = load_embedder(config.embedders[0])
    loader = torch.utils.data.DataLoader(_Files(paths, model.preprocess), batch_size=batch_size,
                                         num_workers=workers, shuffle=False)
    started = time.perf_counter()
    n = 0
    for batch in loader:
        n += len(model.encode_prepared(list(batch)))
    seconds = time.perf_counter() - started
    _log(f"dataloader: {n} images in {seconds:.1f} s, {n / seconds:.1f}/s")
    return {"images": n, "seconds": seconds, "images_per_s": n / seconds}


def _model_only_rate(config, batch_size: int, batches: int = 50) -> dict:
    import torch

    from neurostock.embed.backends import load_embedder

    model = load_embedder(config.embedders[0])
    size = model.model.visual.image_size
    side = size[0] if isinstance(size, tuple | list) else size
    batch = torch.randn(batch_size, 3, side, side, device=model.device, dtype=model.input_dtype)
    with torch.inference_mode():
        for _ in range(5):
            model.model.encode_image(batch)
        if model.on_cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(batches):
            model.model.encode_image(batch)
        if model.on_cuda:
            torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"images": batches * batch_size, "seconds": seconds,
            "images_per_s": batches * batch_size / seconds}


def run(rows: list[dict], batch_size: int, workers: int | None, device: str,
        workdir: Path) -> dict:
    workers = workers or os.cpu_count() or 1
    scratch = Path(tempfile.mkdtemp(prefix="bench_decode_", dir="/tmp"))
    try:
        _log(f"making {len(rows)} {SIDE}-px JPEGs …")
        paths = make_large_jpegs(rows, scratch / "large")
        if device == "cuda":
            config = _config(scratch, "ViT-B-32", batch_size, workers, "cuda")
            report = {"device": "cuda", "model": "ViT-B-32 (random weights, precision auto)",
                      "workers": workers, "batch_size": batch_size,
                      "model_only": _model_only_rate(config, batch_size),
                      "end_to_end": _udf_rate(config, paths, scratch, "end_to_end")}
            ratio = report["end_to_end"]["images_per_s"] / report["model_only"]["images_per_s"]
            report["end_to_end_over_model_only"] = ratio
            print(f"model only {report['model_only']['images_per_s']:.0f} images/s, end to end "
                  f"{report['end_to_end']['images_per_s']:.0f} images/s ({ratio:.0%}; target "
                  f">= 60% with 16 workers)")
        else:
            report = {"device": "cpu", "model": "tiny open_clip (random weights)",
                      "workers": workers, "batch_size": batch_size, "side_px": SIDE}
            tiny = _config(scratch, "tiny", batch_size, 1, "cpu")
            report["one_thread"] = _udf_rate(tiny, paths, scratch, "one_thread")
            pooled = _config(scratch, "tiny", batch_size, workers, "cpu")
            report["project"] = _udf_rate(pooled, paths, scratch, "project")
            report["dataloader"] = _dataloader_rate(pooled, paths, batch_size, workers)
            ratio = report["project"]["images_per_s"] / report["dataloader"]["images_per_s"]
            report["project_over_dataloader"] = ratio
            print(f"\n{'variant':<34} {'images/s':>9}")
            for name in ("one_thread", "project", "dataloader"):
                print(f"{name:<34} {report[name]['images_per_s']:>9.1f}")
            gain = report["project"]["images_per_s"] / report["one_thread"]["images_per_s"]
            print(f"project/dataloader: {ratio:.2f}x   target >= 0.9; "
                  f"project/one_thread: {gain:.2f}x")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    name = "bench_embed_cuda.json" if device == "cuda" else "bench_embed_decode.json"
    (workdir / name).write_text(json.dumps(report, indent=2) + "\n")
    return report
