"""images sync at pool scale: the pool's images are checked in place of big_set's, a file
whose (path, size, mtime) is unchanged since it was last read is not read again, and the
bounded job window gives the same rows as before. Real DuckDB, real files, no dbt."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import numpy as np
from PIL import Image

from neurostock.images.sync import sync_images


def _jpeg(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _warehouse(base: Path, n_unrated: int, with_pool: bool = True):
    """full_set (2 images), image_ratings, big_set (1 image) and, with `with_pool`, a pool of
    the rated images, one rated unusable, and `n_unrated` unrated images."""
    root = base / "sample"
    files = {i: _jpeg(root / "core" / f"{i}.jpg", seed=i) for i in range(1, 5 + n_unrated)}
    path = base / "wh.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("create table full_set (image_id bigint, rating integer, img_path varchar)")
        con.execute("insert into full_set values (1, 0, ?), (2, 3, ?)",
                    [str(files[1]), str(files[2])])
        con.execute("create table big_set (image_id bigint, img_path varchar)")
        con.execute("insert into big_set values (4, ?)", [str(files[4])])
        con.execute("create table image_ratings "
                    "(image_id bigint, rating integer, is_unusable boolean)")
        con.execute("insert into image_ratings values (1, 1, false), (2, 4, false), "
                    "(3, 5, true)")
        con.execute("create table nessesary_files (image_id bigint, img_path varchar)")
        con.executemany("insert into nessesary_files values (?, ?)",
                        [(i, str(files[i])) for i in (1, 2, 3)])
        if with_pool:
            con.execute("create table pool (image_id bigint, image_set varchar, "
                        "img_path varchar)")
            rows = [(1, "full_set"), (2, "full_set"), (3, "unusable")]
            rows += [(i, "unrated") for i in range(5, 5 + n_unrated)]
            con.executemany("insert into pool values (?, ?, ?)",
                            [(i, s, str(files[i])) for i, s in rows])
        con.execute("create schema meta")
        con.execute("create table meta.loads (load_id bigint, source_path varchar)")
        con.execute("insert into meta.loads values (1, ?)", [str(root / "core.download.db")])
    finally:
        con.close()
    return path, files


def _rows(warehouse: Path) -> dict[int, tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "select image_id, set_name, status, sha256, file_size, file_mtime_ns, checked_at "
            "from files.images").fetchall()}
    finally:
        con.close()


def test_the_pool_replaces_big_set_and_unusable_images_are_checked_not_copied(tmp_path):
    warehouse, _ = _warehouse(tmp_path, n_unrated=5)
    summary = sync_images(warehouse, dest=tmp_path / "all_data", progress=False)
    rows = _rows(warehouse)
    assert set(rows) == {1, 2, 3, 5, 6, 7, 8, 9}  # big_set's image 4 is not in the pool
    assert {i: r[0] for i, r in rows.items()} == {
        1: "full_set", 2: "full_set", 3: "unusable", **{i: "unrated" for i in range(5, 10)}}
    assert all(r[1] == "ok" for r in rows.values())
    assert summary.copied == 2 and not (tmp_path / "all_data" / "4").exists()
    assert (summary.n_new, summary.n_rehashed) == (8, 8)


def test_a_warehouse_without_pool_still_syncs_big_set(tmp_path):
    warehouse, _ = _warehouse(tmp_path, n_unrated=0, with_pool=False)
    sync_images(warehouse, dest=tmp_path / "all_data", progress=False)
    assert {i: r[0] for i, r in _rows(warehouse).items()} == {
        1: "full_set", 2: "full_set", 3: "unusable", 4: "big_set"}


def test_unchanged_files_are_not_read_again(tmp_path):
    warehouse, files = _warehouse(tmp_path, n_unrated=300)
    first = sync_images(warehouse, dest=tmp_path / "all_data", progress=False, workers=3)
    before = _rows(warehouse)
    assert first.n_rehashed == len(before) == 303
    assert all(r[3] == files[i].stat().st_size for i, r in before.items())

    second = sync_images(warehouse, dest=tmp_path / "all_data", progress=False, workers=3)
    assert (second.n_new, second.n_rehashed, second.total) == (0, 0, 303)
    assert second.skipped_copies == 2 and second.copied == 0
    assert _rows(warehouse) == before  # not even rewritten: checked_at is the last read

    # New bytes, same size, the old mtime put back: by the rule, not read again.
    swapped = files[7]
    stat = swapped.stat()
    other = _jpeg(tmp_path / "other.jpg", seed=1000).read_bytes()
    old = swapped.read_bytes()
    swapped.write_bytes((other + old)[: len(old)])
    os.utime(swapped, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # A second file is touched: same bytes, new mtime, so it is read and hashed again.
    touched = files[8]
    os.utime(touched, ns=(stat.st_atime_ns, touched.stat().st_mtime_ns + 1_000_000_000))
    third = sync_images(warehouse, dest=tmp_path / "all_data", progress=False, workers=3)
    after = _rows(warehouse)
    assert third.n_rehashed == 1
    assert after[7][2] == before[7][2] != _sha(swapped)  # the stale hash: never re-read
    assert after[8][2] == _sha(touched) and after[8][4] == touched.stat().st_mtime_ns
    assert after[8][5] > before[8][5]


def test_a_damaged_dataset_copy_is_made_again_without_trusting_the_source_row(tmp_path):
    warehouse, _ = _warehouse(tmp_path, n_unrated=1)
    dest = tmp_path / "all_data"
    sync_images(warehouse, dest=dest, progress=False)
    copy = dest / "3" / "2.jpg"
    copy.write_bytes(b"damaged")
    again = sync_images(warehouse, dest=dest, progress=False)
    assert again.copied == 1 and again.n_rehashed == 1
    assert copy.read_bytes()[:2] == b"\xff\xd8"
