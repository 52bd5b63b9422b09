"""Tests for images.sync: real DuckDB warehouses and real image files in tmp_path.

The warehouse holds hand-made `full_set`, `big_set` and `meta.loads` tables (no
dbt), so the suite stays fast while `sync_images` runs exactly as in use.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from neurostock.core.errors import NeurostockError
from neurostock.images.sync import (
    COLUMNS,
    STATUSES,
    PathMap,
    SyncSummary,
    ensure_images_table,
    sync_images,
)
from tests.conftest import run_cli

SERVER_PREFIX = "/media/s1/dataset/neurostocker"


# --- building blocks: image files -------------------------------------------------------------


def _noise_jpeg(path: Path, seed: int = 0, size: tuple[int, int] = (64, 48)) -> Path:
    """An RGB JPEG of random pixels (so truncating it really cuts image data)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)
    return path


def _bands(*colours, width: int = 16, height: int = 16) -> np.ndarray:
    """Vertical bands of flat colour, `width` pixels each (flat areas survive JPEG closely)."""
    return np.concatenate([np.full((height, width, len(c)), c, dtype=np.uint8) for c in colours],
                          axis=1)


def _save(image: Image.Image, path: Path, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def _png_bomb(path: Path, side: int = 20_000) -> Path:
    """A genuine 1-bit PNG of side x side pixels, tiny on disk (all its rows are zeros)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    compressor = zlib.compressobj(9)
    scanline = bytes(1 + (side + 7) // 8)  # filter byte + packed bits
    idat = b"".join(compressor.compress(scanline) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def _pixel(path: Path, x: int, y: int = 8) -> tuple[int, ...]:
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.mode == "RGB", (image.format, image.mode)
        return image.getpixel((x, y))


def _close(actual, expected, tolerance: int = 4) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- building blocks: the warehouse ------------------------------------------------------------


def _make_warehouse(
    path: Path,
    full: list[tuple[int, int, str | None]],
    big: list[tuple[int, str | None]],
    source_path: Path | None,
) -> Path:
    """full_set, big_set and (if source_path is given) meta.loads, as dbt and ingest leave them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("create table full_set (image_id bigint, rating integer, img_path varchar)")
        con.execute("create table big_set (image_id bigint, img_path varchar)")
        if full:
            con.executemany("insert into full_set values (?, ?, ?)", full)
        if big:
            con.executemany("insert into big_set values (?, ?)", big)
        if source_path is not None:
            con.execute("create schema meta")
            con.execute("create table meta.loads (load_id bigint, source_path varchar)")
            con.execute("insert into meta.loads values (1, '/elsewhere/old.db'), (2, ?)",
                        [str(source_path)])
    finally:
        con.close()
    return path


def _execute(warehouse: Path, sql: str, params=None) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(sql, params or [])
    finally:
        con.close()


def _rows(warehouse: Path) -> dict[int, dict]:
    """files.images as image_id -> {column: value}."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        result = con.execute("select * from files.images")
        names = [d[0] for d in result.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in result.fetchall()}
    finally:
        con.close()


# --- the shared scene: one of every kind of file, under the last load's folder ----------------


@dataclass
class Scene:
    """A warehouse whose marts point at one image file of every kind."""

    root: Path  # folder of the ingested source: the default allowed root
    warehouse: Path
    dest: Path
    ids: dict[str, int]  # kind -> image_id
    sources: dict[str, Path]  # kind -> file (or where it would be)
    ratings: dict[int, int]  # full_set image_id -> rating

    def copy_of(self, kind: str) -> Path:
        image_id = self.ids[kind]
        return self.dest / str(self.ratings[image_id]) / f"{image_id}.jpg"


def _make_scene(base: Path) -> Scene:
    root = base / "sample"
    core = root / "core" / "2022" / "12" / "14"
    outside = base / "outside"
    secret = _noise_jpeg(outside / "secret.jpg", seed=99)
    files: dict[str, Path] = {
        "ok_jpeg": _noise_jpeg(core / "ok.jpg", seed=1),
        "cmyk_jpeg": _save(Image.new("CMYK", (32, 16), (255, 0, 0, 0)), core / "cmyk.jpg",
                           format="JPEG", quality=95),
        "rgba_png": _save(Image.fromarray(_bands((0, 0, 0, 0), (0, 0, 255, 255),
                                                 (0, 0, 0, 128))), core / "rgba.png"),
        "grey16_png": _save(
            Image.fromarray(np.repeat(np.repeat(np.array([[0, 32768, 65535]], dtype=np.uint16),
                                                16, axis=1), 16, axis=0)),
            core / "grey16.png",
        ),
        "la_png": _save(Image.fromarray(_bands((100, 255), (0, 0))), core / "la.png"),
        "l_png": _save(Image.fromarray(_bands((77,))[:, :, 0]), core / "l.png"),
        "missing": core / "not_there.jpg",
        "empty": core / "empty.jpg",
        "truncated": core / "truncated.jpg",
        "text": core / "text.jpg",
        "bomb": _png_bomb(core / "bomb.png"),
        "escape": root / "core" / ".." / ".." / "outside" / "secret.jpg",
        "symlink_out": core / "link_out.jpg",
        "symlink_in": core / "link_in.jpg",
        "big_ok": _noise_jpeg(core / "big.jpg", seed=2),
        "big_missing": core / "big_not_there.jpg",
    }
    palette = Image.new("P", (32, 16), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255])
    palette.paste(1, (16, 0, 32, 16))
    files["palette_png"] = _save(palette, core / "palette.png", transparency=1)

    files["empty"].write_bytes(b"")
    whole = _noise_jpeg(base / "scratch" / "big_noise.jpg", seed=3, size=(256, 256)).read_bytes()
    files["truncated"].write_bytes(whole[: len(whole) // 2])
    files["text"].write_text("this is not a picture\n")
    files["symlink_out"].symlink_to(secret)
    files["symlink_in"].symlink_to(files["ok_jpeg"])
    files["fifo"] = core / "fifo.jpg"
    os.mkfifo(files["fifo"])  # reading it would wait forever for a writer
    files["folder"] = core / "folder.jpg"
    files["folder"].mkdir()

    kinds = list(files)
    ids = {kind: 100 + n for n, kind in enumerate(kinds)}
    big_kinds = {"big_ok", "big_missing"}
    full = [(ids[k], ids[k] % 4, str(files[k])) for k in kinds if k not in big_kinds]
    big = [(ids[k], str(files[k])) for k in big_kinds]
    # A row with no path at all, as a broken source row could leave it.
    ids["no_path"] = 999
    full.append((999, 2, None))
    warehouse = _make_warehouse(base / "wh" / "warehouse.duckdb", full, big,
                                root / "core.download.db")
    return Scene(root, warehouse, base / "all_data", ids, files, {i: r for i, r, _ in full})


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> tuple[Scene, SyncSummary, dict[int, dict]]:
    """The scene after one sync with default settings (allowed root from meta.loads)."""
    scene = _make_scene(tmp_path_factory.mktemp("scene"))
    summary = sync_images(scene.warehouse, dest=scene.dest, progress=False)
    return scene, summary, _rows(scene.warehouse)


def _row(synced, kind: str) -> dict:
    scene, _summary, rows = synced
    return rows[scene.ids[kind]]


# --- statuses -------------------------------------------------------------------------------


EXPECTED_STATUS = {
    "ok_jpeg": "ok", "cmyk_jpeg": "ok", "rgba_png": "ok", "grey16_png": "ok", "la_png": "ok",
    "l_png": "ok", "palette_png": "ok", "symlink_in": "ok", "big_ok": "ok",
    "missing": "missing", "big_missing": "missing", "no_path": "missing",
    "empty": "unreadable", "truncated": "unreadable", "text": "unreadable",
    "fifo": "unreadable", "folder": "unreadable",
    "bomb": "too_large", "escape": "outside_root", "symlink_out": "outside_root",
}


def test_every_image_gets_its_status_row(synced):
    """One row per image of both marts, with the status its file deserves."""
    scene, summary, rows = synced
    assert set(EXPECTED_STATUS) == set(scene.ids)
    assert {kind: rows[scene.ids[kind]]["status"] for kind in scene.ids} == EXPECTED_STATUS
    assert summary.total == len(rows) == len(scene.ids)
    assert set(summary.by_status) == set(STATUSES)
    for status in STATUSES:
        assert summary.by_status[status] == list(EXPECTED_STATUS.values()).count(status)
    big = {scene.ids["big_ok"], scene.ids["big_missing"]}
    assert all(r["set_name"] == ("big_set" if i in big else "full_set") for i, r in rows.items())


def test_ok_rows_record_the_file_facts(synced):
    """bytes, sha256, size, format and the ORIGINAL mode of each usable file."""
    scene, _summary, _rows_ = synced
    expected = {
        "ok_jpeg": ("JPEG", "RGB", 64, 48), "cmyk_jpeg": ("JPEG", "CMYK", 32, 16),
        "rgba_png": ("PNG", "RGBA", 48, 16), "grey16_png": ("PNG", "I;16", 48, 16),
        "la_png": ("PNG", "LA", 32, 16), "l_png": ("PNG", "L", 16, 16),
        "palette_png": ("PNG", "P", 32, 16),
    }
    for kind, (fmt, mode, width, height) in expected.items():
        row = _row(synced, kind)
        source = scene.sources[kind]
        assert (row["format"], row["mode"], row["width"], row["height"]) == (
            fmt, mode, width, height), kind
        assert row["bytes"] == source.stat().st_size
        assert row["sha256"] == _sha(source)
        assert row["resolved_path"] == str(source)
        assert row["status_detail"] is None
        assert row["checked_at"] is not None


@pytest.mark.parametrize(
    "kind", ["missing", "empty", "truncated", "text", "no_path", "fifo", "folder"]
)
def test_broken_files_are_rows_with_a_one_line_detail(synced, kind):
    """Missing, empty, truncated and non-image files give a status and a short reason, no copy."""
    row = _row(synced, kind)
    assert row["status_detail"] and "\n" not in row["status_detail"]
    assert len(row["status_detail"]) <= 200
    assert row["dataset_path"] is None and row["dataset_sha256"] is None
    if kind == "empty":
        assert row["bytes"] == 0
    if kind == "text":
        assert row["status_detail"].startswith("not an image")
    if kind in ("fifo", "folder"):
        assert row["status_detail"] == "not a regular file"
    if kind == "truncated":
        assert row["width"] == 256 and row["format"] == "JPEG"  # the header was fine


def test_decompression_bomb_is_too_large_and_never_decoded(synced):
    """A 20000x20000 PNG of ~50 kB: refused from its header, Pillow's limit back as it was."""
    scene, summary, _rows_ = synced
    row = _row(synced, "bomb")
    assert scene.sources["bomb"].stat().st_size < 200_000
    assert row["status"] == "too_large"
    assert "max_pixels 64,000,000" in row["status_detail"]
    assert "400000000 pixels" in row["status_detail"]
    assert row["dataset_path"] is None
    # Refused from the header: a decoder that had started would report "while decoding",
    # and Pillow's header check leaves the size unread.
    assert row["status_detail"].startswith("more than max_pixels")
    assert row["width"] is None and row["height"] is None
    assert summary.by_status["too_large"] == 1


def test_paths_escaping_the_root_are_never_read(synced):
    """`../` out of the root and a symlink pointing outside: outside_root, file untouched."""
    scene, _summary, _rows_ = synced
    secret = str((scene.root.parent / "outside" / "secret.jpg").resolve())
    for kind in ("escape", "symlink_out"):
        row = _row(synced, kind)
        assert row["status"] == "outside_root"
        assert secret in row["status_detail"]
        assert row["bytes"] is None and row["sha256"] is None and row["width"] is None


def test_symlink_inside_the_root_is_followed(synced):
    """A link to a file inside the root is fine: it is read and copied."""
    scene, _summary, _rows_ = synced
    row = _row(synced, "symlink_in")
    assert row["sha256"] == _sha(scene.sources["ok_jpeg"])
    assert scene.copy_of("symlink_in").read_bytes() == scene.sources["ok_jpeg"].read_bytes()


# --- copies ---------------------------------------------------------------------------------


def test_rgb_jpeg_is_copied_byte_for_byte(synced):
    scene, _summary, _rows_ = synced
    row = _row(synced, "ok_jpeg")
    copy = scene.copy_of("ok_jpeg")
    assert copy.read_bytes() == scene.sources["ok_jpeg"].read_bytes()
    assert row["dataset_path"] == str(copy)
    assert row["dataset_sha256"] == row["sha256"] == _sha(copy)


def test_copies_follow_the_dataset_layout(synced):
    """dest/<rating>/<image_id>.jpg for every usable full_set image, nothing else, no temp files."""
    scene, summary, rows = synced
    expected = {
        scene.dest / str(scene.ratings[i]) / f"{i}.jpg"
        for i, r in rows.items() if r["status"] == "ok" and r["set_name"] == "full_set"
    }
    written = {p for p in scene.dest.rglob("*") if p.is_file()}
    assert written == expected
    assert summary.copied == len(expected) and summary.skipped_copies == 0
    for path in written:
        assert rows[int(path.stem)]["dataset_sha256"] == _sha(path)
    big = rows[scene.ids["big_ok"]]
    assert big["status"] == "ok" and big["dataset_path"] is None


def test_cmyk_jpeg_becomes_rgb(synced):
    """Pure cyan in (Adobe-inverted) CMYK stays cyan, not its inverse."""
    scene, _summary, _rows_ = synced
    with Image.open(scene.sources["cmyk_jpeg"]) as source:
        assert source.mode == "CMYK" and "adobe" in source.info
    assert _close(_pixel(scene.copy_of("cmyk_jpeg"), 8), (0, 255, 255), tolerance=6)


def test_palette_png_transparency_becomes_white(synced):
    scene, _summary, _rows_ = synced
    copy = scene.copy_of("palette_png")
    assert _close(_pixel(copy, 4), (255, 0, 0), tolerance=6)
    assert _close(_pixel(copy, 28), (255, 255, 255))


def test_rgba_png_is_composited_on_white(synced):
    """Transparent -> white (not black), opaque kept, half-transparent black -> mid grey."""
    scene, _summary, _rows_ = synced
    copy = scene.copy_of("rgba_png")
    assert _close(_pixel(copy, 4), (255, 255, 255))
    assert _close(_pixel(copy, 24), (0, 0, 255), tolerance=6)
    assert _close(_pixel(copy, 40), (127, 127, 127))


def test_16bit_grey_is_scaled_not_clipped(synced):
    """0 -> 0, 32768 -> ~128, 65535 -> 255 (clipping would give 0, 255, 255)."""
    scene, _summary, _rows_ = synced
    copy = scene.copy_of("grey16_png")
    for x, grey in ((8, 0), (24, 128), (40, 255)):
        assert _close(_pixel(copy, x), (grey,) * 3, tolerance=2), (x, _pixel(copy, x))


def test_la_and_l_become_rgb(synced):
    scene, _summary, _rows_ = synced
    la = scene.copy_of("la_png")
    assert _close(_pixel(la, 4), (100, 100, 100))
    assert _close(_pixel(la, 28), (255, 255, 255))
    assert _close(_pixel(scene.copy_of("l_png"), 8), (77, 77, 77), tolerance=2)


# --- limits, roots and maps --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "detail"),
    [
        # 3,072 pixels: Pillow warns between the limit and twice it, and raises above.
        ({"max_pixels": 2_000}, "pixels"),
        ({"max_pixels": 1_000}, "pixels"),
        ({"max_bytes": 100}, "bytes"),
    ],
)
def test_limits_make_an_image_too_large(tmp_path, limits, detail):
    image = _noise_jpeg(tmp_path / "src" / "a.jpg")
    warehouse = _make_warehouse(tmp_path / "wh.duckdb", [(1, 3, str(image))], [],
                                tmp_path / "src" / "core.download.db")
    saved_limit, saved_filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    summary = sync_images(warehouse, dest=tmp_path / "out", progress=False, **limits)
    row = _rows(warehouse)[1]
    assert summary.by_status["too_large"] == 1 and summary.copied == 0
    assert row["status"] == "too_large" and detail in row["status_detail"]
    assert not (tmp_path / "out" / "3" / "1.jpg").exists()
    # The limit was local to the sync.
    assert Image.MAX_IMAGE_PIXELS == saved_limit
    assert list(warnings.filters) == saved_filters


