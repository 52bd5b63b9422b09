"""The queue simulation's protocol on planted data (no warehouse): the test set is never
rated or trained on, both arms start from the same ratings, the queue rates what its
rule ranks first, a run repeats exactly, and the ratings-saved arithmetic. The
warehouse path (`neurostock ratings simulate`, rpt_queue_simulation, the Ratings page,
the rule equal to rpt_rating_queue's) is tested in tests/test_rate.py."""

from __future__ import annotations

import numpy as np
import pytest

from neurostock.core.errors import NeurostockError
from neurostock.learn.queue_simulation import (
    QueueRule,
    Rated,
    boundary,
    priority,
    rating_learner,
    ratings_saved,
    simulate,
    simulation_lines,
    summarise,
)

QUIET = dict(progress=lambda *_: None)


def _planted(n: int = 300, seed: int = 3) -> tuple[Rated, np.ndarray]:
    """Ratings 1-4 that the first feature follows; prompt groups of two images; half the
    images in cluster 'a', a third with experiment model 1."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n)
    rating = np.clip(np.round(2.5 + 1.2 * quality + rng.normal(scale=0.6, size=n)), 1, 4)
    x = np.column_stack([quality + rng.normal(scale=0.4, size=n), rng.normal(size=n)])
    cluster = np.array(["a" if i % 2 else None for i in range(n)], dtype=object)
    experiment = np.array([1 if i % 3 == 0 else None for i in range(n)], dtype=object)
    prefix = np.array([f"{i % 4}" for i in range(n)], dtype=object)
    rated = Rated(image_ids=np.arange(n), rating=rating, sellable=rating >= 3,
                  unusable=np.zeros(n, dtype=bool),
                  groups=np.array([f"g{i // 2}" for i in range(n)], dtype=object),
                  cluster=cluster, experiment=experiment, prefix=prefix,
                  disagreement=rng.random(n))
    return rated, x


class Recording:
    """A ridge learner that records the rows of every training."""

    def __init__(self, rated: Rated, x: np.ndarray):
        self.fit = rating_learner("ridge", x, rated.rating, rated.groups,
                                  ["score:a", "score:b"], seed=1)
        self.calls: list[np.ndarray] = []

    def __call__(self, rows: np.ndarray):
        self.calls.append(np.array(rows))
        return self.fit(rows)


def test_the_test_set_is_never_rated_and_both_arms_start_alike():
    rated, x = _planted()
    learner = Recording(rated, x)
    points = simulate(rated, learner, QueueRule(), seeds=1, batch=40, **QUIET)
    queue = [p for p in points if p["arm"] == "queue"]
    random = [p for p in points if p["arm"] == "random"]
    n_test = points[0]["n_test"]
    pool = len(rated) - n_test
    # Rounds: the start (10 % of the pool), then batches of 40 until the pool is rated.
    assert [p["n_rated"] for p in queue] == [p["n_rated"] for p in random]
    assert queue[0]["n_rated"] == round(0.1 * pool) and queue[-1]["n_rated"] == pool
    assert all(b["n_rated"] - a["n_rated"] == min(40, pool - a["n_rated"])
               for a, b in zip(queue, queue[1:], strict=False))
    calls = learner.calls
    assert len(calls) == len(points)
    first_random = len(queue)
    assert np.array_equal(calls[0], calls[first_random])  # the same start
    trained = np.unique(np.concatenate(calls))
    assert len(trained) == pool  # every pool image, no test image
    # Test rows are whole prompt groups, and no training ever held one of them.
    groups_trained = set(rated.groups[trained])
    test_groups = set(rated.groups) - groups_trained
    assert sum(np.isin(rated.groups, list(test_groups))) == n_test
    # The two arms choose differently after the start.
    assert not np.array_equal(calls[1], calls[first_random + 1])
    assert all(0 <= p["auc_sellable"] <= 1 for p in points)


def test_the_queue_rates_first_what_its_rule_ranks_first():
    rated, x = _planted()
    rule = QueueRule(uncertainty=1.0, disagreement=0.0, coverage=0.0, threshold=1.5)
    prediction = np.linspace(0.0, 3.0, len(rated))  # known: nearest 1.5 in the middle

    calls: list[np.ndarray] = []

    def fixed(rows):
        calls.append(np.array(rows))
        return lambda these: prediction[these]

    simulate(rated, fixed, rule, seeds=1, batch=30, arms=("queue",), **QUIET)
    start, after = set(calls[0]), set(calls[1])
    chosen = np.array(sorted(after - start))
    assert len(chosen) == 30
    # The 30 unrated pool images whose prediction is nearest the model's boundary: the
    # score that splits the rated start as its sellable share.
    rows = np.array(sorted(start))
    share = rated.sellable[rows].mean()
    assert 0.2 < share < 0.8
    line = np.quantile(prediction[rows], 1 - share)
    assert abs(line - 1.5) > 0.05  # not the fallback
    trained = set(np.concatenate(calls))
    unrated_pool = np.array(sorted(trained - start))
    nearest = unrated_pool[np.argsort(np.abs(prediction[unrated_pool] - line),
                                      kind="stable")[:30]]
    assert set(chosen) == set(nearest)


def test_the_priority_follows_the_queues_formula():
    rated, _ = _planted(n=8)
    rated.sellable = np.array([True, False, False, False, False, False, False, False])
    is_rated = np.array([True, True, False, False, False, False, True, False])
    prediction = np.array([3.0, 0.0, 1.5, 3.0, 0.75, np.nan, 1.5, 1.5])
    rule = QueueRule(uncertainty=0.5, disagreement=0.25, coverage=0.25, threshold=1.5)
    # The boundary: a third of the rated images is sellable, so the 2/3 quantile of their
    # scores 0, 1.5, 3 (linear interpolation): 1.5 + (4/3 - 1) x 1.5 = 2.0.
    assert boundary(rule, prediction, rated.sellable, is_rated) == pytest.approx(2.0)
    value = priority(rule, prediction, rated, is_rated)
    # Image 3: uncertainty 1 - 1/1.5; cluster 'a' (rated: image 1 → 1), experiment 1
    # (rated: 0, 6 → 2), prefix '3' (rated: none).
    coverage = (1 / np.sqrt(2) + 1 / np.sqrt(3) + 1) / 3
    assert value[3] == pytest.approx(0.5 / 3 + 0.25 * rated.disagreement[3] + 0.25 * coverage)
    # Image 2: uncertainty 1 - 0.5/1.5; no cluster; no experiment model (counts none);
    # prefix '2' (rated: image 6 → 1).
    assert value[2] == pytest.approx(0.5 * 2 / 3 + 0.25 * rated.disagreement[2]
                                     + 0.25 * (1 + 1 / np.sqrt(2)) / 2)
    # Image 4: uncertainty 1 - 1.25/1.5; no cluster, no experiment, prefix '0' (1).
    assert value[4] == pytest.approx(0.5 / 6 + 0.25 * rated.disagreement[4]
                                     + 0.25 * (1 + 1 / np.sqrt(2)) / 2)
    # Image 5, without a prediction: uncertainty 0; cluster 'a' (1), no experiment,
    # prefix '1' (1).
    assert value[5] == pytest.approx(0.25 * rated.disagreement[5]
                                     + 0.25 * (2 / np.sqrt(2) + 1) / 3)
    # Undefined boundaries fall back to the rule's threshold: every rated image
    # sellable, none, or none rated with a score.
    for sellable in (np.ones(8, bool), np.zeros(8, bool)):
        assert boundary(rule, prediction, sellable, is_rated) == 1.5
    assert boundary(rule, np.full(8, np.nan), rated.sellable, is_rated) == 1.5


def test_a_run_repeats_exactly():
    rated, x = _planted(n=200)
    learner = rating_learner("ridge", x, rated.rating, rated.groups, ["score:a", "score:b"], 1)
    one = simulate(rated, learner, QueueRule(), seeds=2, batch=50, **QUIET)
    two = simulate(rated, learner, QueueRule(), seeds=2, batch=50, **QUIET)
    assert one == two
    assert {p["seed"] for p in one} == {0, 1}


def test_ratings_saved_and_the_table():
    def point(arm, seed, round_, n, value):
        return {"arm": arm, "seed": seed, "round": round_, "n_rated": n, "n_test": 10,
                "auc_sellable": value, "spearman": value / 2}

    points = []
    for seed in (0, 1):
        for round_, (q, r) in enumerate([(0.60, 0.60), (0.70, 0.62), (0.80, 0.70),
                                         (0.80, 0.78), (0.80, 0.80)]):
            points += [point("queue", seed, round_, 100 + 50 * round_, q),
                       point("random", seed, round_, 100 + 50 * round_, r)]
    saved = ratings_saved(points)
    assert saved["random_final"] == pytest.approx(0.80) and saved["random_final_n"] == 300
    assert saved["queue_reaches_n"] == 200 and saved["share_of_ratings"] == pytest.approx(2 / 3)
    assert saved["random_reaches_n"] == 300
    rows = summarise(points)
    assert [r["n_seeds"] for r in rows] == [2] * 10
    lines = simulation_lines(points)
    assert any("the queue reaches it at 200 (67% of the ratings)" in line for line in lines)
    never = [p | {"auc_sellable": 0.5} if p["arm"] == "queue" else p for p in points]
    assert ratings_saved(never)["queue_reaches_n"] is None
    assert any("never reaches it" in line for line in simulation_lines(never))


def test_too_few_images_or_a_bad_setting_is_one_clear_error():
    rated, x = _planted(n=60)
    learner = rating_learner("ridge", x, rated.rating, rated.groups, ["score:a", "score:b"], 1)
    with pytest.raises(NeurostockError, match="60 rated images: too few"):
        simulate(rated, learner, QueueRule(), **QUIET)
    rated, x = _planted(n=120)
    with pytest.raises(NeurostockError, match="batch and seeds must be at least 1"):
        simulate(rated, learner, QueueRule(), batch=0, **QUIET)
    with pytest.raises(NeurostockError, match="unknown arm"):
        simulate(rated, learner, QueueRule(), arms=("oracle",), **QUIET)
