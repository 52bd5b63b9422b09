"""Synthetic pictures of the sample: a clean scene, degraded as far as the rating says.

PLANTED SIGNAL: blur, noise, contrast and exposure follow the image's rating by
construction (``_DEGRADATION``), so any score that measures them agrees with the
sample's ratings because this module made it so, not because it finds anything.
The sample says so in its SQLite file (table ``neurostock_sample``), and the report
and the demo repeat it next to their figures.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageOps, ImageStat

IMAGE_SIZE = 256
BACKDROP_SIZE = 64
JPEG_QUALITY = 92


@functools.cache
def _unit_grid() -> tuple[np.ndarray, np.ndarray]:
    """x and y coordinates in [0, 1] on the coarse BACKDROP_SIZE grid, float32."""
    axis = np.linspace(0.0, 1.0, BACKDROP_SIZE, dtype=np.float32)
    xx, yy = np.meshgrid(axis, axis)
    return xx, yy


def _scene(rng: np.random.Generator) -> Image.Image:
    """A clean picture: colour gradient, a soft glow, crisp shapes and thin lines."""
    # The backdrop is smooth, so computing it coarse and upscaling costs nothing visible.
    xx, yy = _unit_grid()
    angle = float(rng.uniform(0.0, 2 * np.pi))
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    c0, c1, c2 = rng.uniform(0.0, 1.0, (3, 3)).astype(np.float32)
    pixels = c0 + ramp[..., None] * (c1 - c0)
    cx, cy, width = rng.uniform(0.2, 0.8, 2).tolist() + [float(rng.uniform(0.02, 0.1))]
    glow = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / width)[..., None]
    pixels = pixels * (1 - 0.6 * glow) + 0.6 * glow * c2
    backdrop = Image.fromarray((pixels * 255).astype(np.uint8))
    picture = backdrop.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(picture)
    for _ in range(int(rng.integers(3, 7))):
        x0, y0 = rng.integers(0, IMAGE_SIZE - 40, 2).tolist()
        w, h = rng.integers(20, 120, 2).tolist()
        box = (x0, y0, min(IMAGE_SIZE - 1, x0 + w), min(IMAGE_SIZE - 1, y0 + h))
        colour = tuple(rng.integers(0, 256, 3).tolist())
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse(box, fill=colour)
        elif shape == 1:
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon(
                [(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=colour
            )
    # Fine lines give sharp images high-frequency detail that blur visibly removes.
    for _ in range(int(rng.integers(4, 9))):
        ends = rng.integers(0, IMAGE_SIZE, 4).tolist()
        draw.line(ends, fill=tuple(rng.integers(0, 256, 3).tolist()), width=1)
    return picture


# rating -> (blur factor, noise amplitude in levels, contrast factor, exposure error 0..1)
_DEGRADATION = {
    3: (2, 8, 0.85, 0.08),
    2: (3, 20, 0.65, 0.30),
    1: (6, 36, 0.45, 0.55),
}


def _degrade(rng: np.random.Generator, picture: Image.Image, quality: int) -> Image.Image:
    """Make the picture look as good as ``quality`` says (4 best, 5 broken)."""
    # Pillow operations throughout: numpy temporaries of this size cost more in page
    # faults than in arithmetic.
    if quality == 4:
        return ImageOps.autocontrast(picture, cutoff=1)
    if quality == 5:
        return _broken(rng, picture)
    factor, noise, contrast, exposure = _DEGRADATION[quality]
    blurred = picture.reduce(factor).resize(picture.size, Image.Resampling.BILINEAR)
    means = np.asarray(ImageStat.Stat(blurred).mean)
    toned = blurred.point(_tone_curve(means, contrast, exposure, dark=rng.random() < 0.5))
    return _with_noise(rng, toned, noise)


def _tone_curve(means: np.ndarray, contrast: float, exposure: float, dark: bool) -> list[int]:
    """Per-channel lookup table: flatter contrast, then under- (dark) or over-exposure."""
    levels = np.arange(256.0)
    curve = means[:, None] + (levels[None, :] - means[:, None]) * contrast
    curve = curve * (1 - exposure) + (0.0 if dark else 255.0 * exposure)
    return np.clip(np.rint(curve), 0, 255).astype(np.uint8).ravel().tolist()


def _with_noise(rng: np.random.Generator, picture: Image.Image, amplitude: int) -> Image.Image:
    """Add independent uniform noise of +-amplitude levels to every pixel and channel."""
    noise = rng.integers(0, 2 * amplitude + 1, (*picture.size[::-1], 3), dtype=np.uint8)
    return ImageChops.add(picture, Image.fromarray(noise), scale=1.0, offset=-amplitude)


def _broken(rng: np.random.Generator, picture: Image.Image) -> Image.Image:
    """Clearly unusable: mostly noise, nearly one flat colour, or half black."""
    mode = int(rng.integers(0, 3))
    width, height = picture.size
    if mode == 0:
        static = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        return Image.blend(picture, Image.fromarray(static), 0.8)
    if mode == 1:
        colour = tuple(int(v) for v in ImageStat.Stat(picture).mean)
        return _with_noise(rng, Image.new("RGB", picture.size, colour), 3)
    broken = picture.copy()
    if rng.random() < 0.5:
        broken.paste((0, 0, 0), (0, height // 2, width, height))
    else:
        broken.paste((0, 0, 0), (width // 2, 0, width, height))
    return broken


def synthetic_picture(seed: int, img_id: int, quality: int) -> Image.Image:
    """The deterministic synthetic 256x256 RGB picture for one image id and quality 1..5."""
    rng = np.random.default_rng([seed, img_id])
    return _degrade(rng, _scene(rng), quality)


def write_pictures(jobs: Iterable[tuple[int, Path, int, Path | None]], seed: int,
                   say: Callable[[str], None], total: int) -> int:
    """Write one JPEG per ``(img_id, target, quality, real_png)`` job: the real picture
    re-encoded where ``real_png`` is given, else ``synthetic_picture``; returns the count."""

    def write(job: tuple[int, Path, int, Path | None]) -> None:
        img_id, target, quality, real_png = job
        if real_png is not None:
            with Image.open(real_png) as source:
                picture = source.convert("RGB")
        else:
            picture = synthetic_picture(seed, img_id, quality)
        picture.save(target, format="JPEG", quality=JPEG_QUALITY)

    count = 0
    # Pillow releases the GIL while resizing and encoding, so threads pay off; every
    # file depends only on its own id, so scheduling cannot change the output.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for count, _ in enumerate(pool.map(write, jobs), start=1):
            if count % 500 == 0:
                say(f"images: {count:,} / {total:,}")
    return count
