"""What finished UDF batches computed, kept beside the warehouse so a killed run resumes.

A dbt model's insert commits only when the model finishes; the results of a run
killed half-way would be lost. The UDFs therefore write each finished batch to an
SQLite file (`<warehouse>.vectors.sqlite`, committed per batch) and look there
first: a resumed run recomputes nothing it already finished. One file, two stores,
both keyed by (fingerprint, content sha256), so changed weights or a new scorer
version never return stale results:

    ResumeCache.vectors        embeddings (embed/udfs.py), float32 vectors
    ResumeCache.score_results  computed scores (score/udfs.py), JSON text

plus `taken_shards`: which Ray shards (compute/shards.py) were already copied in.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

# Table names are the file's format: a cache written before keeps resuming.
_VECTORS = "vectors"
_SCORE_RESULTS = "results"
_TAKEN_SHARDS = "taken_shards"
_CHUNK = 500  # SQLite's bound-parameter limit is 999 on old builds


class _Store:
    """(fingerprint, content sha256) -> one value, one table of the cache file."""

    def __init__(self, con: sqlite3.Connection, lock: threading.Lock, table: str,
                 column: str, sql_type: str) -> None:
        self._con, self._lock, self._table, self._column = con, lock, table, column
        with lock, con:
            con.execute(
                f"create table if not exists {table} (fingerprint text, content_sha256 text, "
                f"{column} {sql_type}, primary key (fingerprint, content_sha256)) without rowid"
            )

    def _get(self, fingerprint: str, hashes: Iterable[str]) -> list[tuple[str, object]]:
        wanted = [h for h in set(hashes) if h]
        rows: list[tuple[str, object]] = []
        with self._lock:
            for start in range(0, len(wanted), _CHUNK):
                part = wanted[start : start + _CHUNK]
                rows += self._con.execute(
                    f"select content_sha256, {self._column} from {self._table} "
                    f"where fingerprint = ? and content_sha256 in ({', '.join('?' * len(part))})",
                    [fingerprint, *part],
                ).fetchall()
        return rows

    def _put(self, fingerprint: str, items: Iterable[tuple[str, object]]) -> None:
        rows = [(fingerprint, sha, value) for sha, value in items if sha]
        with self._lock, self._con:
            self._con.executemany(f"insert or replace into {self._table} values (?, ?, ?)", rows)


class VectorStore(_Store):
    """Embeddings: (embedder fingerprint, content sha256) -> float32 vector."""

    def get_many(self, fingerprint: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The stored vectors among `hashes` (empty hashes are never looked up)."""
        return {sha: np.frombuffer(blob, dtype=np.float32)
                for sha, blob in self._get(fingerprint, hashes)}

    def put_many(self, fingerprint: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store (content sha256, vector) pairs in one commit; pairs without a hash are dropped."""
        self._put(fingerprint, ((sha, np.asarray(v, dtype=np.float32).tobytes())
                                for sha, v in items))


class ScoreResultStore(_Store):
    """Scorer results: (scorer fingerprint, content sha256) -> the result as JSON text."""

    def get_many(self, fingerprint: str, hashes: Iterable[str]) -> dict[str, str]:
        """The stored results among `hashes` (empty hashes are never looked up)."""
        return dict(self._get(fingerprint, hashes))

    def put_many(self, fingerprint: str, items: Iterable[tuple[str, str]]) -> None:
        """Store (content sha256, JSON) pairs in one commit; pairs without a hash are dropped."""
        self._put(fingerprint, items)


class ShardLog:
    """The Ray shards already copied into the cache, by (path, size, mtime in ns)."""

    def __init__(self, con: sqlite3.Connection, lock: threading.Lock) -> None:
        self._con, self._lock = con, lock
        with lock, con:
            con.execute(f"create table if not exists {_TAKEN_SHARDS} (path text primary key, "
                        "size integer, mtime_ns integer) without rowid")

    def is_taken(self, path: str, size: int, mtime_ns: int) -> bool:
        with self._lock:
            row = self._con.execute(f"select size, mtime_ns from {_TAKEN_SHARDS} where path = ?",
                                    [path]).fetchone()
        return row == (size, mtime_ns)

    def mark(self, path: str, size: int, mtime_ns: int) -> None:
        with self._lock, self._con:
            self._con.execute(f"insert or replace into {_TAKEN_SHARDS} values (?, ?, ?)",
                              [path, size, mtime_ns])


class ResumeCache:
    """The cache file: `vectors` and `score_results`, safe across threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(path, check_same_thread=False)
        with self._lock, self._con:
            self._con.execute("pragma journal_mode=wal")
        self.vectors = VectorStore(self._con, self._lock, _VECTORS, "vector", "blob")
        self.score_results = ScoreResultStore(self._con, self._lock, _SCORE_RESULTS,
                                              "result", "text")
        self.taken_shards = ShardLog(self._con, self._lock)

    def close(self) -> None:
        with self._lock:
            self._con.close()