def test_path_map_remaps_server_paths(tmp_path, monkeypatch):
    """Server paths are found under the laptop's mount; the maps' targets are the only roots."""
    laptop = tmp_path / "laptop"
    picture = _noise_jpeg(laptop / "core" / "2022" / "12" / "14" / "x.jpg")
    other = _noise_jpeg(tmp_path / "elsewhere" / "y.jpg")
    warehouse = _make_warehouse(
        tmp_path / "wh.duckdb",
        [(1, 0, f"{SERVER_PREFIX}/core/2022/12/14/x.jpg"), (2, 1, str(other))],
        [(3, f"{SERVER_PREFIX}0/core/x.jpg")],  # a sibling folder, not under the prefix
        tmp_path / "elsewhere" / "core.download.db",
    )
    # A relative target is relative to the current folder.
    monkeypatch.chdir(tmp_path)
    maps = [PathMap.parse(f"{SERVER_PREFIX}=laptop")]
    summary = sync_images(warehouse, maps=maps, dest="all_data", progress=False)
    rows = _rows(warehouse)
    assert rows[1]["status"] == "ok"
    assert rows[1]["resolved_path"] == str(picture)
    assert (tmp_path / "all_data" / "0" / "1.jpg").read_bytes() == picture.read_bytes()
    assert rows[2]["status"] == "outside_root"  # not under the map's target
    # Unmapped and absent: missing (an existing file there would be outside_root).
    assert rows[3]["status"] == "missing"
    assert rows[3]["resolved_path"] == f"{SERVER_PREFIX}0/core/x.jpg"
    assert summary.copied == 1


