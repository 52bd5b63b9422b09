"""A nearest-neighbour index of one embedder's image vectors, kept beside the warehouse.

usearch's HNSW graph (cosine, vectors stored as float16, connectivity 16), chosen by
benchmarks/bench_embedding_index.py against faiss-cpu and hnswlib (docs/embeddings.md:
all three find the pairs; usearch removes and replaces single vectors, which an
incremental build needs and faiss's HNSW cannot, stores half the bytes with float16, and
opens a saved index as a memory map, so `neurostock similar` answers without loading it).

The index proposes; it never decides. Pairs above a cosine threshold are *candidates*
found with a margin below it (float16 and the graph are approximate), and the caller
verifies each candidate on the float32 vectors in the warehouse, so every pair reported
is a true one; what the graph can miss is bounded by the recall the benchmark measures.
Up to EXACT_BELOW vectors the search is exact (usearch's brute-force mode), so small
warehouses, the demo and the tests get every pair, the same on every run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

EXACT_BELOW = 20_000
CANDIDATE_MARGIN = 0.01
CONNECTIVITY = 16
# How the index stores a vector: float16. int8 was measured against it (7 Dec 2026,
# bench_embedding_index.py, docs/embeddings.md): at 100k x 512 the same pairs, the build
# 1.6x faster; at 2.1 M no faster (1,117 s against 1,052-1,183 s) and `similar`'s
# recall@20 0.938 against 0.976, under the 0.95. A saved index of another kind
# is built again (VectorIndex.load).
DTYPE = "f16"
# Candidates kept while building and searching the graph (usearch's defaults; a wider
# search, 128, found no more pairs on bench_embedding_index.py's 100k x 512 and took
# twice as long).
EXPANSION_ADD = 128
EXPANSION_SEARCH = 64
# `neurostock similar` asks one question at a time: a wider search costs it milliseconds
# and buys recall at pool size (bench_embedding_index.py --similar-only: recall@20 at
# 2.1 M x 512 was 0.77 with 64).
SIMILAR_EXPANSION = 512
FIRST_K = 16
# A query with more near-copies than this keeps its MAX_K nearest: one motif either way
# (its copies still join one group through each other), and a degenerate embedder that
# maps everything to one point cannot make the search compare every pair.
MAX_K = 1024


class VectorIndex:
    """One embedder's image vectors by image id (usearch HNSW, cosine, float16)."""

    def __init__(self, dim: int, index=None, dtype: str = DTYPE) -> None:
        """`dtype`: how vectors are stored (DTYPE for the image index; "f32" where the
        cosines themselves are used, as the keyword fill's neighbours are)."""
        from usearch.index import Index

        self.dim = dim
        self.index = index if index is not None else Index(
            ndim=dim, metric="cos", dtype=dtype, connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)

    @classmethod
    def load(cls, path: Path, dim: int, view: bool = False) -> VectorIndex | None:
        """The saved index at `path`, or None when there is none or it is for another
        dimension (the caller builds a new one). `view` maps the file read-only instead
        of loading it (queries only)."""
        from usearch.index import Index

        if not path.is_file():
            return None
        try:
            index = Index.restore(str(path), view=view)
        except (RuntimeError, ValueError):
            return None
        if index is None or index.ndim != dim or index.dtype.name.lower() != DTYPE:
            return None
        index.expansion_search = EXPANSION_SEARCH  # a search setting: not kept in the file
        return cls(dim, index)

    def __len__(self) -> int:
        return len(self.index)

    def contains(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros(0, dtype=bool)
        return np.asarray(self.index.contains(ids.astype(np.uint64)), dtype=bool).reshape(-1)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add(ids.astype(np.uint64), np.ascontiguousarray(vectors, np.float32))

    def remove(self, ids: np.ndarray) -> None:
        present = ids[self.contains(ids)]
        if len(present):
            self.index.remove(present.astype(np.uint64))

    def search(self, vectors: np.ndarray, k: int,
               expansion: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per query row the k nearest ids (-1 where fewer) and their cosines (float16
        approximations), exact below EXACT_BELOW vectors. `expansion`: the graph search's
        candidate list for this call (default EXPANSION_SEARCH)."""
        self.index.expansion_search = max(expansion or EXPANSION_SEARCH, k)
        try:
            found = self.index.search(np.ascontiguousarray(vectors, np.float32), k,
                                      exact=len(self) <= EXACT_BELOW)
        finally:
            self.index.expansion_search = EXPANSION_SEARCH
        shape = (len(vectors), -1)
        keys = found.keys.astype(np.int64).reshape(shape)
        with np.errstate(invalid="ignore"):  # beyond a query's count: NaN, replaced below
            sims = (1 - found.distances.astype(np.float64)).reshape(shape)
        # One query comes back as Matches (no counts), several as BatchMatches.
        counts = np.asarray(getattr(found, "counts", [found.keys.size])).reshape(-1)
        beyond = np.arange(keys.shape[1])[None, :] >= counts[:, None]
        keys[beyond] = -1
        sims[beyond] = -2.0
        return keys, sims

    def save(self, path: Path) -> None:
        """Written to a temporary file beside `path`, then renamed over it: a reader or
        a crash never sees half an index."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        self.index.save(str(partial))
        os.replace(partial, path)


def candidate_pairs(index: VectorIndex, ids: np.ndarray, vectors: np.ndarray,
                    min_cosine: float,
                    progress: Callable[[str], None] | None = None,
                    batch: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (low id, high id) for each query vector: its neighbours in the
    index whose approximate cosine is at least min_cosine - CANDIDATE_MARGIN. A query
    whose k-th neighbour is still a candidate is searched again with 2k (up to MAX_K),
    so a large group of near-copies is found whole. Each pair once; not yet verified."""
    floor = min_cosine - CANDIDATE_MARGIN
    low, high = [], []
    for start in range(0, len(ids), batch):
        pending = np.arange(start, min(start + batch, len(ids)))
        k = FIRST_K
        while len(pending) and k <= min(MAX_K, 2 * max(len(index), 1)):
            keys, sims = index.search(vectors[pending], k + 1)
            hit = (sims >= floor) & (keys >= 0) & (keys != ids[pending][:, None])
            rows, cols = np.nonzero(hit)
            low.append(ids[pending][rows])
            high.append(keys[rows, cols])
            pending = pending[sims[:, -1] >= floor]
            k *= 2
        if progress and len(ids) > batch:
            progress(f"  searched {min(start + batch, len(ids)):,} of {len(ids):,} vectors")
    if not low:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = np.concatenate(low), np.concatenate(high)
    pairs = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


# Each candidate pair takes its first vector, then its second: two joins on the image id,
# in that order (materialized). Written as one three-way join, DuckDB's planner may join
# the two sides of `vectors` on the embedder alone first, every vector with every other,
# and filter on the cosine (bench_pool.py --full: unfinished after 4 minutes at 100,000
# vectors; tests/test_vector_index.py checks the plan).
VERIFY_SQL = """
with with_a as materialized (
    select c.embedder_id, c.image_id_a, c.image_id_b, a.embedding as embedding_a
    from ns_candidate_pairs as c
    inner join vectors as a on a.embedder_id = c.embedder_id and a.image_id = c.image_id_a
    where a.problem is null
),
scored as materialized (
    select w.embedder_id, w.image_id_a::bigint as image_id_a,
           w.image_id_b::bigint as image_id_b,
           list_cosine_similarity(w.embedding_a, b.embedding)::double as cosine
    from with_a as w
    inner join vectors as b on b.embedder_id = w.embedder_id and b.image_id = w.image_id_b
    where b.problem is null
)
select * from scored where cosine >= {min_cosine}
"""


def verified_pairs(session, vectors, candidates, min_cosine: float):
    """The candidate pairs (a DataFrame of embedder_id, image_id_a, image_id_b) whose
    stored vectors (`vectors`: a DuckDB relation of int_image_vectors' columns) are at
    cosine >= min_cosine, with the cosine: a DataFrame."""
    session.register("ns_candidate_pairs", candidates)
    try:
        return vectors.query("vectors", VERIFY_SQL.format(min_cosine=float(min_cosine))).df()
    finally:
        session.unregister("ns_candidate_pairs")
