"""Nearest neighbours of every full_set image, for the report's image pages (the dbt
Python model rpt_image_neighbours). Exact cosine top-k by blocked matrix products:
12,000 x 12,000 x 512 is a few seconds of BLAS, where SQL would join 144 M pairs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from neurostock.analysis.clusters import EmbedderVectors

SCHEMA = pa.schema([
    ("image_id", pa.int64()), ("embedder_id", pa.string()), ("rank", pa.int64()),
    ("neighbour_id", pa.int64()), ("similarity", pa.float64()),
])

BLOCK = 1024


def top_k(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, similarities), each (n, min(k, n-1)), nearest first, self excluded
    (within the k kept, equal similarities are ordered by index)."""
    n = len(vectors)
    k = min(k, n - 1)
    indices = np.empty((n, max(k, 0)), dtype=np.int64)
    similarities = np.empty((n, max(k, 0)))
    if k <= 0:
        return indices, similarities
    for start in range(0, n, BLOCK):
        block = vectors[start:start + BLOCK] @ vectors.T
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = -np.inf
        # Sort by (-similarity, index): lexsort's last key is the primary one.
        part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(block, part, axis=1)
        order = np.lexsort((part, -values), axis=1)[:, :k]
        indices[start:start + len(rows)] = np.take_along_axis(part, order, axis=1)
        similarities[start:start + len(rows)] = np.take_along_axis(values, order, axis=1)
    return indices, similarities


def neighbours_table(vectors: list[EmbedderVectors], k: int) -> pa.Table:
    tables = [pa.Table.from_pylist([], schema=SCHEMA)]
    for data in vectors:
        if len(data.image_ids) < 2:
            continue
        indices, similarities = top_k(data.vectors, k)
        n, kk = indices.shape
        tables.append(pa.table({
            "image_id": np.repeat(data.image_ids.astype(np.int64), kk),
            "embedder_id": [data.embedder_id] * (n * kk),
            "rank": np.tile(np.arange(1, kk + 1), n),
            "neighbour_id": data.image_ids.astype(np.int64)[indices.ravel()],
            "similarity": similarities.ravel(),
        }, schema=SCHEMA))
    return pa.concat_tables(tables)
