"""Perceptual hashes (pHash) of images: the `phash` computed scorer.

The hash is imagehash's ``phash`` with its defaults (hash_size 8, highfreq_factor 4):
the image is converted to greyscale, resized to 32x32, transformed with a 2-D DCT
(the DCT-based perceptual hash of Zauner, "Implementation and Benchmarking of
Perceptual Image Hash Functions", master's thesis, Hagenberg 2010; as popularised by
N. Krawetz, "Looks Like It", hackerfactor.com 2011), and each of the 8x8 lowest
frequencies becomes one bit: 1 when above their median. Two images whose hashes differ
in few bits (a small Hamming distance) look alike.

The hash of the mirror image (flipped left to right) is computed too: Adobe Stock counts
a flipped copy as a copy, and a flip changes most of a pHash's bits. Both are stored as
text in ``score__phash.score_text``: 16 hex digits as imagehash prints them
(``str(ImageHash)``), the image's then the mirror's, separated by one space (hashes
stored by an earlier version have the first only). The near-duplicate pairs are found
by multi-index hashing (neurostock/analysis/hamming.py, dbt model
``near_duplicate_pairs``), the groups in SQL (``near_duplicate_groups``).
"""

from __future__ import annotations

import imagehash
from PIL import Image, ImageOps

from neurostock.score.technical import ImageScore


def phash_hex(image: Image.Image) -> str:
    """imagehash's 8x8 pHash of one image, as 16 hex digits; ValueError if it has no pixels."""
    if image.width < 1 or image.height < 1:
        # PIL "resizes" an empty image to black, which would hash to 0 without complaint.
        raise ValueError(f"image has no pixels ({image.width}x{image.height})")
    return str(imagehash.phash(image, hash_size=8))


def phash_with_mirror(image: Image.Image) -> str:
    """`<hash> <mirror's hash>`: the image's pHash and its left-right mirror's."""
    return f"{phash_hex(image)} {phash_hex(ImageOps.mirror(image))}"


class PerceptualHash:
    """pHash of each image and of its mirror: ``text`` is two times 16 hex digits,
    ``score`` None, no components.

    An empty (0-pixel) or failing image gets ``text`` None and ``error``; no exception is
    raised for it. Tiny and uniform images do hash: a uniform image to 8000000000000000
    (only the DC coefficient is above the median), a black one to 0000000000000000.
    """

    scorer_id = "phash"
    version = f"imagehash {imagehash.__version__} phash 8x8, and of the mirror image"

    def score_images(self, images: list[Image.Image]) -> list[ImageScore]:
        """One ImageScore per image, in order."""
        return [self._hash_one(image) for image in images]

    @staticmethod
    def _hash_one(image: Image.Image) -> ImageScore:
        """Hash one image, turning a failure into an error ImageScore."""
        try:
            return ImageScore(None, {}, text=phash_with_mirror(image))
        except Exception as exc:  # one bad image must not stop a batch
            return ImageScore(None, {}, error=f"{type(exc).__name__}: {exc}")
