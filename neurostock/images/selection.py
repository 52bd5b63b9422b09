"""Which image files a sync checks: the to-do list from the marts, and the rule that lets
a file unchanged since its last check go without being read.

The to-do list: every image of `full_set` (copied into the dataset by its rating), of
`pool` (every rated image plus the unrated ones neurostock.yml's `pool:` chooses; in a
warehouse built before the pool, `big_set`), and the images rated unusable (resolved
rating 5: `image_ratings.is_unusable`, set_name `unusable`), each once (an id on several lists
is taken from the first of full_set, big_set, unusable, pool). Rows of files.images
whose image is on none of these lists are deleted after a sync.

The unchanged-file rule: a file checked `ok` before whose resolved path, size and
mtime are unchanged (and whose dataset copy, if it has one, is intact) is not read
again; its row is kept as it is. A pool row with nothing to copy is settled straight
from the Arrow table, one lstat per file with each folder's real path worked out once
per sync, so a sync of a large pool with few new images costs one stat() per file.
The path rules (maps, allowed roots) are applied again every time.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterator, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from neurostock.core.errors import NeurostockError
from neurostock.images.checks import Job, Previous, Row, Settings
from neurostock.images.dataset import (
    RATINGS,
    UNUSABLE_FOLDER,
    copy_target,
    sha256_or_none,
    wants_copy,
)
from neurostock.images.paths import is_inside, resolve_path

_UNUSABLE_IDS = "select image_id from image_ratings where is_unusable"


def require_mart(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> None:
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


def has_mart(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]) -> bool:
    """Whether `table` exists with `columns`."""
    try:
        require_mart(con, table, columns)
    except NeurostockError:
        return False
    return True


def pool_or_big_set(con: duckdb.DuckDBPyConnection) -> str:
    """The mart of images to check besides full_set: `pool` (every image the warehouse
    embeds and scores), or `big_set` in a warehouse built before the pool existed."""
    found = con.execute("select count(*) from duckdb_tables() where schema_name = 'main' "
                        "and table_name = 'pool'").fetchone()[0]
    if found:
        require_mart(con, "pool", ("image_id", "image_set", "img_path"))
        return "pool"
    require_mart(con, "big_set", ("image_id", "img_path"))
    return "big_set"


def _unrated_jobs(unrated: str) -> str:
    """The select of `load_jobs` for the images of `pool` (lowest priority: full_set's
    and unusable's jobs carry a dataset folder) or of `big_set`."""
    if unrated == "pool":
        return "select image_id, image_set, img_path, null, 3 from pool"
    return "select image_id, 'big_set', img_path, null, 1 from big_set"


def load_jobs(con: duckdb.DuckDBPyConnection, with_unusable: bool,
              copy_unusable: bool, unrated: str = "big_set") -> pa.Table:
    """One row per job, ordered by image_id: per image of full_set and `unrated` (pool, or
    big_set before the pool; and, with `with_unusable`, per image
    rated unusable, copied to UNUSABLE_FOLDER only with `copy_unusable`; full_set, then
    big_set wins should an id be in several), with what the previous sync recorded for it
    (column `seen`: it has a row in files.images). An Arrow table, not Python objects: a
    2-million-image pool as tuples and Jobs would take gigabytes; `iter_jobs` makes the
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
               -- May be settled by one lstat (settle_unchanged): checked `ok` as the same
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


def iter_jobs(table: pa.Table, slice_rows: int = 10_000) -> Iterator[Job]:
    """The jobs of `load_jobs`' table in its order, made `slice_rows` at a time."""
    for start in range(0, table.num_rows, slice_rows):
        part = table.slice(start, slice_rows)
        columns = [part.column(i).to_pylist() for i in range(part.num_columns)]
        for image_id, set_name, img_path, folder, seen, *previous in zip(*columns, strict=True):
            yield Job(image_id, set_name, img_path, folder,
                      Previous(*previous) if seen else None)


def delete_rows_not_needed(con: duckdb.DuckDBPyConnection, with_unusable: bool,
                           unrated: str = "big_set") -> None:
    """Remove rows of images that are in neither mart (nor unusable, with `with_unusable`),
    so files.images mirrors what this sync was asked to check."""
    keep_unusable = (
        "and not exists (select 1 from image_ratings r "
        "where r.image_id = i.image_id and r.is_unusable)"
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


# --- the unchanged-file rule -------------------------------------------------------------------


def forget_real_folders() -> None:
    """Empty the cache of folders' real paths: symlinks may have changed since the last
    sync. Called at the start of every sync."""
    _real_folder.cache_clear()


def settle_unchanged(table: pa.Table, settings: Settings) -> tuple[int, pa.Table]:
    """Settle the `quick` rows of `load_jobs`' table whose file is unchanged (the rule of
    `unchanged`, straight from the Arrow columns: no job, no row object, nothing to
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


def unchanged(job: Job, settings: Settings, row: Row) -> bool:
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
    if wants_copy(job):
        if job.set_name == "full_set" and job.folder not in RATINGS:
            return False
        target_path = copy_target(settings.dest, job)
        target = str(target_path)
        if (previous.dataset_path != target or previous.dataset_sha256 is None
                or sha256_or_none(target_path) != previous.dataset_sha256):
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


def _same_files(img_paths: list, resolved_before: list, sizes: list, mtimes: list,
                settings: Settings, folders: dict[str, tuple[str, bool]]) -> list[bool]:
    """`_same_file(...) is not None` for many files, one lstat each: the common case (the
    path resolves to what it resolved to before, the file is no symlink) without a call
    per file, each folder's real path and whether it lies inside the roots worked out
    once (`folders`, kept across calls of one sync). Anything else goes to
    `_same_file`."""
    lstat, sep, maps, roots, base = os.lstat, os.sep, settings.maps, settings.roots, settings.base
    same: list[bool] = []
    for img_path, before, size, mtime in zip(img_paths, resolved_before, sizes, mtimes,
                                             strict=True):
        if not img_path or before is None or resolve_path(img_path, maps, base) != before:
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


def _same_file(img_path: str | None, resolved_before: str | None, size: int | None,
               mtime_ns: int | None, settings: Settings) -> os.stat_result | None:
    """The file's stat when `img_path` still resolves to `resolved_before`, inside the
    roots, as a regular file of the recorded size and mtime; None otherwise (then the
    full check says what changed). The path rules are applied again."""
    if not img_path or size is None or mtime_ns is None:
        return None
    try:
        resolved = resolve_path(img_path, settings.maps, settings.base)
        if not os.path.isabs(resolved):
            return None
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
    Cleared at the start of every sync (`forget_real_folders`)."""
    return os.path.realpath(folder)
