"""Content-addressed store of finished vectors, beside the warehouse.

A dbt model's insert commits only when the model finishes; the vectors of a run
killed half-way would be lost. The UDFs therefore write each finished batch here
(an SQLite file, committed per batch) and look here first: a resumed run
recomputes nothing it already finished. Keyed by the embedder's fingerprint, so
changed weights never return stale vectors.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np


class VectorCache:
    """(fingerprint, content sha256) -> float32 vector, safe across threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(path, check_same_thread=False)
        with self._con:
            self._con.execute("pragma journal_mode=wal")
            self._con.execute(
                "create table if not exists vectors (fingerprint text, content_sha256 text, "
                "vector blob, primary key (fingerprint, content_sha256)) without rowid"
            )
            # Score results (JSON), for the scoring UDFs: same resume rule as vectors.
            self._con.execute(
                "create table if not exists results (fingerprint text, content_sha256 text, "
                "result text, primary key (fingerprint, content_sha256)) without rowid"
            )

    def get_many(self, fingerprint: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = [h for h in set(hashes) if h]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                rows = self._con.execute(
                    "select content_sha256, vector from vectors where fingerprint = ? and "
                    f"content_sha256 in ({', '.join('?' * len(part))})",
                    [fingerprint, *part],
                ).fetchall()
                for sha, blob in rows:
                    found[sha] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, fingerprint: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [(fingerprint, sha, np.asarray(v, dtype=np.float32).tobytes())
                for sha, v in items if sha]
        with self._lock, self._con:
            self._con.executemany("insert or replace into vectors values (?, ?, ?)", rows)

    def get_results(self, fingerprint: str, hashes: Iterable[str]) -> dict[str, str]:
        wanted = [h for h in set(hashes) if h]
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                found.update(self._con.execute(
                    "select content_sha256, result from results where fingerprint = ? and "
                    f"content_sha256 in ({', '.join('?' * len(part))})",
                    [fingerprint, *part],
                ).fetchall())
        return found

    def put_results(self, fingerprint: str, items: Iterable[tuple[str, str]]) -> None:
        rows = [(fingerprint, sha, text) for sha, text in items if sha]
        with self._lock, self._con:
            self._con.executemany("insert or replace into results values (?, ?, ?)", rows)

    def close(self) -> None:
        with self._lock:
            self._con.close()


def cache_path_for(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.stem + ".vectors.sqlite")
