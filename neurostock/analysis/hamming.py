"""Every pair of 64-bit perceptual hashes within a Hamming distance, without comparing
every hash with every other: multi-index hashing (M. Norouzi, A. Punjani, D. J. Fleet,
"Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012).

Split the 64 bits into m substrings. If two hashes differ in at most D bits, then in
at least one substring they differ in at most floor(D / m) bits (pigeonhole). So: sort
the index's hashes by each substring; for each query and substring, look up every
substring value within floor(D / m) bits of the query's (the probes) by binary search;
every hash found is a candidate, verified on all 64 bits. m is chosen from the index's
size so that a substring has about log2(n) bits: buckets hold about one hash each
(random hashes), and the probes per query stay a few hundred. Exact: the same pairs as
comparing all of them (tests/test_near_duplicates.py checks it on 50,000 hashes with
planted pairs). Where the probes would outnumber the index (a small index, or a large
D), the comparison of all pairs is cheaper, and is what runs.

Flips: Adobe counts a mirrored image as a copy. Each image may carry the hash of its
mirror image too; a pair is near when min(d(h_a, h_b), d(h_a, m_b), d(m_a, h_b)) <= D
(`mirrored` says the minimum needs a mirror).

Incremental (`near_duplicate_pairs`, a dbt Python model): the pairs of images whose
hash is new or changed since the last build are found against every hash (queries =
the changed ones, index = all); the pairs between unchanged images are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import comb

import numpy as np

BITS = 64
# Queries per vectorised step: bounds memory at about chunk x probes x 8 bytes x 4.
CHUNK = 4096
# Brute force when the index is this small (its all-pairs cost is a few seconds at most).
BRUTE_FORCE_BELOW = 6000


# Substrings up to this wide are looked up in a table over all their values (2^24
# entries: 128 MB); wider ones (a distance of 0 or 1 makes one or two substrings) by
# binary search in the sorted keys.
DIRECT_BITS = 24


def _substring(hashes: np.ndarray, low: int, width: int) -> np.ndarray:
    mask = np.uint64((1 << width) - 1) if width < BITS else np.uint64(2**64 - 1)
    return (hashes >> np.uint64(low)) & mask


def popcount64(values: np.ndarray) -> np.ndarray:
    return np.bitwise_count(values.astype(np.uint64, copy=False))


def _split(m: int) -> list[tuple[int, int]]:
    base, extra = divmod(BITS, m)
    parts, low = [], 0
    for i in range(m):
        size = base + (1 if i < extra else 0)
        parts.append((low, size))
        low += size
    return parts


def substrings(n_index: int, max_distance: int) -> list[tuple[int, int]]:
    """The (low bit, width) of each substring for an index of `n_index` hashes: the
    number m (at most max_distance + 1) that makes the least work per query, counted
    as probes plus the candidates they are expected to find among uniform hashes:
    sum over substrings of probes x (1 + n / 2^width)."""
    def cost(m: int) -> float:
        radius = max_distance // m
        return sum(n_probes(w, radius) * (1 + n_index / 2.0 ** w) for _, w in _split(m))

    best = min(range(1, min(max_distance + 1, BITS) + 1), key=cost)
    return _split(best)


def probe_masks(width: int, radius: int) -> np.ndarray:
    """Every `width`-bit value with at most `radius` bits set (XOR masks of the probes)."""
    masks = [0]
    for r in range(1, radius + 1):
        for bits in combinations(range(width), r):
            value = 0
            for b in bits:
                value |= 1 << b
            masks.append(value)
    return np.array(masks, dtype=np.uint64)


def n_probes(width: int, radius: int) -> int:
    return sum(comb(width, r) for r in range(radius + 1))


class Index:
    """The hashes to search, sorted once per substring."""

    def __init__(self, ids: np.ndarray, hashes: np.ndarray, max_distance: int):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.hashes = np.asarray(hashes, dtype=np.uint64)
        self.max_distance = max_distance
        self.parts = substrings(len(self.hashes), max_distance)
        self.radius = max_distance // len(self.parts)
        probes = sum(n_probes(w, self.radius) for _, w in self.parts)
        # Brute force: a small index, or more probes than hashes to compare.
        self.brute = len(self.hashes) < BRUTE_FORCE_BELOW or probes >= len(self.hashes)
        # Per substring: the index rows ordered by the substring's value, where each
        # value's rows start (a table over all 2^width values: direct addressing, no
        # binary search), and the probes' XOR masks.
        self.tables: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if not self.brute:
            for low, width in self.parts:
                keys = _substring(self.hashes, low, width)
                order = np.argsort(keys, kind="stable")
                if width <= DIRECT_BITS:
                    starts = np.zeros((1 << width) + 1, dtype=np.int64)
                    np.cumsum(np.bincount(keys.astype(np.int64), minlength=1 << width),
                              out=starts[1:])
                else:  # too wide for a table: the sorted keys, searched
                    starts = keys[order]
                self.tables.append((order, starts, probe_masks(width, self.radius)))

    def search(self, query_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, index row, distance) of every index hash within max_distance of a
        query hash, each once."""
        query_hashes = np.asarray(query_hashes, dtype=np.uint64)
        found_q, found_k, found_d = [], [], []
        for start in range(0, len(query_hashes), CHUNK):
            chunk = query_hashes[start:start + CHUNK]
            q, k = self._brute(chunk) if self.brute else self._candidates(chunk)
            d = popcount64(chunk[q] ^ self.hashes[k])
            keep = d <= self.max_distance
            q, k, d = q[keep] + start, k[keep], d[keep]
            if not self.brute and len(q):
                # A pair found through several substrings or probes: once.
                pair = np.unique(np.stack([q, k], axis=1), axis=0, return_index=True)[1]
                q, k, d = q[pair], k[pair], d[pair]
            found_q.append(q)
            found_k.append(k)
            found_d.append(d)
        if not found_q:
            empty = np.array([], dtype=np.int64)
            return empty, empty, empty
        return (np.concatenate(found_q), np.concatenate(found_k),
                np.concatenate(found_d).astype(np.int64))

    def _brute(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = [], []
        step = max(1, 2_000_000 // max(len(chunk), 1))
        for low in range(0, len(self.hashes), step):
            block = self.hashes[low:low + step]
            d = popcount64(chunk[:, None] ^ block[None, :])
            q, k = np.nonzero(d <= self.max_distance)
            rows.append(q)
            cols.append(k + low)
        return np.concatenate(rows), np.concatenate(cols)

    def _candidates(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = [], []
        for (low, width), (order, starts, masks) in zip(self.parts, self.tables, strict=True):
            probes = (_substring(chunk, low, width)[:, None] ^ masks[None, :]).ravel()
            if width <= DIRECT_BITS:
                probes = probes.astype(np.int64)
                left = starts[probes]
                counts = starts[probes + 1] - left
            else:
                left = np.searchsorted(starts, probes, side="left")
                counts = np.searchsorted(starts, probes, side="right") - left
            hit = np.nonzero(counts)[0]
            if not len(hit):
                continue
            query_row = hit // len(masks)
            left, counts = left[hit], counts[hit]
            total = int(counts.sum())
            offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            rows.append(np.repeat(query_row, counts))
            cols.append(order[np.repeat(left, counts) + offsets])
        if not rows:
            empty = np.array([], dtype=np.int64)
            return empty, empty
        return np.concatenate(rows), np.concatenate(cols)


def near_pairs(ids: np.ndarray, hashes: np.ndarray, mirrors: np.ndarray | None,
               max_distance: int, changed: np.ndarray | None = None,
               progress: Callable[[str], None] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(image_id_a < image_id_b, distance, mirrored) of every near pair among `ids`
    whose one side at least is in `changed` (None: all). `hashes` uint64; `mirrors`
    uint64 with 0 where unknown, or None. Ids must be unique."""
    ids = np.asarray(ids, dtype=np.int64)
    hashes = np.asarray(hashes, dtype=np.uint64)
    has_mirror = (np.zeros(len(ids), dtype=bool) if mirrors is None
                  else np.asarray(mirrors, dtype=np.uint64) != 0)
    mirrors = (np.zeros(len(ids), dtype=np.uint64) if mirrors is None
               else np.asarray(mirrors, dtype=np.uint64))
    # The index: every hash, and every known mirror hash.
    index_rows = np.concatenate([np.arange(len(ids)), np.nonzero(has_mirror)[0]])
    index_mirror = np.concatenate([np.zeros(len(ids), bool), np.ones(has_mirror.sum(), bool)])
    index = Index(index_rows, np.concatenate([hashes, mirrors[has_mirror]]), max_distance)
    # The queries: the changed images' hashes, and (incremental) their mirrors. On a
    # whole build the mirror queries would find nothing new: d(m_a, h_b) is found as
    # b's query against a's mirror in the index.
    query = np.arange(len(ids)) if changed is None else np.nonzero(np.isin(ids, changed))[0]
    mirrored_queries = query[has_mirror[query]] if changed is not None else query[:0]
    q_rows = np.concatenate([query, mirrored_queries])
    q_mirror = np.concatenate([np.zeros(len(query), bool),
                               np.ones(len(mirrored_queries), bool)])
    q_hashes = np.where(q_mirror, mirrors[q_rows], hashes[q_rows])
    if progress:
        kind = "all pairs" if index.brute else (
            f"multi-index hashing, {len(index.parts)} substrings, radius {index.radius}")
        progress(f"near-duplicate pairs: {len(q_rows):,} query hashes against "
                 f"{len(index.hashes):,} ({kind})")
    qi, ki, d = index.search(q_hashes)
    a_row, b_row = q_rows[qi], index.ids[ki]
    mirrored = q_mirror[qi] | index_mirror[ki]
    # Not a pair: an image with itself, or mirror against mirror (that is the direct pair).
    keep = (a_row != b_row) & ~(q_mirror[qi] & index_mirror[ki])
    a_id, b_id, d, mirrored = ids[a_row[keep]], ids[b_row[keep]], d[keep], mirrored[keep]
    low, high = np.minimum(a_id, b_id), np.maximum(a_id, b_id)
    if not len(low):
        empty = np.array([], dtype=np.int64)
        return empty, empty, empty, np.array([], dtype=bool)
    # Each pair once, at its smallest distance (direct before mirrored at a tie).
    order = np.lexsort((mirrored, d, high, low))
    low, high, d, mirrored = low[order], high[order], d[order], mirrored[order]
    first = np.ones(len(low), dtype=bool)
    first[1:] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
    return low[first], high[first], d[first], mirrored[first]


def brute_force_pairs(ids: np.ndarray, hashes: np.ndarray, mirrors: np.ndarray | None,
                      max_distance: int, block: int = 512) -> set[tuple[int, int, int, bool]]:
    """The same pairs by comparing every pair (the reference the tests hold MIH to):
    blocks of rows against every later row."""
    ids = np.asarray(ids, dtype=np.int64)
    hashes = np.asarray(hashes, dtype=np.uint64)
    mirrors = (np.zeros(len(ids), dtype=np.uint64) if mirrors is None
               else np.asarray(mirrors, dtype=np.uint64))
    known = mirrors != 0
    out = set()
    for start in range(0, len(ids), block):
        # Each pair once: this block's rows against themselves and every later row.
        rows = np.arange(start, min(start + block, len(ids)))
        h, m, k = hashes[rows, None], mirrors[rows, None], known[rows, None]
        rest, rest_mirrors, rest_known = hashes[start:], mirrors[start:], known[start:]
        direct = popcount64(h ^ rest[None, :])
        via_b = np.where(rest_known[None, :], popcount64(h ^ rest_mirrors[None, :]), BITS + 1)
        via_a = np.where(k, popcount64(m ^ rest[None, :]), BITS + 1)
        best = np.minimum(direct, np.minimum(via_b, via_a))
        r, c = np.nonzero(best <= max_distance)
        for i, j in zip(r.tolist(), c.tolist(), strict=True):
            if start + j <= rows[i]:
                continue  # itself, or a pair of this block seen from its other row
            a, b = int(ids[rows[i]]), int(ids[start + j])
            out.add((min(a, b), max(a, b), int(best[i, j]),
                     bool(best[i, j] < direct[i, j])))
    return out
