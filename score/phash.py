"""Perceptual hashes (pHash) of images, and near-duplicate groups from them.

The hash is imagehash's ``phash`` with its defaults (hash_size 8, highfreq_factor 4):
the image is converted to greyscale, resized to 32x32, transformed with a 2-D DCT
(the DCT-based perceptual hash of Zauner, "Implementation and Benchmarking of
Perceptual Image Hash Functions", master's thesis, Hagenberg 2010; as popularised by
N. Krawetz, "Looks Like It", hackerfactor.com 2011), and each of the 8x8 lowest
frequencies becomes one bit: 1 when above their median. Two images whose hashes differ
in few bits (a small Hamming distance) look alike.

In text the hash is 16 hex digits, as imagehash prints it (``str(ImageHash)``). In
DuckDB it is stored as a BIGINT, see ``hash_to_int``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import imagehash
import numpy as np
from PIL import Image

from score.technical import ImageScore

HEX_DIGITS = 16
"""Length of a 64-bit pHash in hex."""

_HEX_RE = re.compile(r"[0-9a-fA-F]{16}")

PAIRS_SQL = """
select a.image_id as image_id_a,
       b.image_id as image_id_b,
       bit_count(xor(a.phash, b.phash)) as distance
from phashes as a
join phashes as b on a.image_id < b.image_id
where bit_count(xor(a.phash, b.phash)) <= {max_distance}
order by image_id_a, image_id_b
"""
"""Near-duplicate pairs in DuckDB, from ``phashes(image_id BIGINT, phash BIGINT)``.

A ``str.format`` template: fill ``{max_distance}`` with ``pairs_sql(n)`` (which checks
it is an int). One row per pair (image_id_a < image_id_b) whose hashes differ in at most
max_distance bits. Images with a NULL phash drop out. It compares every pair: quadratic.
"""

_BLOCK_ROWS = 512
"""Rows of the pairwise distance matrix computed at once in near_duplicate_groups."""


def pairs_sql(max_distance: int = 6) -> str:
    """PAIRS_SQL with max_distance filled in (an int from 0 to 64, never text)."""
    if isinstance(max_distance, bool) or not isinstance(max_distance, int):
        raise TypeError(f"max_distance must be an int, got {type(max_distance).__name__}")
    if not 0 <= max_distance <= 64:
        raise ValueError(f"max_distance must be 0 to 64, got {max_distance}")
    return PAIRS_SQL.format(max_distance=max_distance)


def _check_hex(hex_text: str) -> int:
    """The unsigned value of a 16-hex-digit hash; ValueError for anything else."""
    # A regex, because int(x, 16) also takes "0x", "_", signs and spaces.
    if not isinstance(hex_text, str) or not _HEX_RE.fullmatch(hex_text):
        raise ValueError(f"expected {HEX_DIGITS} hex digits, got {hex_text!r}")
    return int(hex_text, 16)


def hash_to_int(hex_text: str) -> int:
    """A 16-hex-digit hash as a signed 64-bit int (fits DuckDB BIGINT).

    The mapping keeps the 64 bits and reads them as two's complement: values below
    0x8000000000000000 are unchanged, the rest become value - 2**64 (negative). So
    ``bit_count(xor(a, b))`` on the BIGINTs equals the Hamming distance of the hashes,
    and ``int_to_hash`` gives the hex back.
    """
    value = _check_hex(hex_text)
    return value - (1 << 64) if value >= 1 << 63 else value


def int_to_hash(value: int) -> str:
    """Inverse of hash_to_int: a signed 64-bit int back to 16 lowercase hex digits."""
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError(f"not a signed 64-bit int: {value}")
    return format(value & ((1 << 64) - 1), f"0{HEX_DIGITS}x")


def hamming(a: str, b: str) -> int:
    """Number of bits in which two 16-hex-digit hashes differ (0 to 64)."""
    return (_check_hex(a) ^ _check_hex(b)).bit_count()


def phash_hex(image: Image.Image) -> str:
    """imagehash's 8x8 pHash of one image, as 16 hex digits; ValueError if it has no pixels."""
    if image.width < 1 or image.height < 1:
        # PIL "resizes" an empty image to black, which would hash to 0 without complaint.
        raise ValueError(f"image has no pixels ({image.width}x{image.height})")
    return str(imagehash.phash(image, hash_size=8))


def _root(parent: dict[int, int], item: int) -> int:
    """Union-find root of item, halving the path on the way (keeps trees shallow)."""
    while parent[item] != item:
        parent[item] = parent[parent[item]]
        item = parent[item]
    return item


def _union(parent: dict[int, int], a: int, b: int) -> None:
    """Join the sets of a and b; the smaller root wins, so a root is its set's minimum."""
    root_a, root_b = _root(parent, a), _root(parent, b)
    if root_a != root_b:
        parent[max(root_a, root_b)] = min(root_a, root_b)


def close_pairs(values: np.ndarray, max_distance: int) -> Iterator[tuple[int, int]]:
    """Yield index pairs (i, j), i < j, whose uint64 hashes differ in <= max_distance bits.

    Vectorised a block of rows at a time, so memory stays at _BLOCK_ROWS x n.
    """
    for start in range(0, len(values), _BLOCK_ROWS):
        block = values[start : start + _BLOCK_ROWS, None]
        distances = np.bitwise_count(block ^ values[None, :])
        rows, cols = np.nonzero(distances <= max_distance)
        rows += start
        keep = rows < cols
        yield from zip(rows[keep].tolist(), cols[keep].tolist(), strict=True)


def near_duplicate_groups(hashes: dict[int, str], max_distance: int = 6) -> dict[int, int]:
    """Image id -> group id, where a group is a connected component of near duplicates.

    Two images are linked when their hashes differ in at most max_distance bits; links
    chain (A~B and B~C put A, B, C in one group even if A and C are far apart). The
    group id is the smallest image id in the group; an image with no near duplicate
    maps to itself. Compares every pair (quadratic), in numpy.
    """
    ids = np.array(list(hashes), dtype=np.int64)
    values = np.array([_check_hex(text) for text in hashes.values()], dtype=np.uint64)
    parent = {int(image_id): int(image_id) for image_id in ids}
    for i, j in close_pairs(values, max_distance):
        _union(parent, int(ids[i]), int(ids[j]))
    return {image_id: _root(parent, image_id) for image_id in parent}


class PerceptualHash:
    """pHash of each image: ``text`` is 16 hex digits, ``score`` None, no components.

    An empty (0-pixel) or failing image gets ``text`` None and ``error``; no exception is
    raised for it. Tiny and uniform images do hash: a uniform image to 8000000000000000
    (only the DC coefficient is above the median), a black one to 0000000000000000.
    """

    scorer_id = "phash"
    version = f"imagehash {imagehash.__version__} phash 8x8"
    higher_is = "n/a (a hash)"

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
