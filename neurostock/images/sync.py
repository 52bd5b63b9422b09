"""Check every image file the marts need and copy the labelled ones into the dataset layout.

The safe successor of the team's `get_ness_file.py`: every image of `full_set`
and `big_set` becomes one row of `files.images` with a status (`ok`, `missing`,
`unreadable`, `too_large`, `outside_root`), and every usable `full_set` image is
copied to `<dest>/<rating>/<image_id>.jpg` as an RGB JPEG. The images rated
unusable (resolved rating 5 in `image_ratings`) are checked too (set_name
`unusable`), so that they are embedded and scored like every rated image (the sell
decision is judged on all of them); only with `copy_unusable` are they also copied
to `<dest>/4/<image_id>.jpg`, the team's folder for them.

In a warehouse with the mart `pool` (every rated image plus the unrated images
neurostock.yml's `pool:` chooses), the pool's images are checked in place of
big_set's. A file checked `ok` before whose resolved path, size and mtime are
unchanged is not read again (its row is kept as it is; the summary's `n_rehashed`
counts the files that were read), so a sync of a large pool with few new images
costs one stat() per file.

Safety rules, in the order they are applied to each path:
- a path may only be read when its real path (symlinks followed) lies inside an
  allowed root; otherwise it is `outside_root` and the file is never opened
  (a path that leads nowhere is `missing`);
- the file's size is checked before reading and its pixel count (from the
  header) before decoding, so a decompression bomb costs only its header;
- any exception from a source file becomes a status row, never a crash.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import stat
import time
import warnings
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image, UnidentifiedImageError

from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import file_sha256, write_atomically
from neurostock.core.imaging import encode_rgb_jpeg
from neurostock.core.meta import ensure_images_table
from neurostock.core.progress import progress_bar
from neurostock.core.warehouse import connect, resolve_warehouse
from neurostock.images.paths import PathMap, allowed_roots, is_inside, resolve_path

# Re-exported: callers and tests import them from here, beside sync_images.
__all__ = ["COLUMNS", "STATUSES", "PathMap", "SyncSummary", "ensure_images_table",
           "is_inside", "resolve_path", "sync_images"]

STATUSES = ("ok", "missing", "unreadable", "too_large", "outside_root")
BATCH_SIZE = 500
RATINGS = (0, 1, 2, 3)
# The team's folder for images rated unusable (rating 5 on the file's scale).
UNUSABLE_FOLDER = 4
# Formats Pillow may try (its JPEG opener also reads MPO). Every other decoder is
# refused: the team's files are JPEG and PNG, and rarely used decoders are where
# image libraries' bugs live.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_DETAIL_MAX_CHARS = 200
_UNUSABLE_IDS = "select image_id from image_ratings where rating = 5"


# The order of files.images' columns; _Row.values() follows it.
COLUMNS = (
    "image_id", "set_name", "img_path", "resolved_path", "status", "status_detail", "bytes",
    "sha256", "width", "height", "format", "mode", "dataset_path", "dataset_sha256",
    "checked_at", "file_size", "file_mtime_ns",
)
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


@dataclass(frozen=True)
class _Previous:
    """What the last sync recorded for an image: enough to know whether its copy is current."""

    sha256: str | None
    dataset_path: str | None
    dataset_sha256: str | None
    # What is needed to trust the last check without reading the file again.
    status: str | None = None
    resolved_path: str | None = None
    file_size: int | None = None
    file_mtime_ns: int | None = None
    bytes: int | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    set_name: str | None = None
    img_path: str | None = None


@dataclass(frozen=True)
class _Job:
    """One image to check (and, for full_set and unusable, to copy into dataset folder
    `folder`: the full_set rating, or UNUSABLE_FOLDER)."""

    image_id: int
    set_name: str
    img_path: str | None
    folder: int | None
    previous: _Previous | None


@dataclass(frozen=True)
class _Settings:
    """Everything a worker needs besides its job; shared read-only by all threads."""

    maps: tuple[PathMap, ...]
    roots: tuple[str, ...]
    dest: Path
    max_pixels: int
    max_bytes: int


@dataclass
class _Row:
    """One row of files.images, plus what the copy step did (not stored)."""

    image_id: int
    set_name: str
    img_path: str | None
    resolved_path: str | None = None
    status: str = "unreadable"
    status_detail: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    dataset_path: str | None = None
    dataset_sha256: str | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    file_size: int | None = None
    file_mtime_ns: int | None = None
    copied: bool = False
    skipped_copy: bool = False
    # The file was read and hashed (False: unchanged since the last check, or never read).
    rehashed: bool = False
    # Nothing to store: the row in files.images already says all of this.
    unchanged: bool = False

    def values(self) -> tuple:
        """The row's values in the order of COLUMNS."""
        return tuple(getattr(self, name) for name in COLUMNS)


