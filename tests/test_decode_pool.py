"""The decode pool behind the embedding and scoring UDFs: vectors equal the one-thread
path bit for bit, the pool lives across UDF calls, only a few batches decode ahead, and
`precision: auto` leaves a CPU fingerprint as it was. Real open_clip (a tiny model),
real DuckDB, real JPEG files."""

from __future__ import annotations

import threading
import time

import duckdb
import numpy as np
import pytest
from PIL import Image

from neurostock.compute.cache import ResumeCache
from neurostock.compute.decode_pool import DecodePool
from neurostock.core.config import load_config
from neurostock.embed.devices import choose_precision
from tests.tiny_clip import tiny_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A config with the tiny open_clip model (decode_workers: 3) and 70 JPEG files, one
    of them broken."""
    root = tmp_path_factory.mktemp("decode")
    model_config, checkpoint = tiny_checkpoint(root)
    config = root / "neurostock.yml"
    config.write_text(
        "embedders:\n"
        f"  - {{id: tiny, library: open_clip, model: tiny-clip-test, model_config: {model_config},"
        f" pretrained: {checkpoint}, batch_size: 8, kinds: [image]}}\n"
        "decode_workers: 3\n"
    )
    paths = []
    for n in range(70):
        rng = np.random.default_rng(n)
        size = (int(rng.integers(40, 200)), int(rng.integers(40, 200)))
        path = root / "images" / f"{n}.jpg"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), np.uint8)).save(path)
        paths.append(str(path))
    (root / "images" / "13.jpg").write_bytes(b"not a picture")
    return load_config(config), paths, root


def test_vectors_equal_the_one_thread_path_and_the_pool_lives_across_calls(tiny):
    from neurostock.embed.udfs import EmbeddingFunctions

    config, paths, root = tiny
    functions = EmbeddingFunctions(config, ResumeCache(root / "cache.sqlite"))
    assert functions.decode_workers == 3
    model = functions.model("tiny")
    # The path before the pool: decode one file after another, encode per batch of 8.
    expected = {}
    ok = [p for p in paths if not p.endswith("/13.jpg")]
    for start in range(0, len(ok), 8):
        batch = ok[start:start + 8]
        for path, vector in zip(batch, model.encode_prepared(
                [model.prepare_image(p) for p in batch]), strict=True):
            expected[path] = vector
    con = duckdb.connect()
    functions.register(con)
    con.execute("create table todo (n integer, path varchar, sha varchar)")
    con.executemany("insert into todo values (?, ?, ?)",
                    [(n, p, f"h{n}") for n, p in enumerate(paths)])
    first = con.execute("select path, ns_embed_image('tiny', path, sha, 70) from todo "
                        "where n < 40").fetchall()
    pool = functions.decoders._pool
    second = con.execute("select path, ns_embed_image('tiny', path, sha, 70) from todo "
                         "where n >= 40").fetchall()
    assert pool is not None and functions.decoders._pool is pool
    got = {path: result for path, result in first + second}
    assert got[paths[13]]["error"] and got[paths[13]]["embedding"] is None
    for path in ok:
        vector = np.asarray(got[path]["embedding"], dtype=np.float32)
        # Batches differ from the loop above (the broken file is not in its batches), and
        # a CPU matmul's rounding may depend on the batch: equal to float tolerance here;
        # the next test compares the same batches bit for bit.
        assert np.allclose(vector, expected[path], atol=1e-6)
    functions.cache.close()


def test_same_batches_give_bit_identical_vectors(tiny):
    """Same files, same batches: the pool's vectors are exactly the one-thread ones."""
    from neurostock.embed.udfs import EmbeddingFunctions

    config, paths, root = tiny
    functions = EmbeddingFunctions(config, ResumeCache(root / "cache2.sqlite"))
    model = functions.model("tiny")
    ok = [p for p in paths if not p.endswith("/13.jpg")]
    batches = [list(range(s, min(s + 8, len(ok)))) for s in range(0, len(ok), 8)]
    one_thread = [model.encode_prepared([model.prepare_image(ok[i]) for i in b]) for b in batches]
    pooled = [model.encode_prepared([t for _, t, _ in prepared]) for prepared in
              functions.decoders.batches(lambda i: functions._decode_one(model, ok, i), batches)]
    assert all(np.array_equal(a, b) for a, b in zip(one_thread, pooled, strict=True))
    functions.cache.close()


def test_batches_come_back_in_order_with_a_bounded_window():
    pool = DecodePool(4)
    started: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        time.sleep(0.001 * (i % 3))
        return i * i

    batches = [list(range(s, s + 5)) for s in range(0, 100, 5)]
    results = pool.batches(work, batches)
    first = next(results)
    time.sleep(0.05)
    # 2 x 4 workers over batches of 5: 2 batches in flight; one more queued when the
    # first was handed out.
    assert first == [i * i for i in range(5)] and len(started) <= 15
    rest = list(results)
    assert [first, *rest] == [[i * i for i in b] for b in batches]
    pool.close()


def test_precision_auto_is_fp32_on_cpu_and_half_on_cuda(tiny):
    from neurostock.embed.open_clip_embedder import describe_open_clip

    config, *_ = tiny
    assert choose_precision("auto", "cpu") == "fp32"
    assert choose_precision("auto", "cuda") == "fp16"
    assert choose_precision("auto", "cuda:1") == "fp16"
    assert choose_precision("bf16", "cuda") == "bf16"
    cfg = config.embedders[0]
    assert cfg.precision == "auto"
    import dataclasses

    pinned = dataclasses.replace(cfg, precision="fp32", device="cpu")
    auto = dataclasses.replace(cfg, device="cpu")
    half = dataclasses.replace(cfg, precision="fp16", device="cpu")
    assert describe_open_clip(auto).fingerprint == describe_open_clip(pinned).fingerprint
    assert describe_open_clip(half).fingerprint != describe_open_clip(pinned).fingerprint
