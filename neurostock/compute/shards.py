"""The Parquet shards the Ray engine writes, and how the warehouse takes them up.

`neurostock embed|score --engine ray` (embed/ray_engine.py, score/ray_engine.py) writes
what it computes as shards keyed by content sha256 and fingerprint, one folder per
fingerprint:

    <shards>/vectors/<embedder fingerprint>/part-<uuid>.parquet
        content_sha256, fingerprint, target_id (the embedder), vector FLOAT[], error
    <shards>/scores/<scorer fingerprint>/part-<uuid>.parquet
        content_sha256, fingerprint, target_id (the scorer), result (the UDF's JSON)

A shard is written to a temporary name (`.part-….tmp`) and renamed when whole, so a
job killed half-way leaves finished shards and, at worst, a temporary file that every
reader ignores. The dbt plugin copies finished shards into the resume cache
(compute/cache.py) before any model runs (`take_shards`), and the UDFs look there first:
one warehouse table holds the result whichever engine computed it.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from neurostock.compute.cache import ResumeCache
from neurostock.core.fileio import write_atomically

VECTORS = "vectors"
SCORES = "scores"
KINDS = (VECTORS, SCORES)
_PATTERN = "part-*.parquet"

VECTOR_SCHEMA = pa.schema([
    ("content_sha256", pa.string()), ("fingerprint", pa.string()),
    ("target_id", pa.string()), ("vector", pa.list_(pa.float32())), ("error", pa.string()),
])
SCORE_SCHEMA = pa.schema([
    ("content_sha256", pa.string()), ("fingerprint", pa.string()),
    ("target_id", pa.string()), ("result", pa.string()),
])


def shard_folder(root: Path, kind: str, fingerprint: str) -> Path:
    """Where the shards of one embedder / scorer fingerprint live."""
    return root / kind / fingerprint


def write_shard(folder: Path, table: pa.Table) -> Path:
    """Write `table` as a new finished shard in `folder`, atomically; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    target = folder / f"part-{uuid.uuid4().hex}.parquet"
    write_atomically(target, buffer.getvalue())
    return target


def vector_table(hashes: list[str], fingerprint: str, target_id: str,
                 vectors: list[np.ndarray | None], errors: list[str | None]) -> pa.Table:
    """One shard's rows of embeddings (a failed image: no vector, its error)."""
    n = len(hashes)
    return pa.table({
        "content_sha256": hashes, "fingerprint": [fingerprint] * n, "target_id": [target_id] * n,
        "vector": [None if v is None else np.asarray(v, np.float32) for v in vectors],
        "error": errors,
    }, schema=VECTOR_SCHEMA)


def score_table(hashes: list[str], fingerprint: str, target_id: str,
                results: list[str]) -> pa.Table:
    """One shard's rows of scorer results (JSON text, as the scoring UDF caches them)."""
    n = len(hashes)
    return pa.table({"content_sha256": hashes, "fingerprint": [fingerprint] * n,
                     "target_id": [target_id] * n, "result": results}, schema=SCORE_SCHEMA)


def finished_shards(folder: Path) -> list[Path]:
    """The finished shards of a folder (temporary files of an unfinished write left out)."""
    return sorted(folder.glob(_PATTERN)) if folder.is_dir() else []


def done_hashes(folder: Path) -> set[str]:
    """The content hashes the finished shards of `folder` hold (failed rows included:
    the Ray engine does not retry them; the build's UDF does)."""
    done: set[str] = set()
    for path in finished_shards(folder):
        done.update(pq.read_table(path, columns=["content_sha256"]).column(0).to_pylist())
    return done


@dataclass(frozen=True)
class Taken:
    """What `take_shards` copied into the cache: new shards and their rows."""

    n_shards: int
    n_rows: int


def take_shards(root: Path, cache: ResumeCache) -> Taken:
    """Copy every finished shard under `root` not yet taken into `cache` (vectors into
    `cache.vectors`, results into `cache.score_results`); a shard is taken once, by
    (path, size, mtime), so a build with nothing new only lists the folders."""
    n_shards = n_rows = 0
    for kind in KINDS:
        base = root / kind
        folders = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        for folder in folders:
            for path in finished_shards(folder):
                stat = path.stat()
                stamp = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
                if cache.taken_shards.is_taken(*stamp):
                    continue
                n_rows += _take_one(kind, path, cache)
                cache.taken_shards.mark(*stamp)
                n_shards += 1
    return Taken(n_shards, n_rows)


def _take_one(kind: str, path: Path, cache: ResumeCache) -> int:
    table = pq.read_table(path)
    by_fingerprint: dict[str, list[tuple[str, object]]] = {}
    if kind == VECTORS:
        rows: Iterable = zip(table["fingerprint"].to_pylist(),
                             table["content_sha256"].to_pylist(),
                             _vectors(table["vector"]), strict=True)
    else:
        rows = zip(table["fingerprint"].to_pylist(), table["content_sha256"].to_pylist(),
                   table["result"].to_pylist(), strict=True)
    for fingerprint, sha, value in rows:
        if value is not None:  # a failed embedding has no vector to keep
            by_fingerprint.setdefault(fingerprint, []).append((sha, value))
    store = cache.vectors if kind == VECTORS else cache.score_results
    for fingerprint, items in by_fingerprint.items():
        store.put_many(fingerprint, items)
    return sum(len(items) for items in by_fingerprint.values())


def _vectors(column: pa.ChunkedArray) -> list[np.ndarray | None]:
    """The list column as float32 arrays (None for a failed row), without a Python loop
    over the floats."""
    out: list[np.ndarray | None] = []
    for chunk in column.chunks:
        offsets = chunk.offsets.to_numpy()
        values = chunk.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        valid = chunk.is_valid().to_numpy(zero_copy_only=False)
        out += [values[offsets[i]:offsets[i + 1]] if valid[i] else None
                for i in range(len(chunk))]
    return out