@dataclass
class _Tally:
    """Running counts of a sync, for its summary."""

    statuses: Counter[str] = field(default_factory=Counter)
    copied: int = 0
    skipped_copies: int = 0
    rehashed: int = 0

    def add(self, row: _Row) -> None:
        """Count one finished row."""
        self.statuses[row.status] += 1
        self.copied += row.copied
        self.skipped_copies += row.skipped_copy
        self.rehashed += row.rehashed


class _Rejected(Exception):
    """A source file that gets a status other than `ok`; carries the status and its detail."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _DestinationError(Exception):
    """Writing the dataset copy failed: the destination's fault, so the whole run stops."""


@dataclass
class _Decoded:
    """A source file that passed every check: its bytes and the fully decoded picture."""

    data: bytes
    image: Image.Image


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
) -> SyncSummary:
    """Check every image of full_set and big_set and every image whose resolved rating is 5
    (unusable; when the warehouse has image_ratings), record it in files.images, copy the
    usable full_set ones to `dest/<rating>/<image_id>.jpg`; with `copy_unusable`, also copy
    the unusable ones to `dest/4/<image_id>.jpg`.

    Rows are written every BATCH_SIZE images, so a killed run keeps what it
    finished; a copy whose source and destination are unchanged is not made
    again. Rows of images no longer needed (in neither mart, nor unusable) are
    deleted at the end.
    Raises NeurostockError for problems of the run (no marts, bad arguments, an
    unwritable destination), never for a problem of one file.
    """
    started = time.perf_counter()
    _check_limits(workers, max_pixels, max_bytes)
    maps = tuple(maps)
    target = resolve_warehouse(warehouse)
    # connect() would create an empty warehouse; a sync has nothing to do without one.
    if not target.exists():
        raise NeurostockError(f"warehouse {target} does not exist: run `neurostock ingest` first")
    with connect(target) as con:
        _require_mart(con, "full_set", ("image_id", "rating", "img_path"))
        unrated = _pool_or_big_set(con)
        # Unusable images are checked whenever the marts that list them exist (a warehouse
        # built before image_ratings has none); copying them requires the marts.
        if copy_unusable:
            _require_mart(con, "image_ratings", ("image_id", "rating"))
            _require_mart(con, "nessesary_files", ("image_id", "img_path"))
        with_unusable = copy_unusable or (_has_mart(con, "image_ratings", ("image_id", "rating"))
                                          and _has_mart(con, "nessesary_files",
                                                        ("image_id", "img_path")))
        settings = _Settings(
            maps=maps,
            roots=allowed_roots(con, roots, maps),
            dest=Path(os.path.abspath(dest)),
            max_pixels=max_pixels,
            max_bytes=max_bytes,
        )
        ensure_images_table(con)
        table = _load_jobs(con, with_unusable, copy_unusable, unrated=unrated)
        total, n_new = table.num_rows, table.num_rows - int(pc.sum(table["seen"]).as_py() or 0)
        _make_dataset_folders(settings.dest, table)
        _real_folder.cache_clear()  # symlinks may have changed since the last sync
        n_unchanged, table = _settle_unchanged(table, settings)
        tally = _run_jobs(con, _jobs(table), table.num_rows, settings, workers, progress)
        tally.statuses["ok"] += n_unchanged
        _delete_rows_not_needed(con, with_unusable, unrated=unrated)
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


