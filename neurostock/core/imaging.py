"""Pixels the detectors see: RGB, with transparency flattened on white."""

from __future__ import annotations

from PIL import Image


def rgb_on_white(image: Image.Image) -> Image.Image:
    """An RGB copy; transparent areas over white (what a viewer sees), never the hidden
    colour under them. Raises ValueError for an image with no pixels."""
    if image.width < 1 or image.height < 1:
        raise ValueError(f"image has no pixels ({image.width}x{image.height})")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        rgb = Image.new("RGB", rgba.size, (255, 255, 255))
        rgb.paste(rgba, mask=rgba.getchannel("A"))
        return rgb
    return image.convert("RGB")
