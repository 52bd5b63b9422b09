"""Synthetic but realistic model outputs for `bench_pool.py --full`: what the embedding and
scoring steps would have computed for a pool, written where those steps write it.

At pool size the demo's models cannot run here (days of CPU), so this module stands in
for `neurostock embed|score --engine ray`: it reads the pool's content hashes from the
warehouse (as the Ray engine's to-do list does) and writes Parquet shards under
`<warehouse>.shards/` in the engine's own format (compute/shards.py). The next
`neurostock build` takes them up through the resume cache, exactly as after a Ray job,
and its embedding and scoring models find every result there.

What is written, for the configured embedders and scorers (the demo's):
- image vectors (512-d per image), clustered: 1,000 centres, cosine about 0.7 within a
  cluster; 2% of the images lead a planted group of 1-3 near copies (cosine about 0.99:
  what a variant or a flipped copy gives a CLIP model);
- prompt vectors (512-d and 384-d, one per distinct prompt), clustered the same way;
- perceptual hashes: uniform 64-bit hashes with a mirror hash each, and planted pairs
  (1 image in 200 a near copy, 0-6 bits away; 1 in 200 a flipped copy, whose hash is
  near the other's mirror hash);
- technical, nsfw and text-in-image results: each image takes one of a few results the
  real scorers gave on real decoded images, the technical scores jittered.

Every value is a function of the image id (generated per aligned block of ids), so the
rows added later get the same kind of values, and the planted pairs are known: the
benchmark checks the build found them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from neurostock.compute.shards import (
    SCORES,
    VECTOR_SCHEMA,
    VECTORS,
    score_table,
    shard_folder,
    write_shard,
)

BLOCK = 100_000  # ids per generated block (a multiple of the planting periods)
CENTRES = 1_000
GROUP_PERIOD = 50  # an image id = 1 (mod 50) leads a planted embedding group
HASH_PERIOD = 200  # id = 7 (mod 200): a near copy of id-1; id = 9: a flipped copy of id-2
SHARD_ROWS = 50_000


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _centres(dim: int) -> np.ndarray:
    return _unit(np.random.default_rng(dim).standard_normal((CENTRES, dim))).astype(np.float32)


def image_vectors(block: int, dim: int) -> np.ndarray:
    """Vectors of ids block*BLOCK+1 .. (block+1)*BLOCK (row i: id block*BLOCK+1+i)."""
    rng = np.random.default_rng((dim, block))
    centres = _centres(dim)
    # Cosine ~0.7 to its centre: centre + noise of norm ~1.
    noise = rng.standard_normal((BLOCK, dim)).astype(np.float32) / np.sqrt(dim)
    vectors = _unit(centres[rng.integers(0, CENTRES, BLOCK)] + noise)
    ids = np.arange(BLOCK) + block * BLOCK + 1
    for size in (1, 2, 3):  # leaders at id = 1 (mod 50) with 1, 2 or 3 copies after them
        leaders = np.flatnonzero((ids % GROUP_PERIOD == 1)
                                 & ((ids // GROUP_PERIOD) % 3 == size - 1))
        for k in range(1, size + 1):
            copies = leaders + k
            copies = copies[copies < BLOCK]
            jitter = (rng.standard_normal((len(copies), dim)).astype(np.float32)
                      * (0.1 / np.sqrt(dim)))
            vectors[copies] = _unit(vectors[copies - k] + jitter)
    return vectors.astype(np.float32)


def planted_embedding_pairs(last_id: int) -> set[tuple[int, int]]:
    """Every pair within a planted group among ids 1..last_id (cosine about 0.99)."""
    pairs = set()
    for leader in range(1, last_id + 1, GROUP_PERIOD):
        size = (leader // GROUP_PERIOD) % 3 + 1
        members = [i for i in range(leader, leader + size + 1) if i <= last_id]
        pairs |= {(a, b) for a in members for b in members if a < b}
    return pairs


def _random_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2) \
        + rng.integers(0, 2, n).astype(np.uint64)


def _flip_bits(rng: np.random.Generator, hashes: np.ndarray, max_bits: int) -> np.ndarray:
    out = hashes.copy()
    for i in range(len(out)):
        for bit in rng.choice(64, int(rng.integers(0, max_bits + 1)), replace=False):
            out[i] ^= np.uint64(1) << np.uint64(bit)
    return out


def hashes(block: int) -> tuple[np.ndarray, np.ndarray]:
    """(hash, mirror hash) of each id of the block, as uint64."""
    rng = np.random.default_rng((64, block))
    direct, mirror = _random_hashes(rng, BLOCK), _random_hashes(rng, BLOCK)
    ids = np.arange(BLOCK) + block * BLOCK + 1
    near = np.flatnonzero(ids % HASH_PERIOD == 7)
    direct[near] = _flip_bits(rng, direct[near - 1], 6)
    mirror[near] = _flip_bits(rng, mirror[near - 1], 6)
    flipped = np.flatnonzero(ids % HASH_PERIOD == 9)
    direct[flipped] = _flip_bits(rng, mirror[flipped - 2], 6)
    mirror[flipped] = _flip_bits(rng, direct[flipped - 2], 6)
    return direct, mirror


def planted_hash_pairs(last_id: int) -> set[tuple[int, int]]:
    """The planted near (id-1, id) and flipped (id-2, id) pairs among ids 1..last_id."""
    return ({(i - 1, i) for i in range(7, last_id + 1, HASH_PERIOD)}
            | {(i - 2, i) for i in range(9, last_id + 1, HASH_PERIOD)})


def _vector_table(hashes_: list[str], fingerprint: str, target: str,
                  vectors: np.ndarray) -> pa.Table:
    """compute.shards.vector_table's rows from one float32 matrix (its list of arrays
    would cost a Python object per vector at pool size)."""
    n, dim = vectors.shape
    lists = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * dim),
                                     pa.array(vectors.reshape(-1)))
    return pa.table({"content_sha256": hashes_, "fingerprint": [fingerprint] * n,
                     "target_id": [target] * n, "vector": lists,
                     "error": pa.nulls(n, pa.string())}, schema=VECTOR_SCHEMA)


def warehouse_inputs(warehouse: Path, first: int, last: int
                     ) -> tuple[np.ndarray, list[str], list[str]]:
    """What the Ray engine's to-do list would hold for ids first..last: the pool's
    readable images (id, content sha256) and their distinct prompt hashes."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        images = con.execute(
            "select image_id, sha256 from main.stg_files__images "
            "where status = 'ok' and sha256 is not null and image_id between ? and ? "
            "and image_id in (select image_id from main.pool) order by image_id",
            [first, last]).fetch_arrow_table()
        prompts = con.execute(
            "select distinct content_sha256 from main.int_prompts_hashed "
            "where prompt is not null and prompt != '' and image_id between ? and ? "
            "order by 1", [first, last]).fetchall()
    finally:
        con.close()
    return (images.column("image_id").to_numpy(), images.column("sha256").to_pylist(),
            [r[0] for r in prompts])