def _pool_or_big_set(con: duckdb.DuckDBPyConnection) -> str:
    """The mart of images to check besides full_set: `pool` (every image the warehouse
    embeds and scores), or `big_set` in a warehouse built before the pool existed."""
    found = con.execute("select count(*) from duckdb_tables() where schema_name = 'main' "
                        "and table_name = 'pool'").fetchone()[0]
    if found:
        _require_mart(con, "pool", ("image_id", "image_set", "img_path"))
        return "pool"
    _require_mart(con, "big_set", ("image_id", "img_path"))
    return "big_set"


def _unrated_jobs(unrated: str) -> str:
    """The select of `_load_jobs` for the images of `pool` (lowest priority: full_set's
    and unusable's jobs carry a dataset folder) or of `big_set`."""
    if unrated == "pool":
        return "select image_id, image_set, img_path, null, 3 from pool"
    return "select image_id, 'big_set', img_path, null, 1 from big_set"


def _load_jobs(con: duckdb.DuckDBPyConnection, with_unusable: bool,
               copy_unusable: bool, unrated: str = "big_set") -> pa.Table:
    """One row per job, ordered by image_id: per image of full_set and `unrated` (pool, or
    big_set before the pool; and, with `with_unusable`, per image
    rated unusable, copied to UNUSABLE_FOLDER only with `copy_unusable`; full_set, then
    big_set wins should an id be in several), with what the previous sync recorded for it
    (column `seen`: it has a row in files.images). An Arrow table, not Python objects: a
    2-million-image pool as tuples and _Jobs would take gigabytes; `_jobs` makes the
    objects a slice at a time."""
    # image_ratings holds the resolved rating but no path; nessesary_files (one row per
    # rating row) has every rated image's path.
    unusable = (
        f"""union all
            select image_id, 'unusable', min(img_path),
                   {UNUSABLE_FOLDER if copy_unusable else 'null'}, 2
            from nessesary_files
            where image_id in ({_UNUSABLE_IDS})
            group by image_id"""
        if with_unusable else ""
    )
    return con.execute(
        f"""
        with wanted as (
            select image_id, 'full_set' as set_name, img_path, rating as folder, 0 as priority
            from full_set
            union all
            {_unrated_jobs(unrated)}
            {unusable}
        )
        select w.image_id, w.set_name, w.img_path, w.folder,
               i.image_id is not null as seen, i.sha256, i.dataset_path, i.dataset_sha256,
               i.status, i.resolved_path, i.file_size, i.file_mtime_ns, i.bytes, i.width,
               i.height, i.format, i.mode, i.set_name as previous_set_name,
               i.img_path as previous_img_path,
               -- May be settled by one lstat (_settle_unchanged): checked `ok` as the same
               -- set and path, and nothing to copy.
               coalesce(i.status = 'ok' and i.set_name = w.set_name
                        and i.img_path = w.img_path and w.img_path != ''
                        and w.folder is null and i.dataset_path is null
                        and i.resolved_path is not null and i.file_size is not null
                        and i.file_mtime_ns is not null, false) as quick
        from wanted w
        left join files.images i using (image_id)
        where w.image_id is not null
        qualify row_number() over (partition by w.image_id order by w.priority) = 1
        order by w.image_id
        """
    ).to_arrow_table()


def _settle_unchanged(table: pa.Table, settings: _Settings) -> tuple[int, pa.Table]:
    """Settle the `quick` rows of `_load_jobs`' table whose file is unchanged (the rule of
    `_unchanged`, straight from the Arrow columns: no job, no row object, nothing to
    write). Returns how many were settled (all `ok`) and the table of the other jobs,
    without the `quick` column, in image_id order (the same table when none was settled:
    a first sync of a large pool copies nothing)."""
    quick = np.flatnonzero(table["quick"].to_numpy(zero_copy_only=False))
    settled = np.zeros(table.num_rows, dtype=bool)
    folders: dict[str, tuple[str, bool]] = {}
    names = ["img_path", "resolved_path", "file_size", "file_mtime_ns"]
    step = 100_000
    for start in range(0, len(quick), step):
        rows = quick[start:start + step]
        part = table.select(names).take(pa.array(rows))
        columns = [part[name].to_pylist() for name in names]
        same = _same_files(*columns, settings, folders)
        settled[rows[np.asarray(same, dtype=bool)]] = True
    n_settled = int(settled.sum())
    rest = table.filter(pa.array(~settled)) if n_settled else table
    return n_settled, rest.drop_columns(["quick"])