def test_explicit_roots_replace_the_default(tmp_path):
    picture = _noise_jpeg(tmp_path / "images" / "a.jpg")
    warehouse = _make_warehouse(tmp_path / "wh.duckdb", [(1, 2, str(picture))], [], None)
    with pytest.raises(NeurostockError, match="no folder to read images from"):
        sync_images(warehouse, dest=tmp_path / "out", progress=False)
    summary = sync_images(warehouse, dest=tmp_path / "out", roots=[tmp_path / "images"],
                          progress=False, workers=1)
    assert summary.by_status["ok"] == 1 and summary.copied == 1


@pytest.mark.parametrize("text", ["", "no-equals-sign", "=/mnt/x", "/media/s1=", "="])
def test_bad_map_text_is_refused(text):
    with pytest.raises(NeurostockError, match="expected FROM=TO"):
        PathMap.parse(text)


def test_path_map_parse_and_apply():
    path_map = PathMap.parse("/media/s1/=/mnt/data=2")
    assert path_map == PathMap("/media/s1/", "/mnt/data=2")
    assert path_map.apply("/media/s1/a/b.jpg") == "/mnt/data=2/a/b.jpg"
    assert path_map.apply("/media/s10/a.jpg") is None  # whole components only
    assert path_map.apply("relative/a.jpg") is None


