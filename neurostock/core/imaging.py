"""Pixels as every step sees them: one conversion of any decoded image to 8-bit RGB, the
way a viewer shows it on a white page, for the dataset copies, the embedders, the scorers,
the upload pack and the report's thumbnails alike.

The way a viewer shows it includes the EXIF orientation: a file stored sideways with
orientation 6 (turn 90° clockwise to display) comes out of `to_rgb` turned upright, as
`PIL.ImageOps.exif_transpose` turns it (an orientation in XMP counts too), and nothing
that comes out of this module carries an orientation other than 1 any more: `to_rgb`'s
image has the tag removed from its EXIF, and `encode_rgb_jpeg` keeps the source's EXIF
without it, so no viewer turns the pixels a second time. `displayed_size` is the size
`to_rgb` gives (width and height swapped for orientations 5-8), what `images sync`
records in files.images for a decoded file.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import ExifTags, Image, ImageOps

JPEG_QUALITY = 95
_WHITE = (255, 255, 255)
_ORIENTATION = ExifTags.Base.Orientation  # 0x0112
# Orientations 2-8 and what exif_transpose does for each; 5-8 swap width and height.
_TURNED = frozenset(range(2, 9))
_SIDEWAYS = frozenset(range(5, 9))


def to_rgb(image: Image.Image) -> Image.Image:
    """A new 8-bit RGB image that looks like `image` on a white page (never `image` itself).

    Turned upright as its EXIF orientation says (the result's EXIF, if any, has no
    orientation; a JPEG decoded at a reduced scale with `draft` is turned the same way).
    Transparency (RGBA, LA, PA, premultiplied modes, a palette or colour-key
    `transparency`) is composited on white, never dropped (dropping it shows the
    colour hidden under transparent pixels, often black). 16-bit, 32-bit and float
    greyscale is scaled onto 0-255, not clipped. CMYK goes through Pillow, which
    also undoes Adobe's inverted CMYK on decode. Raises ValueError for an image
    with no pixels.
    """
    if image.width < 1 or image.height < 1:
        raise ValueError(f"image has no pixels ({image.width}x{image.height})")
    if exif_orientation(image) in _TURNED:
        # A turned copy whose EXIF has no orientation left (so to_rgb of it turns nothing).
        image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I") or image.mode == "F":
        return _wide_grey_to_rgb(image)
    if image.has_transparency_data:
        # Pillow converts premultiplied La to LA only, not straight to RGBA.
        straight = image.convert("LA") if image.mode == "La" else image
        return _on_white(straight.convert("RGBA"))
    return image.convert("RGB")  # a copy even when already RGB


def encode_rgb_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """`image` through to_rgb as JPEG bytes (so turned upright), keeping its EXIF without
    the orientation tag and, for an RGB source, its ICC profile."""
    rgb = to_rgb(image)
    options: dict = {"quality": quality}
    exif = _exif_without_orientation(image)
    # JPEG's APP1 segment holds at most 65,533 bytes; a bigger block is dropped, not fatal.
    if exif is not None and len(exif) < 65_000:
        options["exif"] = exif
    # An ICC profile describes the source's colour space, so it stays true only for RGB sources.
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "RGBa", "P", "PA"):
        options["icc_profile"] = icc
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def exif_orientation(image: Image.Image) -> int:
    """The orientation `image`'s EXIF (or XMP) states, 1-8; 1 when there is none, or
    when the EXIF cannot be read (then the pixels are shown as stored)."""
    try:
        value = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # a malformed EXIF block must not make the picture unreadable
        return 1
    return value if isinstance(value, int) and value in _TURNED else 1


def displayed_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of `image` as a viewer shows it, which is the size to_rgb gives:
    its stored size, swapped when the EXIF orientation turns it sideways (5-8)."""
    width, height = image.size
    return (height, width) if exif_orientation(image) in _SIDEWAYS else (width, height)


def _exif_without_orientation(image: Image.Image) -> bytes | None:
    """`image`'s EXIF block as bytes with no orientation tag other than 1 (the pixels are
    written turned upright), or None when it has none or it cannot be read."""
    raw = image.info.get("exif")
    if not isinstance(raw, bytes):
        return None
    try:
        exif = image.getexif()
        if exif.get(_ORIENTATION, 1) == 1:
            return raw
        del exif[_ORIENTATION]
        return exif.tobytes()
    except Exception:  # unreadable EXIF: leave it out rather than copy a stray orientation
        return None


def _on_white(rgba: Image.Image) -> Image.Image:
    """An RGBA image composited over an opaque white background, as RGB."""
    page = Image.new("RGB", rgba.size, _WHITE)
    page.paste(rgba, mask=rgba.getchannel("A"))
    return page


def _wide_grey_to_rgb(image: Image.Image) -> Image.Image:
    """A wide greyscale image (I;16*, I, F) as RGB, its range mapped linearly onto 0-255;
    pixels equal to a colour-key `transparency` become white.

    The range is the type's (0-65535 for 16-bit and for `I` data that fits it,
    0-1 for `F` data that fits it); other data is stretched from its own
    minimum to maximum.
    """
    values = np.asarray(image)
    low, high = float(values.min()), float(values.max())
    if image.mode.startswith("I;16") and values.dtype.kind == "u":
        low, high = 0.0, 65535.0
    elif image.mode == "I" and low >= 0 and high <= 65535:
        low, high = 0.0, 65535.0
    elif image.mode == "F" and low >= 0 and high <= 1:
        low, high = 0.0, 1.0
    span = (high - low) or 1.0
    scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / span)
    grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    # Pillow cannot convert a wide mode to RGBA, so a PNG's tRNS grey key is applied here.
    key = image.info.get("transparency")
    if isinstance(key, int | float):
        grey[values == key] = 255
    return Image.fromarray(grey).convert("RGB")