def _same_files(img_paths: list, resolved_before: list, sizes: list, mtimes: list,
                settings: _Settings, folders: dict[str, tuple[str, bool]]) -> list[bool]:
    """`_same_file(...) is not None` for many files, one lstat each: the common case (the
    path resolves to what it resolved to before, the file is no symlink) without a call
    per file, each folder's real path and whether it lies inside the roots worked out
    once (`folders`, kept across calls of one sync). Anything else goes to
    `_same_file`."""
    lstat, sep, maps, roots = os.lstat, os.sep, settings.maps, settings.roots
    same: list[bool] = []
    for img_path, before, size, mtime in zip(img_paths, resolved_before, sizes, mtimes,
                                             strict=True):
        if not img_path or before is None or resolve_path(img_path, maps) != before:
            same.append(_same_file(img_path, before, size, mtime, settings) is not None)
            continue
        folder, _, name = before.rpartition(sep)
        known = folders.get(folder)
        if known is None:
            real_folder = _real_folder(folder or sep)
            known = folders[folder] = (real_folder, is_inside(real_folder, roots))
        real_folder, inside = known
        real = before if real_folder == folder else os.path.join(real_folder, name)
        try:
            info = lstat(real)
        except (OSError, ValueError):
            same.append(False)
            continue
        mode = info.st_mode
        if stat.S_ISLNK(mode) or not inside:
            same.append(_same_file(img_path, before, size, mtime, settings) is not None)
        else:
            same.append(stat.S_ISREG(mode) and info.st_size == size
                        and info.st_mtime_ns == mtime)
    return same


def _jobs(table: pa.Table, slice_rows: int = 10_000) -> Iterator[_Job]:
    """The jobs of `_load_jobs`' table in its order, made `slice_rows` at a time."""
    for start in range(0, table.num_rows, slice_rows):
        part = table.slice(start, slice_rows)
        columns = [part.column(i).to_pylist() for i in range(part.num_columns)]
        for image_id, set_name, img_path, folder, seen, *previous in zip(*columns, strict=True):
            yield _Job(image_id, set_name, img_path, folder,
                       _Previous(*previous) if seen else None)