def cleaned_prompts(warehouse: Path, ids: list[int]) -> dict[int, str]:
    """The warehouse's cleaned prompt of each of `ids` (int_prompts_hashed)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute("select image_id, prompt from main.int_prompts_hashed "
                           "where image_id in (select unnest(?))", [ids]).fetchall()
    finally:
        con.close()
    return dict(rows)


def _blocks(ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(block number, positions in `ids`) of each generated block the ids fall in."""
    block_of = (ids - 1) // BLOCK
    for block in np.unique(block_of):
        yield int(block), np.flatnonzero(block_of == block)


def write_embeddings(shards: Path, embedders: list[dict], ids: np.ndarray, shas: list[str],
                     prompts: list[str]) -> dict[str, int]:
    """Image vector shards of the images (ids, content sha256) and prompt vector shards
    of the prompt hashes, for each embedder ({id, fingerprint, dim, kinds}); returns the
    rows written per (kind, embedder)."""
    written: dict[str, int] = {}
    for emb in embedders:
        folder = shard_folder(shards, VECTORS, emb["fingerprint"])
        if "image" in emb["kinds"]:
            for block, positions in _blocks(ids):
                vectors = image_vectors(block, emb["dim"])[ids[positions] - 1 - block * BLOCK]
                for start in range(0, len(positions), SHARD_ROWS):
                    part = positions[start:start + SHARD_ROWS]
                    write_shard(folder, _vector_table(
                        [shas[i] for i in part], emb["fingerprint"], emb["id"],
                        vectors[start:start + SHARD_ROWS]))
            written[f"image {emb['id']}"] = len(ids)
        if "prompt" in emb["kinds"]:
            rng = np.random.default_rng((emb["dim"], int(ids.min(initial=0)), 1))
            centres = _centres(emb["dim"])
            for start in range(0, len(prompts), SHARD_ROWS):
                part = prompts[start:start + SHARD_ROWS]
                noise = rng.standard_normal((len(part), emb["dim"])).astype(np.float32)
                vectors = _unit(centres[rng.integers(0, CENTRES, len(part))]
                                + noise / np.sqrt(emb["dim"])).astype(np.float32)
                write_shard(folder, _vector_table(part, emb["fingerprint"], emb["id"], vectors))
            written[f"prompt {emb['id']}"] = len(prompts)
    return written


