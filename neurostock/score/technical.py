"""Technical (no-reference, non-learned) quality measures of decoded images.

Every measure is computed on a copy of the image downscaled so that its long side is
at most ``MAX_SIDE`` (1024) pixels, for speed; width, height, megapixels and aspect
describe the original image. Downscaling averages neighbouring pixels, so sharpness
and noise of images larger than ``MAX_SIDE`` are those of the downscaled copy (lower
than at full size); they are comparable between images of the same scale only.

Methods:

- sharpness: variance of the Laplacian (Pech-Pacheco, Cristobal, Chamorro-Martinez and
  Fernandez-Valdivia, "Diatom autofocusing in brightfield microscopy: a comparative
  study", ICPR 2000), on Rec. 709 luma in 0-255.
- exposure: mean Rec. 709 luma (ITU-R BT.709: Y' = 0.2126 R' + 0.7152 G' + 0.0722 B',
  on the gamma-encoded values) and the fractions of pixels at the ends of the range.
- colourfulness: Hasler and Suesstrunk, "Measuring colourfulness in natural images",
  Proc. SPIE 5007, Human Vision and Electronic Imaging VIII (2003).
- noise: Immerkaer, "Fast noise variance estimation", Computer Vision and Image
  Understanding 64(2):300-302 (1996): the image is convolved with a 3x3 kernel that
  cancels linear structure and the noise sigma follows from the mean absolute response.
- entropy: Shannon entropy (bits) of the 256-bin luma histogram (Shannon, "A
  mathematical theory of communication", Bell System Technical Journal 27, 1948).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

MAX_SIDE = 1024
"""Long side (pixels) of the working copy every measure is computed on."""

MIN_SIDE = 8
"""Smallest side (pixels) of the working copy that is scored; smaller is an error."""

REC709 = np.array([0.2126, 0.7152, 0.0722])
"""Rec. 709 luma weights for R', G', B' (they sum to 1)."""

OPPONENT = np.array([[1.0, -1.0, 0.0], [0.5, 0.5, -1.0]])
"""Rows give Hasler and Suesstrunk's opponent channels rg and yb from R, G, B."""

DARK_LEVEL = 2.0
"""Luma (0-255) at or below which a pixel counts as clipped dark (2/255)."""

BRIGHT_LEVEL = 253.0
"""Luma (0-255) at or above which a pixel counts as clipped bright (253/255)."""

IMMERKAER_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
"""Immerkaer's mask, twice the difference of two Laplacian masks: zero on constant and
linear patches; the sum of its squared entries is 36."""

COMPONENTS = (
    "sharpness",
    "luminance_mean",
    "clipped_dark",
    "clipped_bright",
    "colourfulness",
    "noise",
    "entropy",
    "width",
    "height",
    "megapixels",
    "aspect",
)
"""Names of the components of a successful TechnicalQuality score, in this order."""


@dataclass(frozen=True)
class ImageScore:
    """One image's result from a scorer.

    ``score`` is the summary score (None when the scorer has no single number or the
    image could not be scored), ``components`` its named finite parts, ``text`` a
    free-text result (a hash in hex), ``error`` why the image has no score.
    """

    score: float | None
    components: dict[str, float]
    text: str | None = None
    error: str | None = None