# --- runs after runs -----------------------------------------------------------------------------


def test_second_sync_skips_current_copies_and_redoes_changed_ones(tmp_path):
    scene = _make_scene(tmp_path)
    first = sync_images(scene.warehouse, dest=scene.dest, progress=False)
    assert first.copied == 8
    mtimes = {p: p.stat().st_mtime_ns for p in scene.dest.rglob("*.jpg")}

    second = sync_images(scene.warehouse, dest=scene.dest, progress=False)
    assert second.copied == 0 and second.skipped_copies == first.copied
    assert {p: p.stat().st_mtime_ns for p in scene.dest.rglob("*.jpg")} == mtimes
    assert second.by_status == first.by_status

    # A changed source and a damaged copy are both copied again; the rest is left alone.
    _noise_jpeg(scene.sources["l_png"].with_suffix(".jpg"), seed=7)
    scene.sources["l_png"].with_suffix(".jpg").replace(scene.sources["l_png"])
    scene.copy_of("rgba_png").write_bytes(b"damaged")
    third = sync_images(scene.warehouse, dest=scene.dest, progress=False)
    assert third.copied == 2 and third.skipped_copies == first.copied - 2
    rows = _rows(scene.warehouse)
    changed = rows[scene.ids["l_png"]]
    assert changed["format"] == "JPEG" and changed["sha256"] == _sha(scene.sources["l_png"])
    assert scene.copy_of("l_png").read_bytes() == scene.sources["l_png"].read_bytes()
    assert _close(_pixel(scene.copy_of("rgba_png"), 4), (255, 255, 255))


