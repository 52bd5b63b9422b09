"""Benchmark: which approximate nearest-neighbour library finds the gate's embedding pairs.

    .venv/bin/python benchmarks/bench_embedding_index.py [--n 100000] [--dim 512]
        [--min-cosine 0.97] [--queries 200] [--libraries usearch,faiss,hnswlib]
        [--workdir bench_out]

usearch is a dependency; the rivals are not: `.venv/bin/pip install faiss-cpu==1.15.1
hnswlib==0.8.0` to measure them too (a library that is not installed is skipped).

Data: SYNTHETIC unit vectors shaped like image embeddings: --n vectors around 1,000
seeded centres (Gaussian spread, L2-normalised; members of one centre have cosine
~0.7), of which 2% are planted near-duplicate groups of 2-6 copies (each copy the
original plus noise drawn so that its cosine to the original lies around 0.95-0.995,
straddling the threshold), the way one prompt run with a few seeds or a re-saved file
looks to an image embedder.

The question is the one `image_embedding_pairs` asks: every pair with cosine >=
--min-cosine, found by a self k-nearest-neighbour search with k doubled for the
queries whose k-th neighbour is still above the threshold. The exact pairs come from
a blocked float32 matmul (every pair; the reference only). Per library: build
seconds, pair search seconds, recall of the exact pairs, the
`neurostock similar` question (recall@20 against the exact top 20, median query ms:
the raw index at its default search width; for usearch also as the command asks it,
`command_recall_at_20`: 2k+1 candidates at SIMILAR_EXPANSION, ranked exactly),
and what one `similar` process pays first: the saved file's size and the seconds to
open it (usearch and faiss as memory maps, hnswlib by loading) and answer one query.
Results go to stdout and WORKDIR/bench_embedding_index.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BLOCK = 8_192


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def planted_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Clustered unit vectors with planted near-duplicate groups (module docstring)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), n)]
    vectors += 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    planted = 0
    target = n // 50
    while planted < target:
        size = int(rng.integers(2, 7))
        rows = rng.choice(n, size, replace=False)
        # cos(v, v + e) ~ 1 / sqrt(1 + dim sigma^2): sigma for cosines 0.95-0.995.
        cosine = rng.uniform(0.95, 0.995, size - 1)
        sigma = np.sqrt((1 / cosine ** 2 - 1) / dim).astype(np.float32)
        copies = vectors[rows[0]] + sigma[:, None] * rng.standard_normal(
            (size - 1, dim)).astype(np.float32)
        vectors[rows[1:]] = copies / np.linalg.norm(copies, axis=1, keepdims=True)
        planted += size
    return vectors


def exact_pairs(vectors: np.ndarray, min_cosine: float) -> set[tuple[int, int]]:
    """Every pair i < j with cosine >= min_cosine (blocked matmul: the reference)."""
    found: set[tuple[int, int]] = set()
    for start in range(0, len(vectors), BLOCK):
        block = vectors[start:start + BLOCK] @ vectors[start:].T
        rows, cols = np.nonzero(block >= min_cosine)
        cols += start
        rows += start
        keep = rows < cols
        found.update(zip(rows[keep].tolist(), cols[keep].tolist(), strict=True))
    return found


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> list[set[int]]:
    sims = vectors[queries] @ vectors.T
    sims[np.arange(len(queries)), queries] = -2
    kth = np.partition(sims, -k, axis=1)[:, -k]
    return [set(np.nonzero(row >= t)[0].tolist()) for row, t in zip(sims, kth, strict=True)]


class Usearch:
    name = "usearch (what image_embedding_pairs runs: compute/vector_index.py)"

    def __init__(self, dim: int) -> None:
        from neurostock.compute import vector_index

        vector_index.EXACT_BELOW = 0  # the graph, as at pool size
        self.index = vector_index.VectorIndex(dim)

    def add(self, vectors: np.ndarray) -> None:
        self.index.add(np.arange(len(vectors), dtype=np.int64), vectors)

    def search(self, queries: np.ndarray, k: int,
               expansion: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k, expansion)

    def save(self, path: Path) -> None:
        self.index.save(path)

    def open(self, path: Path):
        """Opened as `neurostock similar` opens it: a read-only memory map."""
        from neurostock.compute.vector_index import VectorIndex

        opened = Usearch.__new__(Usearch)
        opened.index = VectorIndex.load(path, self.index.dim, view=True)
        return opened

    def pairs(self, vectors: np.ndarray, min_cosine: float) -> tuple[np.ndarray, np.ndarray]:
        from neurostock.compute.vector_index import candidate_pairs

        return candidate_pairs(self.index, np.arange(len(vectors), dtype=np.int64), vectors,
                               min_cosine)


class Faiss:
    name = "faiss-cpu (IndexHNSWFlat, inner product, M=16, ef 128/64)"

    def __init__(self, dim: int) -> None:
        import faiss
        self.index = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 128
        self.index.hnsw.efSearch = 64

    def add(self, vectors: np.ndarray) -> None:
        self.index.add(vectors)

    def __len__(self) -> int:
        return self.index.ntotal

    def save(self, path: Path) -> None:
        import faiss
        faiss.write_index(self.index, str(path))

    def open(self, path: Path):
        import faiss
        opened = Faiss.__new__(Faiss)
        opened.index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
        opened.index.hnsw.efSearch = 64
        return opened

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims, keys = self.index.search(queries, k)
        return keys, sims


class Hnswlib:
    name = "hnswlib (HNSW, cosine, M=16, ef 128/64)"

    def __init__(self, dim: int) -> None:
        import hnswlib
        self.index = hnswlib.Index(space="cosine", dim=dim)
        self.capacity = 0

    def add(self, vectors: np.ndarray) -> None:
        self.index.init_index(max_elements=len(vectors), M=16, ef_construction=128)
        self.index.add_items(vectors, np.arange(len(vectors)))
        self.index.set_ef(64)

    def __len__(self) -> int:
        return self.index.get_current_count()

    def save(self, path: Path) -> None:
        self.index.save_index(str(path))
        self.dim = self.index.dim

    def open(self, path: Path):
        import hnswlib
        opened = Hnswlib.__new__(Hnswlib)
        opened.index = hnswlib.Index(space="cosine", dim=self.dim)
        opened.index.load_index(str(path))
        opened.index.set_ef(64)
        return opened

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        keys, distances = self.index.knn_query(queries, k)
        return keys.astype(np.int64), 1 - distances


LIBRARIES = {"usearch": Usearch, "faiss": Faiss, "hnswlib": Hnswlib}


def index_pairs(index, vectors: np.ndarray, min_cosine: float) -> set[tuple[int, int]]:
    """Pairs above the threshold the way image_embedding_pairs finds them: candidates
    from the index (compute/vector_index.candidate_pairs: self-searches with a margin,
    k doubled where the k-th is still a candidate), each verified in float32. The rivals
    run the same search through their own index."""
    from neurostock.compute.vector_index import candidate_pairs

    if hasattr(index, "pairs"):
        a, b = index.pairs(vectors, min_cosine)
    else:
        a, b = candidate_pairs(index, np.arange(len(vectors), dtype=np.int64), vectors,
                               min_cosine)
    keep = np.einsum("ij,ij->i", vectors[a], vectors[b]) >= min_cosine
    return set(zip(a[keep].tolist(), b[keep].tolist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--min-cosine", type=float, default=0.97)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--libraries", default="usearch,faiss,hnswlib")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench_out")
    parser.add_argument("--similar-only", action="store_true",
                        help="skip the pairs (their all-pairs reference grows with n^2): "
                             "build, open and the `similar` question only, for pool sizes")
    args = parser.parse_args()

    vectors = planted_vectors(args.n, args.dim)
    _log(f"{args.n:,} x {args.dim} vectors")
    started = time.perf_counter()
    truth = set() if args.similar_only else exact_pairs(vectors, args.min_cosine)
    exact_s = time.perf_counter() - started
    if not args.similar_only:
        _log(f"exact: {len(truth):,} pairs >= {args.min_cosine} in {exact_s:.1f} s")
    queries = np.random.default_rng(1).choice(args.n, args.queries, replace=False)
    top = exact_top(vectors, queries, 20)
    results = {"n": args.n, "dim": args.dim, "min_cosine": args.min_cosine,
               "exact_pairs": len(truth), "exact_pairs_s": round(exact_s, 1), "libraries": []}
    for key in args.libraries.split(","):
        try:
            LIBRARIES[key](args.dim)
        except ImportError:
            _log(f"{key}: not installed (pip install faiss-cpu hnswlib for the rivals)")
            continue
        index = LIBRARIES[key](args.dim)
        started = time.perf_counter()
        index.add(vectors)
        build_s = time.perf_counter() - started
        _log(f"{key}: built in {build_s:.1f} s")
        started = time.perf_counter()
        pairs = set() if args.similar_only else index_pairs(index, vectors, args.min_cosine)
        pairs_s = time.perf_counter() - started
        times, hits = [], 0
        for query, want in zip(queries.tolist(), top, strict=True):
            started = time.perf_counter()
            keys, _ = index.search(vectors[query:query + 1], 21)
            times.append(time.perf_counter() - started)
            got = [k for k in keys[0].tolist() if k != query][:20]
            hits += len(set(got) & want) / 20
        # As `neurostock similar` asks it (embed/search.py): 2k+1 candidates with its
        # wider search (SIMILAR_EXPANSION), ranked exactly on the float32 vectors.
        command_times, command_hits = [], 0
        if key == "usearch":
            from neurostock.compute.vector_index import SIMILAR_EXPANSION

            for query, want in zip(queries.tolist(), top, strict=True):
                started = time.perf_counter()
                keys, _ = index.search(vectors[query:query + 1], 41, SIMILAR_EXPANSION)
                found = [k for k in keys[0].tolist() if k >= 0 and k != query]
                ranked = np.asarray(found)[np.argsort(-(vectors[found] @ vectors[query]),
                                                      kind="stable")][:20]
                command_times.append(time.perf_counter() - started)
                command_hits += len(set(ranked.tolist()) & want) / 20
        # One `neurostock similar` process: open the saved index, answer one query.
        saved = args.workdir / f"index-{key}.bin"
        args.workdir.mkdir(parents=True, exist_ok=True)
        index.save(saved)
        started = time.perf_counter()
        index.open(saved).search(vectors[queries[0]:queries[0] + 1], 21)
        open_s = time.perf_counter() - started
        size_mb = saved.stat().st_size / 1e6
        saved.unlink()
        row = {"library": index.name, "build_s": round(build_s, 1),
               "file_mb": round(size_mb), "open_and_one_query_s": round(open_s, 3),
               **({} if args.similar_only else {
                   "pairs_s": round(pairs_s, 1),
                   "pair_recall": round(len(pairs & truth) / max(len(truth), 1), 4),
                   "extra_pairs": len(pairs - truth)}),
               "similar_recall_at_20": round(hits / len(queries), 4),
               "similar_median_ms": round(1000 * float(np.median(times)), 2),
               **({"command_recall_at_20": round(command_hits / len(queries), 4),
                   "command_median_ms": round(1000 * float(np.median(command_times)), 2)}
                  if command_times else {})}
        _log(json.dumps(row))
        results["libraries"].append(row)
        del index
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "bench_embedding_index.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
