"""Perceptual hashes (pHash) of images: the `phash` computed scorer.

The hash is imagehash's ``phash`` with its defaults (hash_size 8, highfreq_factor 4):
the image is converted to greyscale, resized to 32x32, transformed with a 2-D DCT
(the DCT-based perceptual hash of Zauner, "Implementation and Benchmarking of
Perceptual Image Hash Functions", master's thesis, Hagenberg 2010; as popularised by
N. Krawetz, "Looks Like It", hackerfactor.com 2011), and each of the 8x8 lowest
frequencies becomes one bit: 1 when above their median. Two images whose hashes differ
in few bits (a small Hamming distance) look alike.

The hash is stored as text, 16 hex digits as imagehash prints it (``str(ImageHash)``),
in ``score__phash.score_text``. The near-duplicate pairs and groups are SQL, in the
warehouse: dbt models ``near_duplicate_pairs`` (Hamming distance as
``bit_count(xor(a, b))`` of the hashes read as UBIGINT) and ``near_duplicate_groups``.
"""

from __future__ import annotations

import imagehash
from PIL import Image

from neurostock.score.technical import ImageScore


def phash_hex(image: Image.Image) -> str:
    """imagehash's 8x8 pHash of one image, as 16 hex digits; ValueError if it has no pixels."""
    if image.width < 1 or image.height < 1:
        # PIL "resizes" an empty image to black, which would hash to 0 without complaint.
        raise ValueError(f"image has no pixels ({image.width}x{image.height})")
    return str(imagehash.phash(image, hash_size=8))


class PerceptualHash:
    """pHash of each image: ``text`` is 16 hex digits, ``score`` None, no components.

    An empty (0-pixel) or failing image gets ``text`` None and ``error``; no exception is
    raised for it. Tiny and uniform images do hash: a uniform image to 8000000000000000
    (only the DC coefficient is above the median), a black one to 0000000000000000.
    """

    scorer_id = "phash"
    version = f"imagehash {imagehash.__version__} phash 8x8"

    def score_images(self, images: list[Image.Image]) -> list[ImageScore]:
        """One ImageScore per image, in order."""
        return [self._hash_one(image) for image in images]

    @staticmethod
    def _hash_one(image: Image.Image) -> ImageScore:
        """Hash one image, turning a failure into an error ImageScore."""
        try:
            return ImageScore(None, {}, text=phash_hex(image))
        except Exception as exc:  # one bad image must not stop a batch
            return ImageScore(None, {}, error=f"{type(exc).__name__}: {exc}")
