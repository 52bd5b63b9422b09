"""The learning curve's arithmetic on planted data (no warehouse): the decision model's
out-of-fold AUC of sellable and Spearman per sample, the ridge curve's AUC beside its
Spearman, the fit and the labelled extrapolation. The warehouse path (`neurostock
ratings curve`, rpt_learning_curve, the Ratings page) is tested in tests/test_rate.py."""

from __future__ import annotations

import numpy as np

from neurostock.learn.context import Context
from neurostock.learn.learning_curve import (
    curve_lines,
    curve_points,
    decision_curve_points,
    summarise,
)


def _planted(n: int = 240, seed: int = 5):
    """Ratings 1-5 (5 unusable) that one score follows and another does not."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n)
    rating = np.clip(np.round(2.5 + 1.2 * quality + rng.normal(scale=0.6, size=n)), 1, 4)
    unusable = rng.random(n) < 0.2
    rating[unusable] = 5
    matrix = np.column_stack([quality + rng.normal(scale=0.5, size=n), rng.normal(size=n)])
    none = np.full(n, None, dtype=object)
    context = Context(np.arange(n), np.array([f"prompt {i}" for i in range(n)], dtype=object),
                      none, none, none, none)
    groups = np.array([f"g{i // 2}" for i in range(n)], dtype=object)
    return matrix, context, rating, groups


def test_the_decision_curve_measures_auc_of_sellable_and_spearman_out_of_fold():
    matrix, context, rating, groups = _planted()
    sellable = (rating >= 3) & (rating <= 4)
    unusable = rating == 5
    points = decision_curve_points(matrix, context, ["score:a", "score:b"], rating, unusable,
                                   sellable, groups, (), folds=3, seed=1, repeats=2,
                                   fractions=(0.3, 1.0), progress=lambda *_: None)
    assert [(p["fraction"], p["repeat"]) for p in points] == [(0.3, 0), (0.3, 1), (1.0, 0)]
    assert points[-1]["n_ratings"] == len(rating) and points[0]["n_ratings"] < len(rating)
    assert points[-1]["auc_sellable"] > 0.75 and points[-1]["spearman"] > 0.4
    # Labels the features know nothing of: chance.
    shuffled = np.random.default_rng(0).permutation(sellable)
    chance = decision_curve_points(matrix, context, ["score:a", "score:b"], rating, unusable,
                                   shuffled, groups, (), folds=3, seed=1, repeats=1,
                                   fractions=(1.0,),
                                   progress=lambda *_: None)
    assert abs(chance[0]["auc_sellable"] - 0.5) < 0.12


def test_the_ridge_curve_gives_auc_beside_spearman_and_an_extrapolation_labelled_so():
    matrix, _, rating, groups = _planted(n=300)
    usable = rating < 5
    x, y, g = matrix[usable], rating[usable] - 1, groups[usable]
    points = curve_points(x, y, g, "ridge", 3, 7, repeats=3, fractions=(0.2, 0.5, 1.0),
                          progress=lambda *_: None, sellable=y >= 2)
    rows = summarise(points)
    assert [r["n_repeats"] for r in rows] == [3, 3, 1]
    assert rows[0]["auc_sellable_sd"] is not None and rows[-1]["auc_sellable_sd"] is None
    assert rows[-1]["auc_sellable_mean"] > 0.75
    without = curve_points(x, y, g, "ridge", 3, 7, repeats=1, fractions=(1.0,),
                           progress=lambda *_: None)
    assert without[0]["auc_sellable"] is None
    lines = curve_lines(points)
    fits = [line for line in lines if "EXTRAPOLATION" in line]
    assert [line.split(":")[0] for line in fits] == ["spearman", "auc_sellable"]
    assert f"n = {len(y) + 1000:,}" in fits[0]
