"""Run counters of the embedding and scoring UDFs, and their progress lines.

A UDF step (one embedder x kind, one scorer) counts what it saw, computed, found
cached and failed; the stats UDF hands the counters to the run log in SQL.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import duckdb.sqltypes as t

from neurostock.core.progress import say

STATS_TYPE = duckdb.struct_type({
    "started_at": t.TIMESTAMP_TZ, "finished_at": t.TIMESTAMP_TZ, "n_seen": t.BIGINT,
    "n_computed": t.BIGINT, "n_cached": t.BIGINT, "n_failed": t.BIGINT, "seconds": t.DOUBLE,
})
# Progress lines at most this often: a UDF call may finish a batch every few ms.
REPORT_EVERY_S = 2.0


@dataclass
class StepStats:
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    n_seen: int = 0
    n_computed: int = 0
    n_cached: int = 0
    n_failed: int = 0
    seconds: float = 0.0
    clock_start: float = field(default_factory=time.perf_counter)
    last_report: float = 0.0
    finished_at: datetime | None = None


class StepLog:
    """Counters per step key, shared by the embedding and scoring UDFs.

    `take` closes a step's run: DuckDB may call a stats UDF once per struct field,
    so later calls return the same snapshot, and the next `step` call starts anew.
    """

    def __init__(self) -> None:
        self._stats: dict[object, StepStats] = {}
        self._lock = threading.Lock()

    def step(self, key) -> StepStats:
        with self._lock:
            stats = self._stats.get(key)
            if stats is None or stats.finished_at is not None:
                stats = self._stats[key] = StepStats()
            return stats

    def take(self, key) -> dict:
        with self._lock:
            stats = self._stats.setdefault(key, StepStats())
            if stats.finished_at is None:
                stats.finished_at = datetime.now(UTC)
        return {
            "started_at": stats.started_at, "finished_at": stats.finished_at,
            "n_seen": stats.n_seen, "n_computed": stats.n_computed,
            "n_cached": stats.n_cached, "n_failed": stats.n_failed, "seconds": stats.seconds,
        }


def report_progress(label: str, stats: StepStats, totals) -> None:
    """One progress line (neurostock.core.progress.say), at most every REPORT_EVERY_S;
    `totals` is the UDF's n_todo column (its first value is the step's total)."""
    now = time.perf_counter()
    if now - stats.last_report < REPORT_EVERY_S:
        return
    stats.last_report = now
    total = totals[0].as_py() if len(totals) else "?"
    done = stats.n_computed + stats.n_cached + stats.n_failed
    rate = stats.n_computed / max(now - stats.clock_start, 1e-9)
    say(f"{label}: {done}/{total} ({stats.n_computed} computed{f', {rate:.1f}/s' if rate else ''})")