def working_copy(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """Return ``image`` as RGB, downscaled (aspect kept) so its long side is <= max_side."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    long_side = max(width, height)
    if long_side <= max_side:
        return rgb
    scale = max_side / long_side
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # PIL's bilinear filter widens its support when shrinking, so this also anti-aliases.
    return rgb.resize(size, Image.Resampling.BILINEAR)


def rec709_luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of an (H, W, 3) float64 array; same scale as the input."""
    # cv2.transform is a per-pixel matrix product, several times faster than numpy's matmul.
    return cv2.transform(rgb, REC709.reshape(1, 3))


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 3x3 Laplacian ([[0,1,0],[1,-4,1],[0,1,0]]) of a 2-D float64 array."""
    return float(cv2.Laplacian(grey, cv2.CV_64F, ksize=1).var())


def exposure(luma: np.ndarray) -> dict[str, float]:
    """Mean luma on 0-1 and the fractions of pixels clipped dark and bright (luma on 0-255)."""
    # The tolerance keeps grey (2, 2, 2) dark: its weighted sum can come out as 2 + 1e-14.
    return {
        "luminance_mean": float(luma.mean() / 255.0),
        "clipped_dark": float(np.count_nonzero(luma <= DARK_LEVEL + 1e-6) / luma.size),
        "clipped_bright": float(np.count_nonzero(luma >= BRIGHT_LEVEL - 1e-6) / luma.size),
    }


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness of an (H, W, 3) array on 0-255."""
    # One pass makes both opponent channels: rg = R - G and yb = (R + G) / 2 - B.
    opponent = cv2.transform(rgb, OPPONENT)
    means, stds = cv2.meanStdDev(opponent)  # population std, as in the paper
    spread = math.hypot(float(stds[0, 0]), float(stds[1, 0]))
    offset = math.hypot(float(means[0, 0]), float(means[1, 0]))
    return spread + 0.3 * offset


def immerkaer_noise(grey: np.ndarray) -> float:
    """Immerkaer (1996) noise sigma of a 2-D float64 array (0-255); needs 3x3 or more.

    sigma = sqrt(pi/2) / (6 (W-2)(H-2)) * sum |I * K| over the pixels whose 3x3
    neighbourhood lies inside the image (no border padding, which would add edges).
    """
    height, width = grey.shape
    response = cv2.filter2D(grey, cv2.CV_64F, IMMERKAER_KERNEL)[1:-1, 1:-1]
    total = float(np.abs(response).sum())
    return math.sqrt(math.pi / 2.0) * total / (6.0 * (width - 2) * (height - 2))


def histogram_entropy(luma: np.ndarray) -> float:
    """Shannon entropy in bits of the 256-bin histogram of luma (0-255, rounded)."""
    levels = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    counts = np.bincount(levels.ravel(), minlength=256)
    probabilities = counts[counts > 0] / levels.size
    # max(0.0, ...) turns the -0.0 of a one-level histogram into 0.0.
    return max(0.0, float(-(probabilities * np.log2(probabilities)).sum()))


def geometry(width: int, height: int) -> dict[str, float]:
    """Original size: width, height, megapixels and aspect (width / height)."""
    return {
        "width": float(width),
        "height": float(height),
        "megapixels": width * height / 1e6,
        "aspect": width / height,
    }


def technical_components(image: Image.Image) -> dict[str, float]:
    """All TechnicalQuality components of one image; raises ValueError if it is too small."""
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise ValueError(f"image too small ({width}x{height}); need at least {MIN_SIDE} px a side")
    small = working_copy(image)
    if min(small.size) < MIN_SIDE:
        # Extreme aspect ratios can leave a sliver after downscaling.
        raise ValueError(
            f"image too thin ({width}x{height}, {small.width}x{small.height} after "
            f"downscaling); need at least {MIN_SIDE} px a side"
        )
    rgb = np.asarray(small, dtype=np.float64)
    luma = rec709_luma(rgb)
    components = {
        "sharpness": laplacian_variance(luma),
        **exposure(luma),
        "colourfulness": colourfulness(rgb),
        "noise": immerkaer_noise(luma),
        "entropy": histogram_entropy(luma),
        **geometry(width, height),
    }
    bad = sorted(name for name, value in components.items() if not math.isfinite(value))
    if bad:
        raise ValueError(f"non-finite components: {', '.join(bad)}")
    return {name: components[name] for name in COMPONENTS}


def score_one(image: Image.Image) -> ImageScore:
    """Score one image; any failure becomes an ImageScore with ``error`` set."""
    try:
        components = technical_components(image)
    except Exception as exc:  # one bad image must not stop a batch
        return ImageScore(None, {}, error=f"{type(exc).__name__}: {exc}")
    return ImageScore(components["sharpness"], components)


class TechnicalQuality:
    """Sharpness, exposure, colourfulness, noise, entropy and geometry of images.

    ``score`` is the sharpness (variance of the Laplacian of Rec. 709 luma on 0-255),
    higher is sharper. Measures are computed on a copy downscaled to a long side of at
    most 1024 px (see the module docstring); geometry is of the original. An image that
    cannot be scored (smaller than 8 px a side, or failing) gets ``score`` None, empty
    ``components`` and ``error``; no exception is raised for it.
    """

    scorer_id = "technical"
    version = "1"

    def score_images(self, images: list[Image.Image]) -> list[ImageScore]:
        """One ImageScore per image, in order."""
        return [score_one(image) for image in images]
