"""The decode workers behind the embedding and scoring UDFs: one thread pool per process
(`process_pool`) that lives across UDF calls and is shared by every embedder and
scorer in it, fed a few batches ahead of the model.

Threads, not processes: Pillow's decoders and resizers and torch's tensor ops release
the GIL, a thread needs no pickling of the decoded pixels, and the pool starts in
microseconds, so it can be created on the first UDF call and kept for the process.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class DecodePool:
    """`workers` threads (default: the machine's cores), started on first use."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ns-decode")
            return self._pool

    def batches(self, work: Callable[[int], T], batches: Sequence[Sequence[int]]
                ) -> Iterator[list[T]]:
        """`[work(i) for i in batch]` for each batch, in order, computed on the workers.

        Every item is its own task, so one batch spreads over all workers; the
        batches after the one being yielded are already decoding (enough to keep
        every worker busy, at least two), so the caller's model never waits while
        it has work. Memory stays bounded by that window, never by the whole call.
        """
        if not batches:
            return
        pool = self._executor()
        largest = max(len(b) for b in batches) or 1
        window = max(2, -(-2 * self.workers // largest))
        queued: deque[list[Future[T]]] = deque()
        upcoming = iter(batches)

        def feed() -> None:
            for batch in upcoming:
                queued.append([pool.submit(work, i) for i in batch])
                if len(queued) >= window:
                    return

        feed()
        try:
            while queued:
                futures = queued.popleft()
                results = [f.result() for f in futures]
                feed()
                yield results
        finally:
            # The caller stopped early (an error, an interrupt): drop what is not started.
            for futures in queued:
                for future in futures:
                    future.cancel()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


_PROCESS_POOL: DecodePool | None = None
_PROCESS_LOCK = threading.Lock()


def process_pool(workers: int | None = None) -> DecodePool:
    """The process's one decode pool, shared by the embedding and scoring UDFs (a dbt
    process runs both). Created on first use with `workers` threads (None: the
    machine's cores); a later call asking for another count replaces it, so a process
    never holds two pools."""
    global _PROCESS_POOL
    wanted = max(1, workers or os.cpu_count() or 1)
    with _PROCESS_LOCK:
        if _PROCESS_POOL is None or _PROCESS_POOL.workers != wanted:
            if _PROCESS_POOL is not None:
                _PROCESS_POOL.close()
            _PROCESS_POOL = DecodePool(wanted)
        return _PROCESS_POOL
