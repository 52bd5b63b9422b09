"""The DuckDB UDF behind the computed scorers, like embed/udfs.py for embeddings:

    ns_score_image(scorer_id, path, content_sha256, n_todo)
        -> STRUCT(score DOUBLE, components MAP(VARCHAR, DOUBLE), text VARCHAR, error VARCHAR)
    ns_score_stats(scorer_id) -> the step's counters (see embed.udfs.EmbeddingFunctions.take_stats)

Images are decoded once per batch; each finished batch is kept in the vector
cache's `results` table, so a killed run resumes.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time

import duckdb
import duckdb.sqltypes as t
import pyarrow as pa

from embed.cache import VectorCache
from embed.udfs import STATS_TYPE, StepLog, report_progress
from neurostock.core.errors import NeurostockError

RESULT_TYPE = duckdb.struct_type({
    "score": t.DOUBLE,
    "components": duckdb.map_type(t.VARCHAR, t.DOUBLE),
    "text": t.VARCHAR,
    "error": t.VARCHAR,
})
BATCH = 16


def load_scorer(scorer_id: str):
    """The scorer object for a configured id (its model loaded)."""
    if scorer_id == "technical":
        from score.technical import TechnicalQuality

        return TechnicalQuality()
    if scorer_id == "phash":
        from score.phash import PerceptualHash

        return PerceptualHash()
    if scorer_id == "nsfw":
        from score.nsfw import NsfwDetector

        return NsfwDetector()
    if scorer_id == "text_in_image":
        from score.text_in_image import TextInImage

        return TextInImage()
    raise NeurostockError(f"unknown scorer {scorer_id!r}")


def scorer_fingerprint(scorer) -> str:
    parts = [scorer.scorer_id, getattr(scorer, "version", None),
             getattr(scorer, "weights_sha256", None)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


class ScoreFunctions:
    """Loaded scorers (once per process), the result cache and the run counters."""

    def __init__(self, scorer_ids, cache: VectorCache) -> None:
        self.scorer_ids = set(scorer_ids)
        self.cache = cache
        self._scorers: dict[str, object] = {}
        self._lock = threading.Lock()
        self._log = StepLog()

    def scorer(self, scorer_id: str):
        with self._lock:
            if scorer_id not in self._scorers:
                if scorer_id not in self.scorer_ids:
                    raise NeurostockError(f"scorer {scorer_id!r} is not in neurostock.yml")
                print(f"[neurostock] loading scorer {scorer_id} …", file=sys.stderr, flush=True)
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
        cached = self.cache.get_results(fingerprint, hashes)
        results: list[dict | None] = [json.loads(cached[h]) if h in cached else None
                                      for h in hashes]
        stats.n_cached += sum(r is not None for r in results)
        todo = [i for i, r in enumerate(results) if r is None]
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            images, errors = _decode([paths[i] for i in batch])
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
            self.cache.put_results(fingerprint, finished)
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


def _decode(paths: list[str]):
    from PIL import Image

    images, errors = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
            errors.append(None)
        except Exception as exc:  # a broken file is a row with an error
            images.append(None)
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
    return images, errors


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