def _require_mart(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> None:
    """NeurostockError naming the table (or its missing columns) unless it can be read."""
    try:
        con.execute(f"select {', '.join(columns)} from {table} limit 0")
    except duckdb.CatalogException as exc:
        raise NeurostockError(
            f"warehouse has no table {table}: run `neurostock build` first"
        ) from exc
    except duckdb.BinderException as exc:
        raise NeurostockError(
            f"table {table} lacks one of the columns {', '.join(columns)}: "
            "run `neurostock build` again"
        ) from exc


def _has_mart(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> bool:
    """Whether `table` exists with `columns`."""
    try:
        _require_mart(con, table, columns)
    except NeurostockError:
        return False
    return True


def _make_dataset_folders(dest: Path, jobs: pa.Table) -> None:
    """Create `dest/0` … `dest/3` (and `dest/4` for unusable images) up front when some job
    of `_load_jobs`' table copies there, so an unwritable destination fails once, clearly."""
    folders: set[int] = set()
    if "full_set" in pc.unique(jobs["set_name"]).to_pylist():
        folders.update(RATINGS)
    copied_unusable = pc.and_(pc.equal(jobs["set_name"], "unusable"), pc.is_valid(jobs["folder"]))
    if pc.any(copied_unusable).as_py():
        folders.add(UNUSABLE_FOLDER)
    try:
        for folder in sorted(folders):
            (dest / str(folder)).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeurostockError(
            f"cannot create dataset folder under {dest}: {_one_line(exc)}"
        ) from exc


def _run_jobs(
    con: duckdb.DuckDBPyConnection,
    jobs: Iterable[_Job],
    total: int,
    settings: _Settings,
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
    pending: list[_Row] = []
    with _pillow_pixel_limit(settings.max_pixels), ThreadPoolExecutor(workers) as pool:
        results = _results(pool, jobs, settings, workers * _IN_FLIGHT_PER_WORKER)
        finished: Iterator[_Row] = results
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


def _results(pool: ThreadPoolExecutor, jobs: Iterable[_Job], settings: _Settings,
             in_flight: int) -> Generator[_Row, None, None]:
    """The jobs' rows: an unchanged file's at once, the others' as their futures finish,
    with at most `in_flight` submitted at once. NeurostockError when the destination
    cannot be written."""
    running: set[Future[_Row]] = set()

    def finished(futures: set[Future[_Row]]) -> Iterator[_Row]:
        for future in futures:
            try:
                yield future.result()
            except _DestinationError as exc:
                raise NeurostockError(str(exc)) from exc

    try:
        for job in jobs:
            row = _Row(job.image_id, job.set_name, job.img_path)
            if _unchanged(job, settings, row):
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


def _write_rows(con: duckdb.DuckDBPyConnection, rows: list[_Row]) -> None:
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


def _delete_rows_not_needed(con: duckdb.DuckDBPyConnection, with_unusable: bool,
                            unrated: str = "big_set") -> None:
    """Remove rows of images that are in neither mart (nor unusable, with `with_unusable`),
    so files.images mirrors what this sync was asked to check."""
    keep_unusable = (
        "and not exists (select 1 from image_ratings r "
        "where r.image_id = i.image_id and r.rating = 5)"
        if with_unusable else ""
    )
    # `not exists` rather than `not in`: one null id in a mart would make `not in` delete nothing.
    con.execute(
        f"""
        delete from files.images i
        where not exists (select 1 from full_set f where f.image_id = i.image_id)
          and not exists (select 1 from {unrated} b where b.image_id = i.image_id)
          {keep_unusable}
        """
    )


@contextmanager
def _pillow_pixel_limit(max_pixels: int) -> Iterator[None]:
    """Let Pillow's own bomb check use `max_pixels` for the duration of a sync, then restore it.

    Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; the warning
    is turned into an exception so a worker can record `too_large`. Both
    settings are process-wide, so they are set once, before any worker starts,
    and put back after the last one has finished.
    """
    saved = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _process(job: _Job, settings: _Settings, may_be_unchanged: bool = True) -> _Row:
    """Check one image and, for a usable full_set or unusable image, copy it; every source
    problem is a status on the returned row. Only _DestinationError escapes.
    `may_be_unchanged=False`: the caller has seen that the last check cannot be reused."""
    row = _Row(job.image_id, job.set_name, job.img_path)
    if may_be_unchanged and _unchanged(job, settings, row):
        return row
    try:
        decoded = _check(job, settings, row)
        row.status = "ok"
    except _Rejected as rejected:
        row.status, row.status_detail = rejected.status, rejected.detail
        return row
    except Exception as exc:  # a hostile file may break Pillow in ways nobody listed
        row.status, row.status_detail = "unreadable", _one_line(exc)
        return row
    if _wants_copy(job):
        _copy_into_dataset(job, decoded, settings, row)
    return row


def _wants_copy(job: _Job) -> bool:
    """Whether the job copies into the dataset folder (full_set's always; an unusable
    image's with copy_unusable; a pool row's never)."""
    return job.set_name in ("full_set", "unusable") and job.folder is not None


def _unchanged(job: _Job, settings: _Settings, row: _Row) -> bool:
    """True (and `row` filled from the last check) when the file need not be read again:
    it was `ok`, and its resolved path, size and mtime are what they were then (and
    its dataset copy, if it has one, is intact). The path rules are applied again."""
    previous = job.previous
    if previous is None or previous.status != "ok":
        return False
    info = _same_file(job.img_path, previous.resolved_path, previous.file_size,
                      previous.file_mtime_ns, settings)
    if info is None:
        return False
    if _wants_copy(job):
        if job.set_name == "full_set" and job.folder not in RATINGS:
            return False
        target = str(settings.dest / str(job.folder) / f"{job.image_id}.jpg")
        if (previous.dataset_path != target or previous.dataset_sha256 is None
                or _sha256_or_none(Path(target)) != previous.dataset_sha256):
            return False
        row.dataset_path, row.dataset_sha256 = target, previous.dataset_sha256
        row.skipped_copy = True
    row.resolved_path, row.status = previous.resolved_path, "ok"
    row.bytes, row.sha256 = previous.bytes, previous.sha256
    row.width, row.height = previous.width, previous.height
    row.format, row.mode = previous.format, previous.mode
    row.file_size, row.file_mtime_ns = info.st_size, info.st_mtime_ns
    row.unchanged = (previous.set_name == job.set_name and previous.img_path == job.img_path
                     and previous.dataset_path == row.dataset_path)
    return True


def _same_file(img_path: str | None, resolved_before: str | None, size: int | None,
               mtime_ns: int | None, settings: _Settings) -> os.stat_result | None:
    """The file's stat when `img_path` still resolves to `resolved_before`, inside the
    roots, as a regular file of the recorded size and mtime; None otherwise (then the
    full check says what changed). The path rules are applied again."""
    if not img_path or size is None or mtime_ns is None:
        return None
    try:
        resolved = resolve_path(img_path, settings.maps)
        if resolved != resolved_before:  # equal: already absolute and normalised
            resolved = os.path.abspath(resolved)
            if resolved != resolved_before:
                return None
        # The file's real path without realpath()'s lstat per path component: its
        # folder's real path (cached per sync) and its own name, when lstat shows that
        # the name is no symlink; a symlinked file is followed in full.
        folder, _, name = resolved.rpartition(os.sep)
        real = os.path.join(_real_folder(folder or os.sep), name)
        info = os.lstat(real)
        if stat.S_ISLNK(info.st_mode):
            real = os.path.realpath(resolved)
            info = os.stat(real)
        if not is_inside(real, settings.roots):
            return None
    except (OSError, ValueError):
        return None
    if (not stat.S_ISREG(info.st_mode) or info.st_size != size
            or info.st_mtime_ns != mtime_ns):
        return None
    return info


@functools.lru_cache(maxsize=65_536)
def _real_folder(folder: str) -> str:
    """realpath() of a folder, cached: a pool's files share a few thousand folders.
    Cleared at the start of every sync."""
    return os.path.realpath(folder)


def _check(job: _Job, settings: _Settings, row: _Row) -> _Decoded:
    """Resolve, guard, size-check, hash and fully decode the image; fills `row`'s file facts.

    Raises _Rejected with the status for anything that is not `ok`.
    """
    if not job.img_path:
        raise _Rejected("missing", "img_path is empty")
    resolved = resolve_path(job.img_path, settings.maps)
    row.resolved_path = os.path.abspath(resolved)
    real = os.path.realpath(resolved)
    # A path that leads nowhere is `missing` wherever it points (the usual case:
    # server paths never mapped); only an existing file outside the roots is a guard hit.
    if not os.path.lexists(real):
        raise _Rejected("missing", _clip(f"no such file: {real}"))
    if not is_inside(real, settings.roots):
        raise _Rejected("outside_root", _clip(f"resolves to {real}, outside the allowed roots"))
    data = _read_bounded(real, settings.max_bytes, row)
    row.bytes = len(data)
    row.sha256 = hashlib.sha256(data).hexdigest()
    row.rehashed = True
    image = _open_header(data, settings.max_pixels, row)
    pixels = image.width * image.height
    if pixels > settings.max_pixels:
        raise _Rejected(
            "too_large",
            f"{image.width}x{image.height} = {pixels:,} pixels "
            f"> max_pixels {settings.max_pixels:,}",
        )
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _Rejected("too_large", _clip(f"while decoding: {_one_line(exc)}")) from exc
    except Exception as exc:
        raise _Rejected("unreadable", _clip(f"cannot decode: {_one_line(exc)}")) from exc
    return _Decoded(data, image)


def _read_bounded(real: str, max_bytes: int, row: _Row) -> bytes:
    """The whole file, read once (hash and decoder see the same bytes), at most max_bytes."""
    try:
        # O_NOFOLLOW: `real` has no symlinks left, so one appearing now is a swap after the check.
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever.
        flags = os.O_RDONLY
        for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_BINARY"):
            flags |= getattr(os, name, 0)
        fd = os.open(real, flags)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise _Rejected("missing", "no such file") from exc
    except OSError as exc:
        raise _Rejected("unreadable", _clip(f"cannot open: {_one_line(exc)}")) from exc
    try:
        info = os.fstat(fd)
        # A FIFO or device would block or never end; a directory cannot be an image.
        if not stat.S_ISREG(info.st_mode):
            raise _Rejected("unreadable", "not a regular file")
        row.bytes = info.st_size
        row.file_size, row.file_mtime_ns = info.st_size, info.st_mtime_ns
        if info.st_size > max_bytes:
            raise _Rejected("too_large", f"{info.st_size:,} bytes > max_bytes {max_bytes:,}")
        with os.fdopen(fd, "rb") as fh:
            fd = -1  # closed by the file object from here on
            data = fh.read(max_bytes + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:  # it grew while we read it
        raise _Rejected("too_large", f"more than max_bytes {max_bytes:,} bytes")
    if not data:
        raise _Rejected("unreadable", "empty file (0 bytes)")
    return data


def _open_header(data: bytes, max_pixels: int, row: _Row) -> Image.Image:
    """The image with only its header read; fills size, format and original mode into `row`."""
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's message gives the pixel count; its limit reads as 2 x max_pixels, so say ours.
        raise _Rejected(
            "too_large", _clip(f"more than max_pixels {max_pixels:,}: {_one_line(exc)}")
        ) from exc
    except UnidentifiedImageError as exc:
        raise _Rejected(
            "unreadable", f"not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)})"
        ) from exc
    row.width, row.height = image.size
    row.format, row.mode = image.format, image.mode
    return image


def _copy_into_dataset(job: _Job, decoded: _Decoded, settings: _Settings, row: _Row) -> None:
    """Write `dest/<folder>/<image_id>.jpg` unless the previous copy is still current.

    An RGB JPEG is copied byte for byte; anything else is converted to an RGB
    JPEG. A conversion failure makes the row `unreadable`; a write failure
    raises _DestinationError.
    """
    if job.set_name == "full_set" and job.folder not in RATINGS:
        row.status_detail = f"rating {job.folder!r} is not 0-3: not copied"
        return
    target = settings.dest / str(job.folder) / f"{job.image_id}.jpg"
    row.dataset_path = str(target)
    previous = job.previous
    if (
        previous is not None
        and previous.sha256 == row.sha256
        and previous.dataset_path == row.dataset_path
        and previous.dataset_sha256 is not None
        and _sha256_or_none(target) == previous.dataset_sha256
    ):
        row.dataset_sha256 = previous.dataset_sha256
        row.skipped_copy = True
        return
    if row.format == "JPEG" and row.mode == "RGB":
        payload = decoded.data
    else:
        try:
            payload = encode_rgb_jpeg(decoded.image)
        except Exception as exc:
            row.dataset_path = None
            row.status = "unreadable"
            row.status_detail = _clip(f"cannot convert mode {row.mode} to RGB: {_one_line(exc)}")
            return
    try:
        write_atomically(target, payload)
    except OSError as exc:
        raise _DestinationError(f"cannot write {target}: {_one_line(exc)}") from exc
    row.dataset_sha256 = hashlib.sha256(payload).hexdigest()
    row.copied = True


def _sha256_or_none(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when it cannot be read (then the copy is redone)."""
    try:
        return file_sha256(path)
    except OSError:
        return None


def _one_line(exc: BaseException) -> str:
    """An exception as one short line: its type when it has no message."""
    text = " ".join(str(exc).split())
    return _clip(text or type(exc).__name__)


def _clip(text: str) -> str:
    """`text` cut to _DETAIL_MAX_CHARS characters, so a status_detail stays one short line."""
    text = " ".join(text.split())
    if len(text) <= _DETAIL_MAX_CHARS:
        return text
    return text[: _DETAIL_MAX_CHARS - 1] + "…"
