"""The project's one image-to-RGB conversion (neurostock.core.imaging.to_rgb), alone and
through the steps that decode images: the scoring and embedding UDFs on a real DuckDB
connection, and the report's thumbnails. Real image files in tmp_path."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from neurostock.core.imaging import encode_rgb_jpeg, to_rgb

WHITE = (255, 255, 255)


def _close(actual, expected, tolerance: int = 1) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


# --- to_rgb ------------------------------------------------------------------------------------


def test_rgb_gives_a_new_image_with_the_same_pixels():
    """Callers shrink the result in place (OCR, thumbnails): it must never be the input."""
    original = Image.new("RGB", (4, 4), (10, 20, 30))
    rgb = to_rgb(original)
    assert rgb is not original and rgb.mode == "RGB"
    rgb.paste((0, 0, 0), (0, 0, 4, 4))
    assert original.getpixel((0, 0)) == (10, 20, 30)


def test_rgba_transparency_is_white_not_the_hidden_colour():
    pixels = np.zeros((2, 3, 4), dtype=np.uint8)  # hidden black everywhere
    pixels[:, 1] = (0, 0, 255, 255)
    pixels[:, 2, 3] = 128  # half-transparent black
    rgb = to_rgb(Image.fromarray(pixels, "RGBA"))
    assert rgb.mode == "RGB"
    assert rgb.getpixel((0, 0)) == WHITE
    assert rgb.getpixel((1, 0)) == (0, 0, 255)
    assert _close(rgb.getpixel((2, 0)), (127, 127, 127))


@pytest.mark.parametrize("mode", ["LA", "La", "PA", "RGBa"])
def test_other_alpha_modes_are_flattened_on_white(mode):
    transparent = Image.new(mode, (2, 2))  # zero alpha over zero colour
    assert transparent.mode == mode
    assert to_rgb(transparent).getpixel((1, 1)) == WHITE


def test_palette_with_a_transparent_index_or_an_alpha_palette():
    keyed = Image.new("P", (2, 1), 0)
    keyed.putpalette([255, 0, 0, 0, 0, 0])
    keyed.putpixel((1, 0), 1)
    keyed.info["transparency"] = 1
    assert [to_rgb(keyed).getpixel((x, 0)) for x in (0, 1)] == [(255, 0, 0), WHITE]

    alpha_palette = Image.new("P", (1, 1), 0)
    alpha_palette.putpalette([0, 0, 0, 0], rawmode="RGBA")
    assert "transparency" not in alpha_palette.info
    assert to_rgb(alpha_palette).getpixel((0, 0)) == WHITE


@pytest.mark.parametrize(("mode", "key", "other"), [("RGB", (0, 0, 0), (9, 9, 9)), ("L", 0, 9)])
def test_colour_key_transparency_becomes_white(mode, key, other):
    image = Image.new(mode, (2, 1), key)
    image.putpixel((1, 0), other)
    image.info["transparency"] = key
    assert [to_rgb(image).getpixel((x, 0)) for x in (0, 1)] == [WHITE, (9, 9, 9)]


def test_16bit_grey_is_scaled_and_its_colour_key_is_white():
    values = np.array([[0, 32768, 65535, 1000]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    assert [to_rgb(image).getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]
    image.info["transparency"] = 1000
    keyed = to_rgb(image)
    assert keyed.getpixel((3, 0)) == WHITE and keyed.getpixel((0, 0)) == (0, 0, 0)


def test_wide_int_and_float_grey():
    wide = Image.fromarray(np.array([[-100, 0, 100]], dtype=np.int32), "I")
    assert [to_rgb(wide).getpixel((x, 0)) for x in range(3)] == [(0,) * 3, (128,) * 3, WHITE]
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F")
    assert [to_rgb(unit).getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_cmyk_becomes_its_rgb_colour():
    assert to_rgb(Image.new("CMYK", (1, 1), (0, 255, 0, 0))).getpixel((0, 0)) == (255, 0, 255)


def test_an_image_without_pixels_is_a_value_error():
    with pytest.raises(ValueError, match="no pixels"):
        to_rgb(Image.new("RGBA", (0, 3)))


def test_encode_rgb_jpeg_flattens_and_keeps_exif():
    image = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 (applied to the pixels, so not kept)
    exif[0x010E] = "kept"  # ImageDescription
    image.info["exif"] = exif.tobytes()
    with Image.open(io.BytesIO(encode_rgb_jpeg(image))) as decoded:
        assert decoded.format == "JPEG" and decoded.mode == "RGB"
        assert decoded.getexif()[0x010E] == "kept"
        assert decoded.getexif().get(0x0112, 1) == 1
        assert _close(decoded.getpixel((8, 8)), WHITE, tolerance=2)


# --- through the steps that decode files ---------------------------------------------------


def _scene() -> np.ndarray:
    """A 64x64 RGBA picture: a textured red left half, a right half fully transparent
    over hidden black pixels."""
    rng = np.random.default_rng(5)
    pixels = np.zeros((64, 64, 4), dtype=np.uint8)
    pixels[:, :32, 0] = rng.integers(150, 250, (64, 32))
    pixels[:, :32, 1] = rng.integers(0, 60, (64, 32))
    pixels[:, :32, 3] = 255
    return pixels


def _halves(left) -> np.ndarray:
    """64x64 RGB: `left` (a colour or a 64x32x3 array) on the left, white on the right."""
    pixels = np.full((64, 64, 3), 255, dtype=np.uint8)
    pixels[:, :32] = left
    return pixels


def _variants(folder: Path) -> dict[str, Path]:
    """Transparent pictures (RGBA, palette with a transparent index, LA), each with its
    reference flattened on white by hand as an RGB PNG (`<kind>_white`), and the RGBA
    one on black (`black`: what dropping alpha shows)."""
    folder.mkdir(parents=True, exist_ok=True)
    rgba = _scene()
    paths = {name: folder / f"{name}.png" for name in
             ("rgba", "rgba_white", "palette", "palette_white", "la", "la_white", "black")}
    Image.fromarray(rgba, "RGBA").save(paths["rgba"])
    Image.fromarray(_halves(rgba[:, :32, :3])).save(paths["rgba_white"])
    Image.fromarray(rgba[:, :, :3]).save(paths["black"])
    palette = Image.new("P", (64, 64), 1)
    palette.putpalette([200, 30, 30, 0, 0, 0])
    palette.paste(0, (0, 0, 32, 64))
    palette.save(paths["palette"], transparency=1)
    Image.fromarray(_halves((200, 30, 30))).save(paths["palette_white"])
    la = np.zeros((64, 64, 2), dtype=np.uint8)
    la[:, :32] = (90, 255)
    Image.fromarray(la, "LA").save(paths["la"])
    Image.fromarray(_halves((90, 90, 90))).save(paths["la_white"])
    return paths


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _udf_rows(con: duckdb.DuckDBPyConnection, call: str, paths: list[Path]) -> list:
    con.execute("create or replace table todo (n integer, path varchar, sha varchar)")
    con.executemany("insert into todo values (?, ?, ?)",
                    [(n, str(p), _sha(p)) for n, p in enumerate(paths)])
    return [row[0] for row in con.execute(
        f"select {call} from todo order by n").fetchall()]


@pytest.mark.parametrize("kind", ["rgba", "palette", "la"])
def test_score_udf_sees_transparency_on_white(tmp_path, kind):
    """ns_score_image('technical', ...) of a transparent PNG equals that of the same picture
    flattened on white, and differs from it on black (so the check can fail)."""
    from neurostock.compute.cache import ResumeCache
    from neurostock.score.udfs import ScoreFunctions

    paths = _variants(tmp_path / "img")
    functions = ScoreFunctions(["technical"], ResumeCache(tmp_path / "cache.sqlite"))
    con = duckdb.connect()
    functions.register(con)
    transparent, white, black = _udf_rows(
        con, "ns_score_image('technical', path, sha, 3)",
        [paths[kind], paths[f"{kind}_white"], paths["black"]],
    )
    con.close()
    assert transparent["error"] is None and white["error"] is None
    assert transparent["components"] == white["components"]
    assert transparent["score"] == white["score"]
    luminance = transparent["components"]["luminance_mean"]
    assert luminance > 0.6  # half the picture is white
    if kind == "rgba":
        assert black["components"]["luminance_mean"] < luminance - 0.4


def test_embed_udf_sees_transparency_on_white(tmp_path):
    """A tiny open_clip through ns_embed_image: transparent PNG == flattened on white."""
    from neurostock.compute.cache import ResumeCache
    from neurostock.core.config import load_config
    from neurostock.embed.udfs import EmbeddingFunctions
    from tests.tiny_clip import tiny_checkpoint

    model_config, checkpoint = tiny_checkpoint(tmp_path)
    config = tmp_path / "neurostock.yml"
    config.write_text(
        "embedders:\n"
        f"  - {{id: tiny, library: open_clip, model: tiny-clip-test, "
        f"model_config: {model_config}, pretrained: {checkpoint}, kinds: [image]}}\n"
    )
    paths = _variants(tmp_path / "img")
    functions = EmbeddingFunctions(load_config(config), ResumeCache(tmp_path / "cache.sqlite"))
    con = duckdb.connect()
    functions.register(con)
    rows = _udf_rows(con, "ns_embed_image('tiny', path, sha, 3)",
                     [paths["rgba"], paths["rgba_white"], paths["black"]])
    con.close()
    assert all(row["error"] is None for row in rows)
    transparent, white, black = (np.array(row["embedding"]) for row in rows)
    assert np.allclose(transparent, white, atol=1e-5)
    assert not np.allclose(black, white, atol=1e-3)


def test_thumbnails_show_transparency_on_white(tmp_path):
    from neurostock.reports.thumbnails import ThumbnailJob, make_thumbnails, relative_path

    paths = _variants(tmp_path / "img")
    sha = _sha(paths["rgba"])
    result = make_thumbnails([ThumbnailJob(sha, str(paths["rgba"]))], tmp_path / "site")
    assert result["made"] == 1 and not result["failed"]
    with Image.open(tmp_path / "site" / relative_path(sha)) as thumb:
        assert thumb.mode == "RGB"
        assert _close(thumb.getpixel((thumb.width - 4, thumb.height // 2)), WHITE, tolerance=3)


# --- EXIF orientation ----------------------------------------------------------------------------

RED, BLUE = (220, 30, 30), (30, 30, 220)


def _sideways_jpeg(path: Path, size: tuple[int, int] = (48, 32)) -> Path:
    """A JPEG that a viewer shows `size` wide and high, left half red and right half blue,
    whose pixels are stored turned 90 degrees anticlockwise (so `size` swapped, blue on
    top) with EXIF orientation 6 ("turn 90 degrees clockwise to display")."""
    width, height = size
    shown = Image.new("RGB", size, BLUE)
    shown.paste(RED, (0, 0, width // 2, height))
    stored = shown.transpose(Image.Transpose.ROTATE_90)
    assert stored.size == (height, width)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "sideways"  # ImageDescription: some other EXIF to keep
    stored.save(path, "JPEG", quality=95, exif=exif.tobytes())
    with Image.open(path) as check:
        assert check.size == (height, width) and check.getexif()[0x0112] == 6
    return path


def _upright(image: Image.Image, size: tuple[int, int] = (48, 32)) -> None:
    """`image` is `size` with red on the left and blue on the right, as a viewer shows it."""
    assert image.size == size
    width, height = size
    rgb = image.convert("RGB")
    assert _close(rgb.getpixel((width // 6, height // 2)), RED, tolerance=12)
    assert _close(rgb.getpixel((width * 5 // 6, height // 2)), BLUE, tolerance=12)
    assert _close(rgb.getpixel((width // 6, height // 6)), RED, tolerance=12)
    assert _close(rgb.getpixel((width * 5 // 6, height * 5 // 6)), BLUE, tolerance=12)


def test_to_rgb_turns_an_exif_oriented_jpeg_upright(tmp_path):
    with Image.open(_sideways_jpeg(tmp_path / "side.jpg")) as image:
        rgb = to_rgb(image)
    _upright(rgb)
    # The result carries no orientation, so converting it again turns nothing.
    assert rgb.getexif().get(0x0112, 1) == 1
    _upright(to_rgb(rgb))


def test_encode_rgb_jpeg_writes_an_upright_jpeg_without_orientation(tmp_path):
    with Image.open(_sideways_jpeg(tmp_path / "side.jpg")) as image:
        payload = encode_rgb_jpeg(image)
    with Image.open(io.BytesIO(payload)) as written:
        assert written.format == "JPEG"
        assert written.getexif().get(0x0112, 1) == 1
        assert written.getexif()[0x010E] == "sideways"  # the rest of the EXIF is kept
        _upright(written)


def test_report_thumbnail_of_an_exif_oriented_jpeg_is_upright(tmp_path):
    """Big enough that the thumbnail decodes the JPEG at a reduced scale (draft): the
    orientation is applied after it."""
    from neurostock.reports.thumbnails import SIZE, ThumbnailJob, make_thumbnails, relative_path

    shown = (SIZE * 4, SIZE * 2)
    path = _sideways_jpeg(tmp_path / "side.jpg", shown)
    with Image.open(path) as probe:
        probe.draft("RGB", (SIZE, SIZE))
        assert probe.size[0] < shown[1]  # the thumbnail's decode is a draft
    sha = _sha(path)
    result = make_thumbnails([ThumbnailJob(sha, str(path))], tmp_path / "site")
    assert result["made"] == 1 and not result["failed"]
    with Image.open(tmp_path / "site" / relative_path(sha)) as thumb:
        assert thumb.getexif().get(0x0112, 1) == 1
        _upright(thumb, (SIZE, SIZE // 2))


def test_upload_pack_jpeg_of_an_exif_oriented_file_is_upright(tmp_path):
    from neurostock.submit.pack import jpeg_bytes

    payload, width, height = jpeg_bytes(_sideways_jpeg(tmp_path / "side.jpg"))
    assert (width, height) == (48, 32)
    with Image.open(io.BytesIO(payload)) as packed:
        assert packed.getexif().get(0x0112, 1) == 1
        _upright(packed)


def test_upload_pack_jpeg_is_the_same_file_in_every_run(tmp_path):
    """The pack's sRGB profile carries no creation time: the same image gives the same
    bytes in another process, seconds later (a rerun of `submit` rewrites nothing)."""
    import struct
    import subprocess
    import sys
    import time

    from neurostock.submit.pack import jpeg_bytes

    source = _sideways_jpeg(tmp_path / "side.jpg")
    here = jpeg_bytes(source)[0]
    time.sleep(1.1)  # the header's clock counts seconds
    code = ("import sys; from neurostock.submit.pack import jpeg_bytes; "
            "sys.stdout.buffer.write(jpeg_bytes(sys.argv[1])[0])")
    there = subprocess.run([sys.executable, "-c", code, str(source)], capture_output=True,
                           check=True).stdout
    assert there == here
    with Image.open(io.BytesIO(here)) as packed:
        assert packed.info["icc_profile"][24:36] == struct.pack(">6H", 2000, 1, 1, 0, 0, 0)


def test_images_sync_records_the_displayed_size_and_copies_upright(tmp_path):
    """One file through images sync's check and dataset copy (the functions a sync's
    workers run): files.images gets the size as displayed, and the dataset copy of an
    RGB JPEG with an orientation is re-encoded upright, not copied byte for byte."""
    from neurostock.images.checks import Job, Row, Settings, check_file
    from neurostock.images.dataset import copy_into_dataset

    (tmp_path / "src").mkdir()
    path = _sideways_jpeg(tmp_path / "src" / "side.jpg")
    settings = Settings(maps=(), roots=(str(tmp_path / "src"),), dest=tmp_path / "data",
                        max_pixels=10**6, max_bytes=10**6)
    job = Job(7, "full_set", str(path), 2, None)
    row = Row(job.image_id, job.set_name, job.img_path)
    decoded = check_file(job, settings, row)
    assert (row.width, row.height) == (48, 32)
    (tmp_path / "data" / "2").mkdir(parents=True)
    copy_into_dataset(job, decoded, settings, row)
    assert row.copied and row.dataset_path == str(tmp_path / "data" / "2" / "7.jpg")
    copy = Path(row.dataset_path)
    assert copy.read_bytes() != path.read_bytes()
    assert row.dataset_sha256 == _sha(copy)
    with Image.open(copy) as written:
        assert written.getexif().get(0x0112, 1) == 1
        _upright(written)