def test_rows_leaving_the_marts_leave_files_images(tmp_path):
    scene = _make_scene(tmp_path)
    sync_images(scene.warehouse, dest=scene.dest, progress=False)
    gone = {scene.ids["cmyk_jpeg"], scene.ids["missing"], scene.ids["big_ok"]}
    _execute(scene.warehouse, "delete from full_set where image_id in (?, ?)",
             [scene.ids["cmyk_jpeg"], scene.ids["missing"]])
    _execute(scene.warehouse, "delete from big_set where image_id = ?", [scene.ids["big_ok"]])
    summary = sync_images(scene.warehouse, dest=scene.dest, progress=False)
    rows = _rows(scene.warehouse)
    assert set(rows) == set(scene.ids.values()) - gone
    assert summary.total == len(rows)


def test_missing_marts_are_one_line_errors(tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    with pytest.raises(NeurostockError, match="does not exist"):
        sync_images(warehouse, dest=tmp_path / "out", progress=False)
    assert not warehouse.exists()  # no empty warehouse left behind
    _execute(warehouse, "create table big_set (image_id bigint, img_path varchar)")
    with pytest.raises(NeurostockError, match=r"warehouse has no table full_set: run `neurostock"):
        sync_images(warehouse, dest=tmp_path / "out", roots=[tmp_path], progress=False)
    _execute(warehouse, "drop table big_set")
    _execute(warehouse, "create table full_set (image_id bigint, rating integer, img_path varchar)")
    with pytest.raises(NeurostockError, match="warehouse has no table big_set"):
        sync_images(warehouse, dest=tmp_path / "out", roots=[tmp_path], progress=False)


def test_unwritable_destination_is_one_error(tmp_path):
    picture = _noise_jpeg(tmp_path / "images" / "a.jpg")
    warehouse = _make_warehouse(tmp_path / "wh.duckdb", [(1, 2, str(picture))], [], None)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the dataset folder should be")
    with pytest.raises(NeurostockError, match="cannot create dataset folder"):
        sync_images(warehouse, dest=blocker, roots=[tmp_path / "images"], progress=False)


def test_ensure_images_table_is_idempotent():
    con = duckdb.connect()
    try:
        ensure_images_table(con)
        con.execute("insert into files.images (image_id, status) values (1, 'ok')")
        ensure_images_table(con)
        described = con.execute("describe files.images").fetchall()
        assert tuple(r[0] for r in described) == COLUMNS
        assert con.execute("select count(*) from files.images").fetchone()[0] == 1
        with pytest.raises(duckdb.ConstraintException):
            con.execute("insert into files.images (image_id, status) values (1, 'missing')")
    finally:
        con.close()


def test_pillow_round_trip_of_the_bomb_header(tmp_path):
    """The hand-made bomb really claims 20000x20000 (so the too_large test means something)."""
    bomb = _png_bomb(tmp_path / "bomb.png")
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(io.BytesIO(bomb.read_bytes())) as image:
            assert image.size == (20_000, 20_000) and image.mode == "1"
    finally:
        Image.MAX_IMAGE_PIXELS = saved


# --- images rated unusable (rating 5) --------------------------------------------------------


def _add_ratings(warehouse: Path, rating_rows: list[tuple[int, int, str | None]]) -> None:
    """image_ratings (one resolved rating per image, 1-5) and nessesary_files (one row per
    rating row, with the image's path), as dbt leaves them; `rating_rows` are rating rows."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create table nessesary_files "
                    "(rating_id bigint, image_id bigint, img_path varchar, rating integer)")
        con.executemany("insert into nessesary_files values (?, ?, ?, ?)",
                        [(n, i, path, r) for n, (i, r, path) in enumerate(rating_rows)])
        # Resolved as the real rule does for these rows: every image's ratings agree.
        con.execute("create table image_ratings as select image_id, max(rating) as rating, "
                    "max(rating) = 5 as is_unusable from nessesary_files group by image_id")
    finally:
        con.close()


@pytest.fixture
def unusable_scene(tmp_path) -> dict:
    """Two usable images (ratings 1 and 4) and three rated 5: a JPEG rated twice, a
    transparent PNG, and one whose file is gone."""
    root = tmp_path / "src"
    files = {
        "usable": _noise_jpeg(root / "usable.jpg", seed=1),
        "best": _noise_jpeg(root / "best.jpg", seed=2),
        "bad_jpeg": _noise_jpeg(root / "bad.jpg", seed=3),
        "bad_png": _save(Image.fromarray(_bands((0, 0, 0, 0), (0, 0, 255, 255))), root / "bad.png"),
        "bad_gone": root / "gone.jpg",
    }
    warehouse = _make_warehouse(
        tmp_path / "wh.duckdb",
        [(1, 0, str(files["usable"])), (2, 3, str(files["best"]))], [],
        root / "core.download.db",
    )
    _add_ratings(warehouse, [
        (1, 1, str(files["usable"])), (2, 4, str(files["best"])),
        (3, 5, str(files["bad_jpeg"])), (3, 5, str(files["bad_jpeg"])),
        (4, 5, str(files["bad_png"])), (5, 5, str(files["bad_gone"])),
    ])
    return {"warehouse": warehouse, "dest": tmp_path / "all_data", "files": files}


def test_unusable_images_are_checked_but_not_copied_by_default(unusable_scene):
    """Every rated image is checked (so it is embedded and scored: the sell decision is
    judged on all of them); only the usable ones are copied without the flag."""
    summary = sync_images(unusable_scene["warehouse"], dest=unusable_scene["dest"],
                          progress=False)
    rows = _rows(unusable_scene["warehouse"])
    assert set(rows) == {1, 2, 3, 4, 5}
    assert {rows[i]["set_name"] for i in (3, 4, 5)} == {"unusable"}
    assert [rows[i]["status"] for i in (3, 4, 5)] == ["ok", "ok", "missing"]
    assert all(rows[i]["dataset_path"] is None for i in (3, 4, 5))
    assert summary.copied == 2
    assert not (unusable_scene["dest"] / "4").exists()


def test_copy_unusable_puts_rating_5_in_folder_4(unusable_scene):
    """dest/4/<id>.jpg for every readable image rated 5, recorded like a full_set copy."""
    dest = unusable_scene["dest"]
    files = unusable_scene["files"]
    summary = sync_images(unusable_scene["warehouse"], dest=dest, progress=False,
                          copy_unusable=True)
    rows = _rows(unusable_scene["warehouse"])
    assert set(rows) == {1, 2, 3, 4, 5}
    assert summary.total == 5 and summary.copied == 4
    assert summary.by_status["ok"] == 4 and summary.by_status["missing"] == 1
    assert {r["set_name"] for i, r in rows.items() if i >= 3} == {"unusable"}
    assert {p.relative_to(dest).as_posix() for p in dest.rglob("*.jpg")} == {
        "0/1.jpg", "3/2.jpg", "4/3.jpg", "4/4.jpg"}
    assert (dest / "4" / "3.jpg").read_bytes() == files["bad_jpeg"].read_bytes()
    for image_id in (3, 4):
        copy = dest / "4" / f"{image_id}.jpg"
        assert rows[image_id]["dataset_path"] == str(copy)
        assert rows[image_id]["dataset_sha256"] == _sha(copy)
    assert _close(_pixel(dest / "4" / "4.jpg", 4), (255, 255, 255))  # transparent: white
    assert _close(_pixel(dest / "4" / "4.jpg", 24), (0, 0, 255), tolerance=6)
    gone = rows[5]
    assert gone["status"] == "missing" and gone["dataset_path"] is None

    again = sync_images(unusable_scene["warehouse"], dest=dest, progress=False,
                        copy_unusable=True)
    assert again.copied == 0 and again.skipped_copies == 4

    # Without the flag the rows of unusable images stay (they are checked, not copied);
    # the copies already made stay, as copies of images that left full_set do.
    sync_images(unusable_scene["warehouse"], dest=dest, progress=False)
    assert set(_rows(unusable_scene["warehouse"])) == {1, 2, 3, 4, 5}
    assert (dest / "4" / "3.jpg").exists()


def test_copy_unusable_from_the_command_line(unusable_scene, capsys):
    """`images sync --copy-unusable`, its progress in the project's one style."""
    dest = unusable_scene["dest"]
    root = unusable_scene["files"]["usable"].parent
    code = run_cli(unusable_scene["warehouse"], "none", "images", "sync", "--copy-unusable",
                   "--dest", str(dest), "--root", str(root))
    assert code == 0
    err = capsys.readouterr().err
    assert "[neurostock] images: 5 to do" in err and "[neurostock] images: 5 done" in err
    assert sorted(p.name for p in (dest / "4").iterdir()) == ["3.jpg", "4.jpg"]
    assert _rows(unusable_scene["warehouse"])[4]["set_name"] == "unusable"


def test_copy_unusable_without_image_ratings_is_one_line_error(tmp_path):
    picture = _noise_jpeg(tmp_path / "images" / "a.jpg")
    warehouse = _make_warehouse(tmp_path / "wh.duckdb", [(1, 2, str(picture))], [], None)
    with pytest.raises(NeurostockError, match="warehouse has no table image_ratings"):
        sync_images(warehouse, dest=tmp_path / "out", roots=[tmp_path / "images"],
                    progress=False, copy_unusable=True)


def test_unwritable_copy_is_one_error_naming_the_file(tmp_path):
    """A dataset file that cannot be written stops the run with one line naming it."""
    picture = _noise_jpeg(tmp_path / "images" / "a.jpg")
    warehouse = _make_warehouse(tmp_path / "wh.duckdb", [(1, 2, str(picture))], [], None)
    (tmp_path / "out" / "2" / "1.jpg").mkdir(parents=True)  # a folder where the copy goes
    with pytest.raises(NeurostockError, match=r"^cannot write .*/out/2/1\.jpg: ") as caught:
        sync_images(warehouse, dest=tmp_path / "out", roots=[tmp_path / "images"],
                    progress=False)
    assert "\n" not in str(caught.value)
    assert not [p for p in (tmp_path / "out" / "2").iterdir() if p.name.endswith(".tmp")]
