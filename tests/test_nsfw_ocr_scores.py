"""NsfwDetector and TextInImage on synthetic images: real bundled models, no mocks."""

from __future__ import annotations

import hashlib
import io
import math
import re
from pathlib import Path

import nudenet
import numpy as np
import pytest
import rapidocr_onnxruntime
from PIL import Image, ImageDraw, ImageFont

from neurostock.score.catalog import CATALOG
from neurostock.score.nsfw import NUDENET_LABELS, UNSAFE_CLASSES, NsfwDetector
from neurostock.score.technical import ImageScore
from neurostock.score.text_in_image import TextInImage, to_image_score, union_area_fraction

HEX64 = re.compile(r"[0-9a-f]{64}")
OCR_COMPONENTS = {"n_boxes", "area_fraction", "mean_confidence"}


@pytest.fixture(scope="module")
def nsfw() -> NsfwDetector:
    """One detector for the module: loading the model is the expensive part."""
    return NsfwDetector(threads=2)


@pytest.fixture(scope="module")
def ocr() -> TextInImage:
    """One OCR engine for the module: loading the models is the expensive part."""
    return TextInImage(threads=2)


def large_font(size: int = 48) -> ImageFont.FreeTypeFont:
    """Pillow's scalable default font, else a TrueType font of the system; skip if none."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # older Pillow, or Pillow without FreeType
        for path in sorted(Path("/usr/share/fonts").rglob("*.ttf")):
            return ImageFont.truetype(str(path), size)
    pytest.skip("no scalable font available")


def text_image(text: str = "STOCK PHOTO 2024") -> Image.Image:
    """Large black text on white, 800x300."""
    image = Image.new("RGB", (800, 300), "white")
    ImageDraw.Draw(image).text((40, 110), text, fill="black", font=large_font())
    return image


def gradient(width: int = 640, height: int = 480) -> Image.Image:
    """A smooth diagonal colour gradient: no edges, no text, no people."""
    y, x = np.mgrid[0:height, 0:width]
    red = 255 * x / (width - 1)
    green = 255 * y / (height - 1)
    blue = np.full_like(red, 128.0)
    return Image.fromarray(np.stack([red, green, blue], axis=-1).astype(np.uint8), "RGB")


def landscape(width: int = 640, height: int = 426, seed: int = 0) -> Image.Image:
    """A landscape-like picture: blue sky, a sun, green hills with a little texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    sky = np.stack([90 + 80 * y / height, 150 + 60 * y / height, 255 - 20 * y / height], -1)
    hill = height * 0.6 + 30 * np.sin(x / 70.0 + seed)
    grass = np.stack([40 + 0 * x, 130 + 0 * x, 50 + 0 * x], -1).astype(np.float64)
    pixels = np.where((y > hill)[..., None], grass, sky)
    pixels += rng.normal(0, 6, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    ImageDraw.Draw(image).ellipse((480, 40, 560, 120), fill=(255, 230, 120))
    return image


def truncated_jpeg(tmp_path: Path) -> Image.Image:
    """A JPEG file cut in half, opened lazily (decoding fails or is partial)."""
    buffer = io.BytesIO()
    landscape().save(buffer, "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return Image.open(path)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_valid(result: ImageScore) -> None:
    """A result is either a finite score with finite components or an error with none."""
    if result.error is None:
        assert result.score is not None and math.isfinite(result.score)
        assert all(math.isfinite(value) for value in result.components.values())
    else:
        assert result.score is None and result.components == {}


# --- text in image ---------------------------------------------------------------------


def test_ocr_reads_large_clear_text(ocr: TextInImage):
    (result,) = ocr.score_images([text_image()])
    assert result.error is None
    assert set(result.components) == OCR_COMPONENTS
    assert result.components["n_boxes"] >= 1
    assert result.components["area_fraction"] > 0.01
    assert result.score == result.components["area_fraction"]
    assert 0.5 <= result.components["mean_confidence"] <= 1.0
    assert "stock" in (result.text or "").lower()


def test_ocr_finds_no_text_in_a_gradient(ocr: TextInImage):
    (result,) = ocr.score_images([gradient()])
    assert result.error is None
    assert result.components == {"n_boxes": 0.0, "area_fraction": 0.0, "mean_confidence": 0.0}
    assert result.score == 0.0
    assert result.text is None


def test_ocr_large_image_is_downscaled_and_area_is_a_fraction(ocr: TextInImage):
    # 2400x900: OCR runs on a 1024-wide copy; the fraction must not depend on the scale.
    big = text_image().resize((2400, 900), Image.Resampling.BICUBIC)
    small, large = ocr.score_images([text_image(), big])
    assert large.error is None and 0.0 < large.score <= 1.0
    assert large.score == pytest.approx(small.score, rel=0.35)


def test_area_fraction_is_the_union_of_boxes():
    square = [[0, 0], [50, 0], [50, 50], [0, 50]]
    shifted = [[25, 0], [75, 0], [75, 50], [25, 50]]
    assert union_area_fraction([], 100, 100) == 0.0
    one = union_area_fraction([square], 100, 100)
    assert one == pytest.approx(0.25, abs=0.02)  # filled polygons include their edge pixels
    both = union_area_fraction([square, shifted], 100, 100)
    assert both == pytest.approx(0.375, abs=0.02)  # the overlap counts once
    whole = [[0, 0], [99, 0], [99, 99], [0, 99]]
    assert union_area_fraction([whole, whole, whole], 100, 100) == 1.0


def test_one_character_boxes_do_not_count():
    box = [[0.0, 0.0], [40.0, 0.0], [40.0, 20.0], [0.0, 20.0]]
    lower = [[0.0, 50.0], [40.0, 50.0], [40.0, 70.0], [0.0, 70.0]]
    result = to_image_score([[box, "Y", 0.9], [lower, "AB 12", 0.7], [box, " 福 ", 0.8]], 100, 100)
    assert result.components["n_boxes"] == 1.0
    assert result.components["mean_confidence"] == pytest.approx(0.7)
    assert result.text == "AB 12"
    only_glyphs = to_image_score([[box, "Y", 0.9]], 100, 100)
    assert only_glyphs.score == 0.0 and only_glyphs.text is None
    assert to_image_score(None, 100, 100).components["n_boxes"] == 0.0


def test_ocr_bad_inputs_give_results_not_exceptions(ocr: TextInImage, tmp_path: Path):
    transparent = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    inputs = [
        Image.new("RGB", (0, 0)),
        Image.new("RGB", (1, 1)),
        transparent,
        Image.new("I;16", (64, 64)),
        truncated_jpeg(tmp_path),
        text_image(),
    ]
    results = ocr.score_images(inputs)
    assert len(results) == len(inputs)
    for result in results:
        assert_valid(result)
    assert results[0].error is not None and "no pixels" in results[0].error
    assert results[1].score == 0.0
    assert "stock" in (results[-1].text or "").lower()  # a bad image does not spoil the rest


# --- nsfw ------------------------------------------------------------------------------


def test_nsfw_landscape_scores_low_with_every_class(nsfw: NsfwDetector):
    results = nsfw.score_images([landscape(seed=0), landscape(seed=1), gradient()])
    expected_keys = {label.lower() for label in NUDENET_LABELS}
    assert len(expected_keys) == 18
    for result in results:
        assert result.error is None
        assert set(result.components) == expected_keys
        assert result.score < 0.3


def test_nsfw_scores_are_probabilities(nsfw: NsfwDetector):
    rng = np.random.default_rng(7)
    noise = Image.fromarray(rng.integers(0, 256, (300, 500, 3), dtype=np.uint8), "RGB")
    images = [noise, landscape(), gradient(), text_image(), landscape().convert("P")]
    for result in nsfw.score_images(images):
        assert result.error is None
        assert 0.0 <= result.score <= 1.0
        assert all(0.0 <= value <= 1.0 for value in result.components.values())
        unsafe = [result.components[label.lower()] for label in UNSAFE_CLASSES]
        assert result.score == max(unsafe)


def test_nsfw_bad_inputs_give_results_not_exceptions(nsfw: NsfwDetector, tmp_path: Path):
    inputs = [
        Image.new("RGB", (0, 0)),
        Image.new("RGB", (1, 1)),
        Image.new("LA", (50, 30)),
        Image.new("I;16", (40, 40)),
        Image.new("CMYK", (64, 48)),
        Image.new("RGBA", (64, 48), (0, 0, 0, 0)),
        truncated_jpeg(tmp_path),
        landscape(),
    ]
    results = nsfw.score_images(inputs)
    assert len(results) == len(inputs)
    for result in results:
        assert_valid(result)
    assert results[0].error is not None and "no pixels" in results[0].error
    assert results[1].error is None and results[1].score == 0.0
    assert results[-1].error is None  # a bad image does not spoil the rest


# --- both ------------------------------------------------------------------------------


def test_models_are_loaded_once(nsfw: NsfwDetector, ocr: TextInImage):
    nsfw_session = nsfw._detector.onnx_session
    det_session = ocr._engine.text_det.infer.session
    first = nsfw.score_images([landscape(), gradient()])
    second = nsfw.score_images([landscape(), gradient()])
    ocr_first = ocr.score_images([text_image()])
    ocr_second = ocr.score_images([text_image()])
    # Same sessions after several batches: nothing is reloaded per call.
    assert nsfw._detector.onnx_session is nsfw_session
    assert ocr._engine.text_det.infer.session is det_session
    assert first == second
    assert ocr_first == ocr_second


@pytest.mark.parametrize(("scorer", "package"), [("nsfw", nudenet), ("ocr", rapidocr_onnxruntime)])
def test_weights_are_a_file_inside_the_package(scorer, package, request):
    instance = request.getfixturevalue(scorer)
    assert HEX64.fullmatch(instance.weights_sha256)
    path = Path(instance.weights_path)
    assert path.is_file() and path.suffix == ".onnx"
    assert path.resolve().is_relative_to(Path(package.__file__).resolve().parent)
    assert sha256_of(path) == instance.weights_sha256
    assert path.name in instance.version


def test_scorer_identity():
    assert NsfwDetector.scorer_id == "nsfw"
    assert TextInImage.scorer_id == "text_in_image"
    assert CATALOG["nsfw"].higher_is == "more likely not safe for work"
    assert CATALOG["text_in_image"].higher_is == "more of the image covered by text"
