"""Benchmark: neighbour search at pool scale, exact scans against DuckDB vss's HNSW index.

    .venv/bin/python benchmarks/bench_similar.py [--n 100000] [--dim 512] [--queries 20]
        [--k 20] [--no-hnsw] [--workdir bench_out]

Data: SYNTHETIC unit vectors shaped like image embeddings (not random noise, which
no index can search well, and no embedding looks like): --n vectors around 1,000
seeded centres (Gaussian spread, L2-normalised), stored as `FLOAT[dim]` in a
scratch DuckDB file exactly like an `emb_image__<id>` table. Each query is an image
of the table (`neurostock similar --image ID`), its own row excluded.
Methods, each timed per query after its set-up (set-up timed apart):
  duckdb_exact  what `neurostock similar` runs (embed/search.py IMAGE_QUERY):
                array_cosine_similarity over the whole table, ORDER BY .. LIMIT k
  numpy_blocked the vectors fetched once into a float32 matrix (set-up: that
                fetch), then per query a matmul in blocks of 65,536 rows and an
                argpartition per block
  hnsw          DuckDB vss: CREATE INDEX .. USING HNSW (metric cosine) (set-up:
                the build), queried with ORDER BY array_cosine_distance(..) LIMIT k+1
Recall@k of each method against numpy's exact top k (ties at the k-th similarity
count as found). Results go to stdout and WORKDIR/bench_similar.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BLOCK = 65_536


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, dim)).astype(np.float32)
    members = rng.integers(0, len(centres), n)
    vectors = centres[members] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _load(con, vectors: np.ndarray) -> float:
    import pyarrow as pa

    started = time.perf_counter()
    dim = vectors.shape[1]
    table = pa.table({
        "image_id": pa.array(np.arange(len(vectors), dtype=np.int64)),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
    })
    con.register("vectors_arrow", table)
    con.execute(f"create table emb_image__bench as select image_id, "
                f"embedding::float[{dim}] as embedding from vectors_arrow")
    con.unregister("vectors_arrow")
    return time.perf_counter() - started


def _exact_top(matrix: np.ndarray, query_row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k (ids, similarities) by a blocked matmul, the query's own row excluded."""
    query = matrix[query_row]
    best_ids = np.empty(0, dtype=np.int64)
    best_sims = np.empty(0, dtype=np.float32)
    for start in range(0, len(matrix), BLOCK):
        sims = matrix[start:start + BLOCK] @ query
        if start <= query_row < start + BLOCK:
            sims[query_row - start] = -np.inf
        take = min(k, len(sims))
        top = np.argpartition(-sims, take - 1)[:take]
        best_ids = np.concatenate([best_ids, top + start])
        best_sims = np.concatenate([best_sims, sims[top]])
        keep = np.lexsort((best_ids, -best_sims))[:k]
        best_ids, best_sims = best_ids[keep], best_sims[keep]
    return best_ids, best_sims


def _recall(found: list[int], exact_ids: np.ndarray, exact_sims: np.ndarray,
            sims_of) -> float:
    """Share of the exact top k found; a found id as similar as the k-th counts (ties)."""
    kth = exact_sims[-1]
    hits = sum(1 for i in found if i in set(exact_ids.tolist()) or sims_of(i) >= kth - 1e-6)
    return min(hits, len(exact_ids)) / len(exact_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--no-hnsw", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path("bench_out"))
    args = parser.parse_args()

    import duckdb

    from neurostock.core.warehouse import ensure_extensions
    from neurostock.embed.search import IMAGE_QUERY

    vectors = _vectors(args.n, args.dim)
    queries = np.random.default_rng(1).choice(args.n, args.queries, replace=False)
    results: dict = {"n": args.n, "dim": args.dim, "k": args.k, "queries": args.queries,
                     "data": "SYNTHETIC clustered unit vectors (1,000 centres)"}
    with tempfile.TemporaryDirectory(prefix="bench_similar_") as scratch:
        con = duckdb.connect(str(Path(scratch) / "vectors.duckdb"))
        results["load_s"] = _load(con, vectors)
        _log(f"loaded {args.n:,} x {args.dim} in {results['load_s']:.1f} s")

        exact = {int(q): _exact_top(vectors, int(q), args.k) for q in queries}

        def sims_of(q):
            return lambda i: float(vectors[i] @ vectors[q])

        def run(name: str, search) -> None:
            times, recalls = [], []
            for q in queries:
                started = time.perf_counter()
                found = search(int(q))
                times.append(time.perf_counter() - started)
                recalls.append(_recall(found, *exact[int(q)], sims_of(int(q))))
            results[name] = {"median_query_s": float(np.median(times)),
                             "max_query_s": float(np.max(times)),
                             "recall_at_k": float(np.mean(recalls)),
                             "min_recall_at_k": float(np.min(recalls)),
                             **results.get(name, {})}
            _log(f"{name}: median {np.median(times) * 1000:.1f} ms/query, "
                 f"recall@{args.k} {np.mean(recalls):.4f}")

        sql = IMAGE_QUERY.format(e="bench")
        run("duckdb_exact", lambda q: [r[0] for r in con.execute(sql, [q, args.k]).fetchall()])

        started = time.perf_counter()
        matrix = np.asarray(
            con.execute("select embedding from emb_image__bench order by image_id")
            .fetchnumpy()["embedding"].tolist(), dtype=np.float32)
        results["numpy_blocked"] = {"setup_s": time.perf_counter() - started}
        run("numpy_blocked", lambda q: _exact_top(matrix, q, args.k)[0].tolist())

        if not args.no_hnsw:
            ensure_extensions(con)
            con.execute("load vss")
            con.execute("set hnsw_enable_experimental_persistence = true")
            started = time.perf_counter()
            con.execute("create index emb_hnsw on emb_image__bench using hnsw (embedding) "
                        "with (metric = 'cosine')")
            results["hnsw"] = {"setup_s": time.perf_counter() - started}
            _log(f"hnsw built in {results['hnsw']['setup_s']:.1f} s")
            # The index serves ORDER BY distance(column, constant or parameter) LIMIT k; a
            # subquery for the target's vector would hide it, so the vector is fetched first.
            hnsw_sql = (f"select image_id from emb_image__bench order by array_cosine_distance("
                        f"embedding, ?::float[{args.dim}]) limit ?")
            plan = con.execute("explain " + hnsw_sql, [vectors[0].tolist(), args.k + 1])
            results["hnsw"]["uses_index"] = "HNSW" in str(plan.fetchall())

            def hnsw(q: int) -> list[int]:
                target = con.execute("select embedding from emb_image__bench where image_id = ?",
                                     [q]).fetchone()[0]
                rows = con.execute(hnsw_sql, [target, args.k + 1]).fetchall()
                return [r[0] for r in rows if r[0] != q][: args.k]

            run("hnsw", hnsw)
        con.close()
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "bench_similar.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
