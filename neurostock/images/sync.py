"""`images sync`: check every image file the marts need into `files.images` and copy the
labelled ones into the dataset layout; this module runs the steps and sums them up.

The safe successor of the team's `get_ness_file.py`: every image of `full_set`
and of `pool` (or `big_set`) becomes one row of `files.images` with a status (`ok`,
`missing`, `unreadable`, `too_large`, `outside_root`), and every usable `full_set` image
is copied to `<dest>/<rating>/<image_id>.jpg` as an RGB JPEG. The images rated
unusable (resolved rating 5 in `image_ratings`) are checked too (set_name
`unusable`), so that they are embedded and scored like every rated image (the sell
decision is judged on all of them); only with `copy_unusable` are they also copied
to `<dest>/4/<image_id>.jpg`, the team's folder for them.

The jobs, one module each:
- `selection.py`: the to-do list from the marts, and the unchanged-file rule (a file
  checked `ok` before whose resolved path, size and mtime are unchanged is not read
  again; the summary's `n_rehashed` counts the files that were read);
- `checks.py`: one file checked into one row (path rules, size and pixel caps, decode);
- `dataset.py`: the dataset folders and copies;
- here: the thread pool, writing rows every BATCH_SIZE images, the summary.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from neurostock.core.errors import NeurostockError
from neurostock.core.meta import ensure_images_table
from neurostock.core.progress import progress_bar
from neurostock.core.warehouse import connect, resolve_warehouse
from neurostock.images.checks import (
    COLUMNS,
    STATUSES,
    Job,
    Rejected,
    Row,
    Settings,
    check_file,
    one_line,
    pillow_pixel_limit,
)
from neurostock.images.dataset import (
    DestinationError,
    copy_into_dataset,
    make_dataset_folders,
    wants_copy,
)
from neurostock.images.paths import PathMap, allowed_roots, image_base, is_inside, resolve_path
from neurostock.images.selection import (
    delete_rows_not_needed,
    forget_real_folders,
    has_mart,
    iter_jobs,
    load_jobs,
    pool_or_big_set,
    require_mart,
    settle_unchanged,
    unchanged,
)

# Re-exported: callers and tests import them from here, beside sync_images.
__all__ = ["COLUMNS", "STATUSES", "PathMap", "SyncSummary", "ensure_images_table",
           "is_inside", "resolve_path", "sync_images"]

BATCH_SIZE = 500
_TYPES = {"image_id": pa.int64(), "bytes": pa.int64(), "width": pa.int32(),
          "height": pa.int32(), "checked_at": pa.timestamp("us", tz="UTC"),
          "file_size": pa.int64(), "file_mtime_ns": pa.int64()}
# How many jobs are in the thread pool at once: enough to keep every worker busy, few
# enough that a 2-million-image pool never holds millions of futures.
_IN_FLIGHT_PER_WORKER = 64
_ARROW_SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in COLUMNS])


@dataclass(frozen=True)
class SyncSummary:
    """What one `sync_images` call did: images checked, their statuses, copies made and skipped."""

    total: int
    by_status: dict[str, int]
    copied: int
    skipped_copies: int
    seconds: float
    # Images seen for the first time; files read and hashed (the rest were unchanged:
    # same path, size and mtime as when last read, so not read again).
    n_new: int = 0
    n_rehashed: int = 0


@dataclass
class _Tally:
    """Running counts of a sync, for its summary."""

    statuses: Counter[str] = field(default_factory=Counter)
    copied: int = 0
    skipped_copies: int = 0
    rehashed: int = 0

    def add(self, row: Row) -> None:
        """Count one finished row."""
        self.statuses[row.status] += 1
        self.copied += row.copied
        self.skipped_copies += row.skipped_copy
        self.rehashed += row.rehashed


def sync_images(
    warehouse: str | Path | None,
    maps: Sequence[PathMap] = (),
    dest: str | Path = "all_data",
    roots: Sequence[str | Path] = (),
    workers: int = 4,
    max_pixels: int = 64_000_000,
    max_bytes: int = 100_000_000,
    progress: bool = True,
    copy_unusable: bool = False,
    base: str | Path | None = None,
) -> SyncSummary:
    """Check every image of full_set and pool (big_set before the pool) and every image
    rated unusable (image_ratings.is_unusable, where the warehouse has image_ratings),
    record it in files.images, copy the usable full_set ones to `dest/<rating>/<image_id>.jpg`;
    with `copy_unusable`, also copy the unusable ones to `dest/4/<image_id>.jpg`.

    Rows are written every BATCH_SIZE images, so a killed run keeps what it
    finished; a copy whose source and destination are unchanged is not made
    again. Rows of images no longer needed (in neither mart, nor unusable) are
    deleted at the end.
    A relative source path starts at `base` (neurostock.yml's images.base), else at the
    ingested source file's folder, never at the current folder (images/paths.py).
    Raises NeurostockError for problems of the run (no marts, bad arguments, an
    unwritable destination, a base that is not a folder), never for a problem of one file.
    """
    started = time.perf_counter()
    _check_limits(workers, max_pixels, max_bytes)
    maps = tuple(maps)
    target = resolve_warehouse(warehouse)
    # connect() would create an empty warehouse; a sync has nothing to do without one.
    if not target.exists():
        raise NeurostockError(f"warehouse {target} does not exist: run `neurostock ingest` first")
    with connect(target) as con:
        require_mart(con, "full_set", ("image_id", "rating", "img_path"))
        unrated = pool_or_big_set(con)
        # Unusable images are checked whenever the marts that list them exist (a warehouse
        # built before image_ratings has none); copying them requires the marts.
        if copy_unusable:
            require_mart(con, "image_ratings", ("image_id", "is_unusable"))
            require_mart(con, "nessesary_files", ("image_id", "img_path"))
        with_unusable = copy_unusable or (
            has_mart(con, "image_ratings", ("image_id", "is_unusable"))
            and has_mart(con, "nessesary_files", ("image_id", "img_path")))
        base_folder = image_base(con, base)
        settings = Settings(
            maps=maps,
            roots=allowed_roots(con, roots, maps, base_folder),
            dest=Path(os.path.abspath(dest)),
            max_pixels=max_pixels,
            max_bytes=max_bytes,
            base=base_folder,
        )
        ensure_images_table(con)
        table = load_jobs(con, with_unusable, copy_unusable, unrated=unrated)
        total, n_new = table.num_rows, table.num_rows - int(pc.sum(table["seen"]).as_py() or 0)
        make_dataset_folders(settings.dest, table)
        forget_real_folders()  # symlinks may have changed since the last sync
        n_unchanged, table = settle_unchanged(table, settings)
        tally = _run_jobs(con, iter_jobs(table), table.num_rows, settings, workers, progress)
        tally.statuses["ok"] += n_unchanged
        delete_rows_not_needed(con, with_unusable, unrated=unrated)
    return SyncSummary(
        total=total,
        by_status={status: tally.statuses[status] for status in STATUSES},
        copied=tally.copied,
        skipped_copies=tally.skipped_copies,
        seconds=time.perf_counter() - started,
        n_new=n_new,
        n_rehashed=tally.rehashed,
    )


def _check_limits(workers: int, max_pixels: int, max_bytes: int) -> None:
    """Refuse limits that would make every image fail or the pool impossible."""
    for name, value in (("workers", workers), ("max_pixels", max_pixels),
                        ("max_bytes", max_bytes)):
        if not isinstance(value, int) or value < 1:
            raise NeurostockError(f"{name} must be a positive whole number, got {value!r}")


def _run_jobs(
    con: duckdb.DuckDBPyConnection,
    jobs: Iterable[Job],
    total: int,
    settings: Settings,
    workers: int,
    progress: bool,
) -> _Tally:
    """Process the `total` jobs, upserting rows into files.images every BATCH_SIZE.

    A file unchanged since its last check is settled here, in the calling thread (one
    lstat, no thread hand-off: on a rebuild of a large pool that is nearly every job);
    the others go to a thread pool. Only this thread uses the DuckDB connection. On an
    error or an interrupt the rows already finished are written before it propagates,
    and jobs not yet started are cancelled.
    """
    tally = _Tally()
    pending: list[Row] = []
    with pillow_pixel_limit(settings.max_pixels), ThreadPoolExecutor(workers) as pool:
        results = _results(pool, jobs, settings, workers * _IN_FLIGHT_PER_WORKER)
        finished: Iterator[Row] = results
        if progress:
            finished = progress_bar(finished, total, "images")
        try:
            for row in finished:
                tally.add(row)
                if not row.unchanged:
                    pending.append(row)
                if len(pending) >= BATCH_SIZE:
                    _write_rows(con, pending)
                    pending = []
        finally:
            results.close()  # cancels the jobs not yet started
            _write_rows(con, pending)
    return tally


def _results(pool: ThreadPoolExecutor, jobs: Iterable[Job], settings: Settings,
             in_flight: int) -> Generator[Row, None, None]:
    """The jobs' rows: an unchanged file's at once, the others' as their futures finish,
    with at most `in_flight` submitted at once. NeurostockError when the destination
    cannot be written."""
    running: set[Future[Row]] = set()

    def finished(futures: set[Future[Row]]) -> Iterator[Row]:
        for future in futures:
            try:
                yield future.result()
            except DestinationError as exc:
                raise NeurostockError(str(exc)) from exc

    try:
        for job in jobs:
            row = Row(job.image_id, job.set_name, job.img_path)
            if unchanged(job, settings, row):
                yield row
                continue
            running.add(pool.submit(_process, job, settings, False))
            if len(running) >= in_flight:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                yield from finished(done)
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            yield from finished(done)
    finally:
        for future in running:
            future.cancel()


def _write_rows(con: duckdb.DuckDBPyConnection, rows: list[Row]) -> None:
    """Upsert `rows` into files.images by image_id (one statement, autocommitted)."""
    if not rows:
        return
    # One Arrow batch, not executemany: DuckDB runs executemany row by row (~4 ms a row).
    batch = pa.Table.from_pylist([dict(zip(COLUMNS, row.values(), strict=True)) for row in rows],
                                 schema=_ARROW_SCHEMA)
    columns = ", ".join(COLUMNS)
    con.register("neurostock_image_rows", batch)
    try:
        con.execute(
            f"insert or replace into files.images ({columns}) "
            f"select {columns} from neurostock_image_rows"
        )
    finally:
        con.unregister("neurostock_image_rows")


def _process(job: Job, settings: Settings, may_be_unchanged: bool = True) -> Row:
    """Check one image and, for a usable full_set or unusable image, copy it; every source
    problem is a status on the returned row. Only DestinationError escapes.
    `may_be_unchanged=False`: the caller has seen that the last check cannot be reused."""
    row = Row(job.image_id, job.set_name, job.img_path)
    if may_be_unchanged and unchanged(job, settings, row):
        return row
    try:
        decoded = check_file(job, settings, row)
        row.status = "ok"
    except Rejected as rejected:
        row.status, row.status_detail = rejected.status, rejected.detail
        return row
    except Exception as exc:  # a hostile file may break Pillow in ways nobody listed
        row.status, row.status_detail = "unreadable", one_line(exc)
        return row
    if wants_copy(job):
        copy_into_dataset(job, decoded, settings, row)
    return row
