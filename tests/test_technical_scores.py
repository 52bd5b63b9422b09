"""Technical quality scores and perceptual hashes, on real images made with numpy/Pillow."""

from __future__ import annotations

import io
import math
import re

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from neurostock.score.phash import PerceptualHash
from neurostock.score.technical import COMPONENTS, ImageScore, TechnicalQuality, working_copy

# --- image makers -------------------------------------------------------------------------


def rgb_image(array: np.ndarray) -> Image.Image:
    """An RGB image from an (H, W, 3) or (H, W) array on 0-255 (rounded and clipped)."""
    array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return Image.fromarray(array, "RGB")


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A uniform image."""
    return Image.new("RGB", size, colour)


def scene(seed: int, size: int = 256) -> Image.Image:
    """A smooth random colour field with a few sharp-edged shapes: a stand-in photo."""
    rng = np.random.default_rng(seed)
    field = rgb_image(rng.uniform(0, 255, (6, 6, 3))).resize((size, size), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(field)
    for _ in range(6):
        start = rng.integers(0, size * 3 // 4, 2)
        box = [int(v) for v in (*start, *(start + rng.integers(size // 8, size // 3, 2)))]
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    return field


def ramp(size: int = 256) -> np.ndarray:
    """A grey plane from about 60 to 190: smooth, so Immerkaer's kernel sees (almost) nothing."""
    y, x = np.mgrid[0:size, 0:size]
    return 60.0 + 0.25 * x + 0.25 * y


def jpeg_copy(image: Image.Image, quality: int) -> Image.Image:
    """The image after a JPEG round trip at the given quality."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def technical(image: Image.Image) -> ImageScore:
    """TechnicalQuality's score of one image."""
    (result,) = TechnicalQuality().score_images([image])
    return result


def components(image: Image.Image) -> dict[str, float]:
    """TechnicalQuality's components of one image that must score."""
    result = technical(image)
    assert result.error is None, result.error
    return result.components


def hamming(a: str, b: str) -> int:
    """Bits in which two 16-hex-digit hashes differ, by imagehash's own comparison."""
    return imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b)


def phash(image: Image.Image) -> str:
    """The pHash hex of one image that must hash (the image's, not its mirror's)."""
    return phash_pair(image)[0]


def phash_pair(image: Image.Image) -> tuple[str, str]:
    """(the image's pHash hex, its mirror's)."""
    (result,) = PerceptualHash().score_images([image])
    assert result.error is None, result.error
    direct, mirror = result.text.split(" ")
    return direct, mirror


# --- TechnicalQuality ---------------------------------------------------------------------


def test_scores_have_every_component_finite_and_score_is_sharpness():
    images = [scene(1), solid((0, 0, 0)), solid((255, 255, 255))]
    for result in TechnicalQuality().score_images(images):
        assert result.error is None and result.text is None
        assert tuple(result.components) == COMPONENTS
        assert all(isinstance(v, float) and math.isfinite(v) for v in result.components.values())
        assert result.score == result.components["sharpness"]


def test_blurred_copy_is_less_sharp():
    original = scene(2)
    sharp = components(original)["sharpness"]
    blurred = components(original.filter(ImageFilter.GaussianBlur(2)))["sharpness"]
    assert sharp > 0
    assert blurred < 0.5 * sharp


@pytest.mark.parametrize("sigma", [5.0, 10.0, 20.0])
def test_noise_estimate_follows_added_gaussian_noise(sigma):
    clean = ramp()
    assert components(rgb_image(clean))["noise"] < 1.0
    # The same noise in R, G and B, so the luma carries exactly sigma.
    noisy = clean + np.random.default_rng(int(sigma)).normal(0.0, sigma, clean.shape)
    estimate = components(rgb_image(noisy))["noise"]
    assert estimate == pytest.approx(sigma, rel=0.25)


def test_black_image_is_clipped_dark():
    parts = components(solid((0, 0, 0)))
    assert parts["clipped_dark"] == pytest.approx(1.0)
    assert parts["luminance_mean"] == pytest.approx(0.0, abs=1e-9)
    assert parts["clipped_bright"] == 0.0


def test_white_image_is_clipped_bright():
    parts = components(solid((255, 255, 255)))
    assert parts["clipped_bright"] == pytest.approx(1.0)
    assert parts["luminance_mean"] == pytest.approx(1.0)
    assert parts["clipped_dark"] == 0.0


def test_mid_grey_is_not_clipped():
    parts = components(solid((128, 128, 128)))
    assert parts["clipped_dark"] == parts["clipped_bright"] == 0.0
    assert parts["luminance_mean"] == pytest.approx(128 / 255)


