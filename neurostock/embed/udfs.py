"""DuckDB UDFs that embed images and texts inside SQL, batched, resumable, loaded once.

Registered on every dbt connection by neurostock.dbt_plugin; the generated
incremental models (neurostock/build/embedding_models.py) call them:

    ns_embed_image(embedder_id, path, content_sha256, n_todo)
        -> STRUCT(embedding FLOAT[], error VARCHAR)
    ns_embed_text(embedder_id, kind, text, content_sha256, n_todo) -> same
    ns_embed_stats(kind, embedder_id) -> counters of this process's run, then reset

Arrow UDFs get up to 2,048 rows per call on one thread; the model sees them in
batches of the embedder's batch_size while the next batches decode on the process's
decode pool (compute/decode_pool.py: `decode_workers` threads, kept across calls,
shared with the scoring UDFs).
"""

from __future__ import annotations

import threading
import time

import duckdb
import duckdb.sqltypes as t
import numpy as np
import pyarrow as pa

from neurostock.compute.cache import ResumeCache
from neurostock.compute.decode_pool import process_pool
from neurostock.compute.step_log import STATS_TYPE, StepLog, StepStats, report_progress
from neurostock.core.config import Config
from neurostock.core.errors import NeurostockError
from neurostock.core.progress import say
from neurostock.embed.backends import load_embedder

RESULT_TYPE = duckdb.struct_type({"embedding": duckdb.list_type(t.FLOAT), "error": t.VARCHAR})


class EmbeddingFunctions:
    """The state behind the UDFs: configs, loaded models (once per process), cache, counters."""

    def __init__(self, config: Config, cache: ResumeCache) -> None:
        self.configs = {e.id: e for e in config.embedders}
        self.scorer_ids = tuple(config.scorers)
        self.cache = cache
        self._models: dict[str, object] = {}
        self._load_lock = threading.Lock()
        self._log = StepLog()
        self.decode_workers = config.decoders
        self.decoders = process_pool(self.decode_workers)

    def model(self, embedder_id: str):
        with self._load_lock:
            if embedder_id not in self._models:
                if embedder_id not in self.configs:
                    raise NeurostockError(f"embedder {embedder_id!r} is not in neurostock.yml")
                say(f"loading embedder {embedder_id} …")
                self._models[embedder_id] = load_embedder(self.configs[embedder_id])
            return self._models[embedder_id]

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        con.create_function(
            "ns_embed_image", self.embed_image, [t.VARCHAR, t.VARCHAR, t.VARCHAR, t.BIGINT],
            RESULT_TYPE, type="arrow", side_effects=True,
        )
        con.create_function(
            "ns_embed_text", self.embed_text,
            [t.VARCHAR, t.VARCHAR, t.VARCHAR, t.VARCHAR, t.BIGINT],
            RESULT_TYPE, type="arrow", side_effects=True,
        )
        con.create_function(
            "ns_embed_stats", self.take_stats, [t.VARCHAR, t.VARCHAR], STATS_TYPE,
            side_effects=True,
        )

    # -- UDF bodies -----------------------------------------------------------------

    def embed_image(self, embedder_ids, paths, hashes, totals) -> pa.Array:
        embedder_id = _single(embedder_ids)
        model = self.model(embedder_id)
        paths, hashes = paths.to_pylist(), hashes.to_pylist()
        stats = self._step("image", embedder_id)
        started = time.perf_counter()
        vectors, errors = self._from_cache(model, hashes, stats)
        todo = [i for i, v in enumerate(vectors) if v is None]
        size = self.configs[embedder_id].batch_size
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        def decode(i: int):
            return self._decode_one(model, paths, i)

        for prepared in self.decoders.batches(decode, batches):
            ok = [(i, tensor) for i, tensor, _ in prepared if tensor is not None]
            for i, _, error in prepared:
                if error is not None:
                    errors[i] = error
            if ok:
                encoded = model.encode_prepared([tensor for _, tensor in ok])
                self._finish(model, [i for i, _ in ok], encoded, hashes, vectors, stats)
            stats.n_failed += len(prepared) - len(ok)
            self._report("image", embedder_id, stats, totals)
        stats.n_seen += len(paths)
        stats.seconds += time.perf_counter() - started
        return _result_array(vectors, errors)

    def embed_text(self, embedder_ids, kinds, texts, hashes, totals) -> pa.Array:
        embedder_id = _single(embedder_ids)
        kind = _single(kinds)
        model = self.model(embedder_id)
        texts, hashes = texts.to_pylist(), hashes.to_pylist()
        stats = self._step(kind, embedder_id)
        started = time.perf_counter()
        vectors, errors = self._from_cache(model, hashes, stats)
        todo = [i for i, v in enumerate(vectors) if v is None]
        size = self.configs[embedder_id].batch_size
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            encoded = model.embed_texts([texts[i] or "" for i in batch])
            self._finish(model, batch, encoded, hashes, vectors, stats)
            self._report(kind, embedder_id, stats, totals)
        stats.n_seen += len(texts)
        stats.seconds += time.perf_counter() - started
        return _result_array(vectors, errors)

    def take_stats(self, kind: str, embedder_id: str) -> dict:
        """The counters of the step's run so far (see StepLog.take)."""
        return self._log.take((kind, embedder_id))

    # -- helpers --------------------------------------------------------------------

    def _step(self, kind: str, embedder_id: str) -> StepStats:
        return self._log.step((kind, embedder_id))

    def _from_cache(self, model, hashes, stats):
        cached = self.cache.vectors.get_many(model.info.fingerprint, hashes)
        vectors: list[np.ndarray | None] = [cached.get(h) if h else None for h in hashes]
        stats.n_cached += sum(v is not None for v in vectors)
        return vectors, [None] * len(hashes)

    def _finish(self, model, indices, encoded, hashes, vectors, stats) -> None:
        for i, vector in zip(indices, encoded, strict=True):
            vectors[i] = vector
        self.cache.vectors.put_many(model.info.fingerprint,
                                    [(hashes[i], vectors[i]) for i in indices])
        stats.n_computed += len(indices)

    @staticmethod
    def _decode_one(model, paths, i):
        """(i, preprocessed tensor, None), or (i, None, the error) for a broken file."""
        try:
            return i, model.prepare_image(paths[i]), None
        except Exception as exc:  # a broken file is a row with an error, not a crash
            return i, None, f"{type(exc).__name__}: {exc}"[:200]

    @staticmethod
    def _report(kind, embedder_id, stats, totals) -> None:
        report_progress(f"embed {kind} {embedder_id}", stats, totals)


def _single(column) -> str:
    values = set(column.to_pylist())
    if len(values) != 1:
        raise NeurostockError(f"one embedder per query expected, got {sorted(map(str, values))}")
    return values.pop()


def _result_array(vectors: list, errors: list) -> pa.Array:
    """STRUCT(embedding FLOAT[], error VARCHAR) per row; failed rows carry NULL and the error."""
    dims = [len(v) if v is not None else 0 for v in vectors]
    offsets = np.zeros(len(vectors) + 1, dtype=np.int32)
    np.cumsum(dims, out=offsets[1:])
    present = [v for v in vectors if v is not None]
    values = np.concatenate(present).astype(np.float32) if present else np.zeros(0, np.float32)
    mask = pa.array([v is None for v in vectors])
    lists = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values), mask=mask)
    return pa.StructArray.from_arrays([lists, pa.array(errors, type=pa.string())],
                                      names=["embedding", "error"])
