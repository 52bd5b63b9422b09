"""images sync's quick "unchanged" check (a cached real path per folder, one lstat per
file) against symlinks: a file reached through a symlinked folder or a symlinked file is
trusted only while its real path stays inside the roots. Real DuckDB, real files."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
from PIL import Image

from neurostock.images.sync import sync_images


def _jpeg(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)
    return path


def _warehouse(path: Path, pool: dict[int, Path]) -> Path:
    """Empty full_set and ratings, and a pool of unrated images at the given paths."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create table full_set (image_id bigint, rating integer, img_path varchar)")
        con.execute("create table image_ratings "
                    "(image_id bigint, rating integer, is_unusable boolean)")
        con.execute("create table nessesary_files (image_id bigint, img_path varchar)")
        con.execute("create table pool (image_id bigint, image_set varchar, img_path varchar)")
        con.executemany("insert into pool values (?, 'unrated', ?)",
                        [(i, str(p)) for i, p in pool.items()])
    finally:
        con.close()
    return path


def _statuses(warehouse: Path) -> dict[int, str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return dict(con.execute("select image_id, status from files.images").fetchall())
    finally:
        con.close()


def test_links_inside_the_root_are_trusted_and_a_link_moved_outside_is_caught(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    _jpeg(root / "real" / "1.jpg", 1)
    _jpeg(root / "real" / "2.jpg", 2)
    (root / "linked").symlink_to(root / "real")  # a symlinked folder, inside the root
    (root / "3.jpg").symlink_to(root / "real" / "2.jpg")  # a symlinked file
    # The same file names outside the root, as a retargeted link would find them.
    _jpeg(outside / "1.jpg", 1)
    warehouse = _warehouse(tmp_path / "wh.duckdb", {1: root / "linked" / "1.jpg",
                                                    2: root / "real" / "2.jpg",
                                                    3: root / "3.jpg"})
    kwargs = {"roots": [root], "dest": tmp_path / "all_data", "progress": False}

    first = sync_images(warehouse, **kwargs)
    assert first.n_rehashed == 3 and set(_statuses(warehouse).values()) == {"ok"}
    again = sync_images(warehouse, **kwargs)
    assert (again.n_new, again.n_rehashed) == (0, 0)

    # The folder link now leads outside the root, to a file of the same size and mtime:
    # the next sync must not reuse the folder's real path of the last one.
    stat = (root / "real" / "1.jpg").stat()
    os.utime(outside / "1.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (root / "linked").unlink()
    (root / "linked").symlink_to(outside)
    third = sync_images(warehouse, **kwargs)
    assert _statuses(warehouse) == {1: "outside_root", 2: "ok", 3: "ok"}
    assert third.n_rehashed == 0
