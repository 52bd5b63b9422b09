"""Each half of the sell decision against its rival (learn/rivals.py), on planted data: the
rivals are fitted on the same outer folds and never see a held-out image; the bootstrap's
weighted Spearman is Spearman's rho of the repeated rows; the comparison table holds
exactly what the out-of-fold predictions give, and a half that loses to its rival is
shown losing. The warehouse path (meta.learned_models, rpt_learned_halves, the Learned
page) is tested in tests/test_learned.py."""

from __future__ import annotations

import numpy as np
import pytest

from neurostock.learn.context import Context
from neurostock.learn.decision import DecisionCV, cross_validate_decision, rank_auc
from neurostock.learn.decision_metrics import decision_metrics
from neurostock.learn.rivals import logistic_usable, weighted_spearman
from neurostock.learn.search import spearman


def _planted(n: int = 300, seed: int = 4):
    """Ratings 1-4 that feature a follows, unusable (5) where feature b is high."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    rating = np.clip(np.round(2.5 + 1.1 * a + rng.normal(scale=0.6, size=n)), 1, 4)
    unusable = b + rng.normal(scale=0.5, size=n) > 0.9
    rating[unusable] = 5
    matrix = np.column_stack([a + rng.normal(scale=0.3, size=n), b, rng.normal(size=n)])
    none = np.full(n, None, dtype=object)
    context = Context(np.arange(n), np.array([f"p{i // 2}" for i in range(n)], dtype=object),
                      none, none, none, none)
    groups = np.array([f"g{i // 2}" for i in range(n)], dtype=object)
    return matrix, context, rating, unusable, groups


def test_weighted_spearman_is_spearman_of_the_repeated_rows():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, 80).astype(float)  # ties
    y = x + rng.normal(size=80)
    weights = rng.integers(0, 3, (4, 80)).astype(float)
    got = weighted_spearman(x, y, weights)
    for row, value in zip(weights, got, strict=True):
        repeated = np.repeat(np.arange(80), row.astype(int))
        assert value == pytest.approx(spearmanr(x[repeated], y[repeated]).statistic)
    assert weighted_spearman(x, y, np.ones((1, 80)))[0] == pytest.approx(spearman(x, y))


def test_the_logistic_rival_learns_usable_and_chooses_c_inside():
    matrix, _, _, unusable, groups = _planted()
    design = np.column_stack([matrix, np.ones(len(matrix))])  # intercept column last
    train, test = np.arange(200), np.arange(200, 300)
    inner = np.arange(200) % 3
    p, c = logistic_usable(design[train], ~unusable[train], inner, design[test])
    assert c in (0.01, 0.1, 1.0)
    assert ((p >= 0) & (p <= 1)).all()
    assert rank_auc(~unusable[test], p) > 0.8


def test_the_halves_face_their_rivals_on_the_same_folds():
    matrix, context, rating, unusable, groups = _planted()
    names = ["score:a", "score:b", "score:c"]
    cv = cross_validate_decision(matrix, context, names, rating, unusable, groups, (),
                                 folds=3, seed=2, progress=lambda *_: None)
    assert not np.isnan(cv.rival_usable).any() and not np.isnan(cv.rival_rating).any()
    assert all("rival_logistic_c" in f and "rival_ridge_params" in f for f in cv.folds)
    sellable = (rating >= 3) & (rating <= 4)
    metrics = decision_metrics(cv, sellable, rating, unusable, groups, seed=0,
                               replicates=200)
    halves = {h["comparison"]: h for h in metrics["halves"]}
    assert len(halves) == 4
    usable = ~unusable
    usable_half = halves["P(usable) vs a logistic regression"]
    assert usable_half["half"] == pytest.approx(rank_auc(usable, cv.p_usable))
    assert usable_half["rival"] == pytest.approx(rank_auc(usable, cv.rival_usable))
    rating_half = halves["E[rating | usable] vs the ridge quality model"]
    assert rating_half["half"] == pytest.approx(spearman(rating[usable] - 1,
                                                         cv.rating[usable]))
    assert rating_half["rival"] == pytest.approx(spearman(rating[usable] - 1,
                                                          cv.rival_rating[usable]))
    product = halves["the product vs P(usable) alone"]
    assert product["half"] == pytest.approx(metrics["auc_sellable"])
    assert product["rival"] == pytest.approx(rank_auc(sellable, cv.p_usable))
    for h in halves.values():
        assert h["difference"] == pytest.approx(h["half"] - h["rival"])
        assert h["ci_low"] <= h["difference"] <= h["ci_high"]
    # Planted: the usable part alone knows nothing of the rating, so the product ranks
    # sellable images clearly better than P(usable) alone.
    assert product["ci_low"] > 0 and product["at_least_as_good"]


def test_a_half_worse_than_its_rival_is_shown_worse():
    """A rating half that ranks backwards loses to the rival, beyond its interval."""
    matrix, context, rating, unusable, groups = _planted()
    cv = cross_validate_decision(matrix, context, ["score:a", "score:b", "score:c"], rating,
                                 unusable, groups, (), folds=3, seed=2,
                                 progress=lambda *_: None)
    backwards = DecisionCV(cv.score, cv.p_usable, 3.0 - cv.rating, cv.fold_of, cv.folds,
                           cv.without, cv.rival_usable, cv.rival_rating)
    sellable = (rating >= 3) & (rating <= 4)
    metrics = decision_metrics(backwards, sellable, rating, unusable, groups, seed=0,
                               replicates=200)
    rating_half = next(h for h in metrics["halves"]
                       if h["measure"] == "spearman_rating_usable")
    assert rating_half["significantly_worse"] and not rating_half["at_least_as_good"]
    assert rating_half["ci_high"] < 0
