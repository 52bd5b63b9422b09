"""Upload keywords expanded from the warehouse's own vocabulary: what the prompts nearest
to a prompt say, where its own words are too few.

A prompt of six content words gives six keywords; Adobe advises 15-35, ranked by
importance. The words a buyer would search for are mostly the ones the team's *other*
prompts of the same motif use: "a lighthouse on a cliff" sits beside prompts that say
sea, coast, ocean, rock, wave. So a prompt's keywords are

1. its own keywords (text.PromptDescriber: the subject first), then
2. words of its nearest prompts by embedding cosine (one real-weight text embedder's
   prompt vectors; at most NEIGHBOURS of them, each at cosine >= MIN_COSINE), a word
   scored by the sum of the cosines of the neighbours that use it and kept only when at
   least MIN_SUPPORT of them do (one neighbour's stray word is not the motif's), highest
   score first,

until `target` keywords (never more than `max_keywords`). Words of how a picture looks
or was made (OWN_ONLY: colours and light, medium and style such as watercolor, pencil,
isometric, baroque, camera and composition jargon such as wide angle, bokeh, rule of
thirds) come only from the prompt itself: prompts often share their style modifiers
while their subjects differ, a neighbour's medium or colour is a guess about this
picture, and a wrong keyword misleads a buyer. The vocabulary is the
describer's keywords of those prompts, so the same rules hold for every added word: no
prohibited name, no filler, singular forms.

The neighbours are searched among at most REFERENCE_PROMPTS prompts, exactly
(compute.vector_index: brute force at this size): the cost grows with the gate's prompts
times a bounded reference, never with every prompt against every other. The reference
(choose_reference) is every rated prompt, then the unrated prompts whose hash falls in a
fraction 1/2^s of the hash range, s the smallest that keeps them within the rest of the
bound: the same choice on every build, and one that only grows as prompts come, until
their number doubles and s steps up. So a rebuild fills again only what a new reference
prompt can change (Expansion.floor, needs_refill): a fill of NEIGHBOURS neighbours
changes when a new reference prompt is nearer than its farthest one, a fill of fewer
when one reaches MIN_COSINE.

The team's keyword list (seed `keywords`) is not used: it is a list of zero-shot probes
(text, horrible, flawed logic, adult content), words no stock image should carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NEIGHBOURS = 30
MIN_COSINE = 0.5
MIN_SUPPORT = 2
REFERENCE_PROMPTS = 20_000
OWN_ONLY = frozenset('''
white black blue green red yellow orange purple violet pink brown grey gray golden gold
silver beige turquoise teal cyan magenta crimson dark bright light colorful colourful
color colour monochrome pastel vibrant vivid neon
watercolor watercolour painting painted paint drawing drawn draw sketch pencil charcoal
ink oil acrylic gouache crayon illustration vector cartoon anime manga comic render
rendered isometric lowpoly low-poly pixel photorealistic realistic hyperrealistic
hyperrealism surreal surrealism impressionism impressionist expressionism cubism baroque
renaissance rococo noir ukiyo-e art-deco minimalist minimalism flat
angle wide lens bokeh cinematic volumetric lighting lit shadow film grain composition
symmetrical symmetry rule third closeup close-up macro focus sharp soft smooth detailed
intricate dramatic moody epic elegant studio
'''.split())


@dataclass(frozen=True)
class Expansion:
    keywords: list[str]
    n_own: int          # how many of them are the prompt's own
    n_neighbours: int   # prompts near enough to lend words
    # The cosine a reference prompt added later must reach to change this fill (inf:
    # none can: the prompt's own words are enough, or its vector is unusable).
    floor: float = float("inf")


def choose_reference(keys: Sequence[str], rated: Sequence[bool],
                     limit: int = REFERENCE_PROMPTS) -> list[int]:
    """Indices of the reference prompts among `keys` (their text; `rated`: has a
    rating): the rated ones (by hash, at most `limit`), then the unrated ones whose
    64-bit hash is below 2^(64-s), s the smallest with (unrated prompts) / 2^s within
    the rest of `limit` (a hash range, not a rank: a new prompt joins or not by its own
    hash, and no prompt leaves while s stays); cut to `limit` in hash order should the
    hashes bunch."""
    import hashlib

    hashes = [int.from_bytes(hashlib.sha256(str(k).encode("utf-8")).digest()[:8], "big")
              for k in keys]
    rated_rows = sorted((i for i, r in enumerate(rated) if r), key=lambda i: hashes[i])
    chosen = rated_rows[:limit]
    budget = limit - len(chosen)
    unrated = [i for i, r in enumerate(rated) if not r]
    if budget <= 0 or not unrated:
        return chosen
    shift = 0
    while len(unrated) > budget << shift:
        shift += 1
    below = 1 << (64 - shift)
    picked = sorted((i for i in unrated if hashes[i] < below), key=lambda i: hashes[i])
    return chosen + picked[:budget]


def needs_refill(vectors: np.ndarray, floors: np.ndarray, added: np.ndarray,
                 margin: float = 1e-5, batch: int = 4096) -> np.ndarray:
    """Which of the prompts (`vectors`, their fills' `floors`) a fill would change now
    that the reference prompts `added` joined: one of them is at least as near as the
    floor (less `margin`: the index and this product round differently)."""
    out = np.zeros(len(vectors), dtype=bool)
    finite = np.isfinite(floors)
    if not len(added) or not finite.any():
        return out
    unit = _unit(added)
    rows = np.flatnonzero(finite)
    queries = np.asarray(vectors, dtype=np.float32)[rows]
    norms = np.linalg.norm(queries, axis=1, keepdims=True)
    queries = queries / np.where(norms == 0, 1, norms)
    for start in range(0, len(rows), batch):
        nearest = (queries[start:start + batch] @ unit.T).max(axis=1)
        part = rows[start:start + batch]
        out[part] = nearest >= floors[part] - margin
    return out


def _unit(vectors: np.ndarray) -> np.ndarray | None:
    """Rows scaled to length 1; None when a row is zero or not finite."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.isfinite(vectors).all() or (norms == 0).any():
        return None
    return vectors / norms


class KeywordExpander:
    """Built once from the reference prompts' vectors and keywords, then
    `expand_all(queries)` for the gate's prompts."""

    def __init__(self, vectors: np.ndarray, keywords: Sequence[list[str]],
                 neighbours: int = NEIGHBOURS, min_cosine: float = MIN_COSINE,
                 min_support: int = MIN_SUPPORT):
        from neurostock.compute.vector_index import VectorIndex

        if len(vectors) != len(keywords):
            raise ValueError("one keyword list per reference vector")
        unit = _unit(vectors)
        if unit is None:
            raise ValueError("reference vectors must be finite and non-zero")
        self._keywords = [list(k) for k in keywords]
        # float32: the fill scores words by the neighbours' cosines, and a fill's floor
        # (Expansion.floor) is compared with exact products later.
        self._index = VectorIndex(unit.shape[1], dtype="f32")
        self._index.add(np.arange(len(unit), dtype=np.int64), unit)
        self.neighbours = min(neighbours, len(unit))
        self._wanted = neighbours
        self.min_cosine = min_cosine
        self.min_support = min_support

    def expand_all(self, own: Sequence[list[str]], vectors: np.ndarray,
                   self_rows: Sequence[int | None], target: int,
                   max_keywords: int) -> list[Expansion]:
        """For query i: its own keywords `own[i]` filled up to `target` from the
        neighbours of `vectors[i]` (row `self_rows[i]` of the reference, the same prompt,
        is not its own neighbour). A query whose vector is unusable keeps its own."""
        target = min(target, max_keywords)
        results: list[Expansion | None] = [None] * len(own)
        wanted = [i for i, words in enumerate(own) if len(words) < target]
        for i, words in enumerate(own):
            if len(words) >= target:
                results[i] = Expansion(list(words[:max_keywords]), min(len(words),
                                                                       max_keywords), 0)
            elif not self.neighbours:
                results[i] = Expansion(list(words), len(words), 0, self.min_cosine)
        if wanted and self.neighbours:
            unit = _unit(np.asarray(vectors)[wanted]) if len(vectors) else None
            if unit is None:  # one bad vector: take them one by one
                for i in wanted:
                    results[i] = self._one(own[i], vectors[i], self_rows[i], target)
            else:
                keys, sims = self._index.search(unit, self.neighbours + 1)
                for row, i in enumerate(wanted):
                    results[i] = self._fill(own[i], keys[row], sims[row], self_rows[i],
                                            target)
        return results  # type: ignore[return-value]

    def _one(self, own: list[str], vector, self_row, target: int) -> Expansion:
        unit = _unit(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if unit is None:
            return Expansion(list(own), len(own), 0)
        keys, sims = self._index.search(unit, self.neighbours + 1)
        return self._fill(own, keys[0], sims[0], self_row, target)

    def _fill(self, own: list[str], keys: np.ndarray, sims: np.ndarray, self_row,
              target: int) -> Expansion:
        scores: dict[str, float] = {}
        support: dict[str, int] = {}
        used = 0
        farthest = float("inf")
        for key, sim in zip(keys.tolist(), sims.tolist(), strict=True):
            if key < 0 or key == self_row or sim < self.min_cosine or used == self.neighbours:
                continue
            used += 1
            farthest = min(farthest, sim)
            for word in self._keywords[key]:
                scores[word] = scores.get(word, 0.0) + sim
                support[word] = support.get(word, 0) + 1
        have = set(own)
        ranked = sorted((w for w in scores if w not in have and w not in OWN_ONLY
                         and support[w] >= self.min_support),
                        key=lambda w: (-scores[w], w))
        words = list(own) + ranked[: max(0, target - len(own))]
        # A later reference prompt changes the neighbours if nearer than the farthest
        # of a full set, or if near enough at all where the set is not full.
        floor = farthest if used == self._wanted else self.min_cosine
        return Expansion(words, len(own), used, floor)