def test_clipping_thresholds_are_inclusive():
    greys = np.repeat(np.array([2.0, 3.0, 252.0, 253.0]), 16)[None, :].repeat(8, axis=0)
    parts = components(rgb_image(greys))
    assert parts["clipped_dark"] == pytest.approx(0.25)
    assert parts["clipped_bright"] == pytest.approx(0.25)


def test_colourfulness_of_grey_is_zero_and_of_red_and_blue_high():
    assert components(solid((128, 128, 128)))["colourfulness"] == pytest.approx(0.0, abs=1e-9)
    halves = np.zeros((64, 64, 3))
    halves[:, :32, 0] = 255  # red left half
    halves[:, 32:, 2] = 255  # blue right half
    red_blue = components(rgb_image(halves))["colourfulness"]
    # Hand computation: std (127.5, 191.25), mean (127.5, -63.75) -> 229.9 + 0.3 * 142.5.
    assert red_blue == pytest.approx(272.6, abs=0.5)
    assert components(solid((255, 0, 0)))["colourfulness"] > 80
    assert components(scene(3))["colourfulness"] < red_blue


def test_entropy_of_uniform_is_zero_and_of_random_noise_about_eight_bits():
    assert components(solid((90, 140, 30)))["entropy"] == 0.0
    noise = np.random.default_rng(4).integers(0, 256, (256, 256))
    assert components(rgb_image(noise))["entropy"] == pytest.approx(8.0, abs=0.02)


def test_geometry_is_of_the_original_image():
    parts = components(scene(5).resize((300, 200)))
    assert (parts["width"], parts["height"]) == (300.0, 200.0)
    assert parts["megapixels"] == pytest.approx(0.06)
    assert parts["aspect"] == pytest.approx(1.5)


def test_large_image_is_scored_on_a_downscaled_copy_but_keeps_its_size():
    large = scene(6, size=512).resize((3000, 1000))
    assert working_copy(large).size == (1024, 341)
    parts = components(large)
    assert (parts["width"], parts["height"], parts["aspect"]) == (3000.0, 1000.0, 3.0)
    assert parts["megapixels"] == pytest.approx(3.0)


def test_non_rgb_mode_is_converted():
    grey = components(scene(7).convert("L"))
    assert grey["colourfulness"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("size", [(1, 1), (0, 0), (5, 400), (8000, 4)])
def test_tiny_or_degenerate_image_gives_an_error_not_an_exception(size):
    result = technical(Image.new("RGB", size, (10, 20, 30)))
    assert result.score is None and result.components == {} and result.text is None
    assert "too" in result.error


def test_undecodable_image_gives_an_error_and_the_batch_goes_on():
    buffer = io.BytesIO()
    scene(8).save(buffer, "PNG")
    truncated = Image.open(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2]))
    good, bad = TechnicalQuality().score_images([scene(8), truncated])
    assert good.error is None
    assert bad.score is None and bad.components == {} and bad.error
    (hash_bad,) = PerceptualHash().score_images([truncated])
    assert hash_bad.text is None and hash_bad.error


# --- PerceptualHash -----------------------------------------------------------------------


def test_phash_is_sixteen_hex_digits_and_its_mirrors_and_no_score():
    (result,) = PerceptualHash().score_images([scene(9)])
    assert result.score is None and result.components == {} and result.error is None
    assert re.fullmatch(r"[0-9a-f]{16} [0-9a-f]{16}", result.text)
    mirrored = scene(9).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert result.text == f"{imagehash.phash(scene(9))} {imagehash.phash(mirrored)}"


def test_a_flipped_copy_is_far_directly_and_near_through_the_mirror_hash():
    original = scene(14, size=512)
    flipped = jpeg_copy(original.transpose(Image.Transpose.FLIP_LEFT_RIGHT), quality=80)
    direct, mirror = phash_pair(original)
    assert hamming(direct, phash(flipped)) > 6
    assert hamming(mirror, phash(flipped)) <= 6


def test_identical_images_have_distance_zero():
    image = scene(10)
    assert hamming(phash(image), phash(image.copy())) == 0


def test_resized_and_recompressed_copy_is_near():
    original = scene(11, size=512)
    altered = jpeg_copy(original.resize((448, 448), Image.Resampling.BILINEAR), quality=70)
    assert hamming(phash(original), phash(altered)) <= 6


def test_unrelated_image_is_far():
    assert hamming(phash(scene(12)), phash(scene(13))) > 16


def test_empty_image_hash_is_an_error():
    (result,) = PerceptualHash().score_images([Image.new("RGB", (0, 0))])
    assert result.text is None and "no pixels" in result.error
