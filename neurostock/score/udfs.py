"""The DuckDB UDF behind the computed scorers, like embed/udfs.py for embeddings:

    ns_score_image(scorer_id, path, content_sha256, n_todo)
        -> STRUCT(score DOUBLE, components MAP(VARCHAR, DOUBLE), text VARCHAR, error VARCHAR)
    ns_score_stats(scorer_id) -> the step's counters (see embed.udfs.EmbeddingFunctions.take_stats)

Images are decoded once per batch, on the process's decode pool (compute/decode_pool.py,
the next batches decoding while a scorer works on this one); each finished batch is
kept in the vector cache's `results` table, so a killed run resumes.
"""

from __future__ import annotations

import json
import threading
import time

import duckdb
import duckdb.sqltypes as t
import pyarrow as pa

from neurostock.compute.cache import ResumeCache
from neurostock.compute.decode_pool import process_pool
from neurostock.compute.step_log import STATS_TYPE, StepLog, report_progress
from neurostock.core import fileio
from neurostock.core.errors import NeurostockError
from neurostock.core.progress import say
from neurostock.score.catalog import load_scorer

RESULT_TYPE = duckdb.struct_type({
    "score": t.DOUBLE,
    "components": duckdb.map_type(t.VARCHAR, t.DOUBLE),
    "text": t.VARCHAR,
    "error": t.VARCHAR,
})
BATCH = 16


def scorer_fingerprint(scorer) -> str:
    """The digest recorded with every result of `scorer`: changes with its id, version or
    weights, so cached results of another version are never reused."""
    return fileio.fingerprint(scorer.scorer_id, getattr(scorer, "version", None),
                       getattr(scorer, "weights_sha256", None))


class ScoreFunctions:
    """Loaded scorers (once per process), the result cache and the run counters."""

    def __init__(self, scorer_ids, cache: ResumeCache, decode_workers: int | None = None,
                 ) -> None:
        self.scorer_ids = set(scorer_ids)
        # The process's one pool: in a dbt process, the embedding UDFs' pool.
        self.decoders = process_pool(decode_workers)
        self.cache = cache
        self._scorers: dict[str, object] = {}
        self._lock = threading.Lock()
        self._log = StepLog()

    def scorer(self, scorer_id: str):
        with self._lock:
            if scorer_id not in self._scorers:
                if scorer_id not in self.scorer_ids:
                    raise NeurostockError(f"scorer {scorer_id!r} is not in neurostock.yml")
                say(f"loading scorer {scorer_id} …")
                self._scorers[scorer_id] = load_scorer(scorer_id)
            return self._scorers[scorer_id]

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        con.create_function(
            "ns_score_image", self.score_image, [t.VARCHAR, t.VARCHAR, t.VARCHAR, t.BIGINT],
            RESULT_TYPE, type="arrow", side_effects=True,
        )
        con.create_function("ns_score_stats", self.take_stats, [t.VARCHAR], STATS_TYPE,
                            side_effects=True)

    def score_image(self, scorer_ids, paths, hashes, totals) -> pa.Array:
        ids = set(scorer_ids.to_pylist())
        if len(ids) != 1:
            raise NeurostockError(f"one scorer per query expected, got {sorted(ids)}")
        scorer_id = ids.pop()
        scorer = self.scorer(scorer_id)
        fingerprint = scorer_fingerprint(scorer)
        paths, hashes = paths.to_pylist(), hashes.to_pylist()
        stats = self._step(scorer_id)
        started = time.perf_counter()
        cached = self.cache.score_results.get_many(fingerprint, hashes)
        results: list[dict | None] = [json.loads(cached[h]) if h in cached else None
                                      for h in hashes]
        stats.n_cached += sum(r is not None for r in results)
        todo = [i for i, r in enumerate(results) if r is None]
        batches = [todo[start : start + BATCH] for start in range(0, len(todo), BATCH)]
        by_batch = self.decoders.batches(lambda i: _decode_one(paths[i]), batches)
        for batch, decoded in zip(batches, by_batch, strict=True):
            images = [image for image, _ in decoded]
            errors = [error for _, error in decoded]
            ok = [j for j, image in enumerate(images) if image is not None]
            scored = scorer.score_images([images[j] for j in ok]) if ok else []
            by_position = dict(zip(ok, scored, strict=True))
            finished = []
            for j, i in enumerate(batch):
                if j in by_position:
                    s = by_position[j]
                    results[i] = {"score": s.score, "components": s.components or None,
                                  "text": s.text, "error": s.error}
                else:
                    results[i] = {"score": None, "components": None, "text": None,
                                  "error": errors[j]}
                stats.n_failed += results[i]["error"] is not None
                stats.n_computed += results[i]["error"] is None
                finished.append((hashes[i], json.dumps(results[i])))
            self.cache.score_results.put_many(fingerprint, finished)
            self._report(scorer_id, stats, totals)
        stats.n_seen += len(paths)
        stats.seconds += time.perf_counter() - started
        return _result_array(results)

    def take_stats(self, scorer_id: str) -> dict:
        return self._log.take(scorer_id)

    def _step(self, scorer_id: str):
        return self._log.step(scorer_id)

    @staticmethod
    def _report(scorer_id, stats, totals) -> None:
        report_progress(f"score {scorer_id}", stats, totals)


def _decode_one(path: str):
    """(the RGB image, None), or (None, the error) for a broken file."""
    from PIL import Image

    from neurostock.core.imaging import to_rgb

    try:
        with Image.open(path) as image:
            return to_rgb(image), None
    except Exception as exc:  # a broken file is a row with an error
        return None, f"{type(exc).__name__}: {exc}"[:200]


def _result_array(results: list[dict]) -> pa.Array:
    components = pa.array(
        [list((r["components"] or {}).items()) if r["components"] else None for r in results],
        type=pa.map_(pa.string(), pa.float64()),
    )
    return pa.StructArray.from_arrays(
        [pa.array([r["score"] for r in results], type=pa.float64()), components,
         pa.array([r["text"] for r in results], type=pa.string()),
         pa.array([r["error"] for r in results], type=pa.string())],
        names=["score", "components", "text", "error"],
    )