def real_results(scorer, n: int = 6) -> list[dict]:
    """The scorer's results on n real decoded images (smooth, noisy, striped, text-like
    and flat pictures at 512 px), as the UDF caches them."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(7)
    pictures = []
    for k in range(n):
        y, x = np.mgrid[0:512, 0:512] / 512.0
        base = np.stack([np.sin(x * (k + 1) * 3), np.cos(y * (k + 2) * 2), x * y], -1)
        pixels = ((base + 1) * 100 + rng.normal(0, 4 + 8 * k, (512, 512, 3))).clip(0, 255)
        picture = Image.fromarray(pixels.astype(np.uint8))
        if k % 3 == 2:
            ImageDraw.Draw(picture).text((40, 200), "SALE 50% OFF TODAY", fill=(0, 0, 0))
        pictures.append(picture)
    return [{"score": r.score, "components": r.components or None, "text": r.text,
             "error": r.error} for r in scorer.score_images(pictures)]


def _jittered(result: dict, factor: float) -> dict:
    """A technical result with its measures scaled (the geometry kept)."""
    kept = {"width", "height", "megapixels", "aspect"}
    components = {k: (v if k in kept or v is None else v * factor)
                  for k, v in (result["components"] or {}).items()}
    score = None if result["score"] is None else result["score"] * factor
    return {**result, "score": score, "components": components or None}


def write_scores(shards: Path, scorers: list[dict], ids: np.ndarray,
                 shas: list[str]) -> dict[str, int]:
    """Score shards of the images (ids, content sha256) for each scorer ({id,
    fingerprint, templates}); returns the rows written per scorer."""
    written: dict[str, int] = {}
    for sc in scorers:
        folder = shard_folder(shards, SCORES, sc["fingerprint"])
        for block, positions in _blocks(ids):
            offsets = ids[positions] - 1 - block * BLOCK
            if sc["id"] == "phash":
                direct, mirror = hashes(block)
                results = [json.dumps({"score": None, "components": None,
                                       "text": f"{int(direct[o]):016x} {int(mirror[o]):016x}",
                                       "error": None}) for o in offsets]
            else:
                rng = np.random.default_rng((len(sc["id"]), block))
                pick = rng.integers(0, len(sc["templates"]), len(offsets))
                factors = np.exp(rng.normal(0, 0.3, len(offsets)))
                texts = [json.dumps(t) for t in sc["templates"]]
                results = ([json.dumps(_jittered(sc["templates"][p], f))
                            for p, f in zip(pick, factors, strict=True)]
                           if sc["id"] == "technical" else [texts[p] for p in pick])
            for start in range(0, len(positions), SHARD_ROWS):
                part = positions[start:start + SHARD_ROWS]
                n = len(part)
                write_shard(folder, score_table([shas[i] for i in part], sc["fingerprint"],
                                                sc["id"], results[start:start + n]))
        written[sc["id"]] = len(ids)
    return written


def found_pairs(warehouse: Path, table: str, planted: set[tuple[int, int]],
                extra: str = "") -> tuple[int, int]:
    """(planted pairs found in `table`, planted pairs) — the pairs' ids columns are
    image_id_a < image_id_b."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        found = set(con.execute(
            f"select least(image_id_a, image_id_b), greatest(image_id_a, image_id_b) "
            f"from main.{table} {extra}").fetchall())
    finally:
        con.close()
    return len(planted & found), len(planted)
