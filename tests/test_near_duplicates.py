"""Near-duplicate pairs by multi-index hashing (neurostock/analysis/hamming.py) held to
comparing every pair: 50,000 hashes with planted near copies at every distance around
the limit, flipped copies (a hash near another's mirror) and chains; whole and
incremental searches."""

from __future__ import annotations

import numpy as np
import pytest

from neurostock.analysis.hamming import Index, brute_force_pairs, near_pairs, substrings

N = 50_000
MAX_DISTANCE = 6


def _flip_bits(rng, value: np.uint64, n_bits: int) -> np.uint64:
    mask = 0
    for bit in rng.choice(64, n_bits, replace=False):
        mask |= 1 << int(bit)
    return value ^ np.uint64(mask)


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(2026)
    hashes = rng.integers(0, 2**64 - 1, N, dtype=np.uint64)
    mirrors = rng.integers(0, 2**64 - 1, N, dtype=np.uint64)
    mirrors[rng.random(N) < 0.1] = 0  # hashed before mirrors were: unknown
    planted = []
    # Disjoint pairs, so no plant overwrites another.
    chosen = rng.choice(N, 1200, replace=False).reshape(600, 2)
    for k, (i, j) in enumerate(chosen.tolist()):
        bits = k % 10  # 0-9 bits apart: inside and outside the limit
        if k % 4 == 0:
            mirrors[j] = _flip_bits(rng, hashes[i], bits)  # j is i flipped
        else:
            hashes[j] = _flip_bits(rng, hashes[i], bits)
        planted.append((min(i, j), max(i, j), bits, k % 4 == 0))
    ids = np.arange(N, dtype=np.int64)
    return ids, hashes, mirrors, planted


@pytest.fixture(scope="module")
def reference(planted):
    ids, hashes, mirrors, _ = planted
    return brute_force_pairs(ids, hashes, mirrors, MAX_DISTANCE)


def _as_set(result) -> set[tuple[int, int, int, bool]]:
    low, high, distance, mirrored = result
    return set(zip(low.tolist(), high.tolist(), distance.tolist(), mirrored.tolist(),
                   strict=True))


def test_multi_index_hashing_finds_exactly_the_brute_force_pairs(planted, reference):
    ids, hashes, mirrors, plants = planted
    index = Index(ids, np.concatenate([hashes, mirrors]), MAX_DISTANCE)
    assert not index.brute and index.radius == MAX_DISTANCE // len(index.parts)
    found = _as_set(near_pairs(ids, hashes, mirrors, MAX_DISTANCE))
    assert found == reference
    pairs = {(a, b) for a, b, _, _ in found}
    # Every planted pair within the limit is there (its distance at most the planted
    # bits: a random hash may sit closer still); flipped ones marked mirrored.
    for a, b, bits, flipped in plants:
        if bits <= MAX_DISTANCE:
            assert (a, b) in pairs, (a, b, bits, flipped)
    assert any(m for *_, m in found) and any(not m for *_, m in found)
    # Random 64-bit hashes are never this close: nothing but what was planted.
    assert len(found) <= len(plants)


def test_an_incremental_search_finds_every_pair_of_the_new_images(planted, reference):
    ids, hashes, mirrors, _ = planted
    new = ids[-2_000:]
    found = _as_set(near_pairs(ids, hashes, mirrors, MAX_DISTANCE, changed=new))
    touched = set(new.tolist())
    assert found == {p for p in reference if p[0] in touched or p[1] in touched}
    assert found  # some planted pairs reach the last 2,000


def test_substrings_cover_the_64_bits_and_small_indexes_compare_all_pairs():
    for n in (10, 5_000, 100_000, 2_100_000, 4_200_000):
        for distance in (0, 3, 6, 12, 64):
            parts = substrings(n, distance)
            assert sum(width for _, width in parts) == 64
            assert [low for low, _ in parts] == list(np.cumsum([0] + [w for _, w in parts])[:-1])
            assert len(parts) <= distance + 1
    rng = np.random.default_rng(0)
    small = rng.integers(0, 2**64 - 1, 300, dtype=np.uint64)
    assert Index(np.arange(300), small, 6).brute
    # A distance as wide as the hash: every pair, by comparing them all.
    found = _as_set(near_pairs(np.arange(300), small, None, 64))
    assert len(found) == 300 * 299 // 2


@pytest.mark.parametrize("distance", [0, 1, 2, 3])
def test_small_distances_search_wide_substrings_exactly(planted, distance):
    # 0 and 1 make substrings too wide for a table (searched by binary search).
    ids, hashes, mirrors, _ = planted
    ids, hashes, mirrors = ids[:20_000], hashes[:20_000], mirrors[:20_000]
    assert _as_set(near_pairs(ids, hashes, mirrors, distance)) == \
        brute_force_pairs(ids, hashes, mirrors, distance)
