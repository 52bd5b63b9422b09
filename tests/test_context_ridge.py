"""learn.context_ridge: the quality model with context blocks (issue 25 item 3), on
planted data where each block's worth is known: the name prefix moves the rating in
every month; the month moves it too, but each month by its own amount, which random
folds can learn (a month's images sit on both sides) and a model judging the next
months cannot (it has never seen them)."""

from __future__ import annotations

import numpy as np
import pytest

from neurostock.core.errors import NeurostockError
from neurostock.learn.context import Context
from neurostock.learn.context_ridge import (
    contributions,
    cross_validate_context_ridge,
    fit_context_ridge,
    forward_validate_context_ridge,
)
from neurostock.learn.search import spearman

BLOCKS = ("prompt_words", "prefix", "experiment", "month")


def _planted(n: int = 720, seed: int = 5):
    rng = np.random.default_rng(seed)
    months = np.array([f"2023-{m:02d}" for m in range(1, 10)], dtype=object)
    month = months[np.arange(n) * len(months) // n]
    offset = dict(zip(months.tolist(), rng.normal(0.0, 1.2, len(months)), strict=True))
    prefix = rng.choice(np.array(["3", "6", "7"], dtype=object), n)
    score = rng.normal(size=n)
    rating = (0.6 * score + 1.0 * (prefix == "7") + np.array([offset[m] for m in month])
              + rng.normal(0.0, 0.6, n))
    words = np.array(["cat", "dog", "tree", "sea", "road", "lamp"], dtype=object)
    prompt = np.array([" ".join(rng.choice(words, 3)) + f" scene{i // 3}" for i in range(n)],
                      dtype=object)
    context = Context(image_ids=np.arange(n, dtype=np.int64), prompt=prompt, prefix=prefix,
                      experiment_model=np.full(n, "1", dtype=object),
                      experiment_number=np.full(n, "1/1", dtype=object), month=month)
    groups = np.array([f"g{i // 3}" for i in range(n)], dtype=object)
    return score[:, None], ["score:technical_sharpness"], context, rating, groups


def test_context_ridge_beats_the_features_alone_and_scores_new_images():
    matrix, names, context, rating, groups = _planted()
    train, test = np.arange(0, 600), np.arange(600, 720)
    with_context, _ = fit_context_ridge(matrix[train], context.take(train), names,
                                        rating[train], groups[train], ("prefix",))
    alone, _ = fit_context_ridge(matrix[train], context.take(train), names, rating[train],
                                 groups[train], ())
    ours = spearman(rating[test], with_context.predict(matrix[test], context.take(test)))
    plain = spearman(rating[test], alone.predict(matrix[test], context.take(test)))
    assert ours > plain + 0.1
    assert with_context.fit.params["w_prefix"] > 0


def test_each_block_is_measured_grouped_and_forward_and_the_month_only_helps_grouped():
    matrix, names, context, rating, groups = _planted()
    cv = cross_validate_context_ridge(matrix, context, names, rating, groups, BLOCKS, 5, 7)
    assert not np.isnan(cv.predictions).any() and set(cv.fold_of.tolist()) == set(range(5))
    # A prompt group never sits in two folds.
    assert all(len(set(cv.fold_of[groups == g].tolist())) == 1 for g in np.unique(groups))
    assert set(cv.without) == {"scores", "prompt_words", "prefix", "experiment", "month"}
    grouped = contributions(rating, cv.predictions, cv.without, groups, 7, replicates=300)
    by_block = {c["block"]: c for c in grouped["contributions"]}
    assert grouped["spearman_ci"][0] < grouped["spearman"] < grouped["spearman_ci"][1]
    for block in ("scores", "prefix", "month"):
        assert by_block[block]["ci_low"] > 0, by_block[block]
        assert by_block[block]["delta_spearman"] == pytest.approx(
            grouped["spearman"] - by_block[block]["spearman_without"])
    forward = forward_validate_context_ridge(matrix, context, names, rating, groups, BLOCKS,
                                             7, replicates=300)
    assert len(forward["periods"]) == 3
    ahead = {c["block"]: c for c in forward["pooled"]["contributions"]}
    # Forward, each period's months are new: the month block has nothing to give.
    assert ahead["month"]["ci_low"] <= 0 <= ahead["month"]["ci_high"]
    # Each period is ranked by its own model: the figure is the Spearman within each
    # period (the periods' own), weighted by size, not one over the pooled periods.
    sizes = np.array([p["n"] for p in forward["periods"]], dtype=float)
    assert forward["pooled"]["spearman"] == pytest.approx(
        sum(p["spearman"] * p["n"] for p in forward["periods"]) / sizes.sum())
    assert ahead["month"]["delta_spearman"] < by_block["month"]["delta_spearman"] - 0.1
    assert ahead["prefix"]["ci_low"] > 0


def test_no_dates_no_forward_figure_and_too_few_prompts_is_one_error():
    matrix, names, context, rating, groups = _planted(n=120)
    undated = Context(context.image_ids, context.prompt, context.prefix,
                      context.experiment_model, context.experiment_number,
                      np.full(len(rating), None, dtype=object))
    assert forward_validate_context_ridge(matrix, undated, names, rating, groups, BLOCKS,
                                          7) == {"skipped": "no rated image has a generation "
                                                            "date"}
    with pytest.raises(NeurostockError, match="too few for 5-fold"):
        cross_validate_context_ridge(matrix[:12], context.take(np.arange(12)), names,
                                     rating[:12], groups[:12], BLOCKS, 5, 7)


def test_the_learning_curve_and_the_queue_simulation_fit_the_model_with_its_blocks():
    """A ridge with blocks is the model whose curve and simulation are measured, not
    the plain ridge: on the planted data its curve lies above the plain one's."""
    from neurostock.learn.learning_curve import curve_points
    from neurostock.learn.queue_simulation import context_ridge_learner

    matrix, names, context, rating, groups = _planted()
    kept = ("prefix",)
    with_blocks = curve_points(matrix, rating, groups, "ridge", 5, 3, repeats=1,
                               fractions=(0.5, 1.0), progress=lambda *_: None,
                               context=context, names=names, blocks=kept)
    plain = curve_points(matrix, rating, groups, "ridge", 5, 3, repeats=1,
                         fractions=(0.5, 1.0), progress=lambda *_: None)
    assert [p["n_ratings"] for p in with_blocks] == [p["n_ratings"] for p in plain]
    assert all(a["spearman"] > b["spearman"] + 0.05
               for a, b in zip(with_blocks, plain, strict=True))
    rows = np.arange(0, 600)
    predict = context_ridge_learner(matrix, context, names, rating + 1.0, groups, kept)(rows)
    model, _ = fit_context_ridge(matrix[rows], context.take(rows), names, rating[rows],
                                 groups[rows], kept)
    test = np.arange(600, 720)
    assert np.allclose(predict(test), model.predict(matrix[test], context.take(test)))


def test_a_model_without_context_is_judged_forward_by_its_own_fits():
    """The plain ridge (learn/search.py) judged forward: each period's Spearman is that
    of the model fitted on the months before it, exactly as `neurostock train` fits it."""
    from neurostock.learn.context_ridge import held_out_figures, plain_fit
    from neurostock.learn.forward import forward_periods
    from neurostock.learn.search import fit_search

    matrix, names, context, rating, groups = _planted()
    fit = plain_fit("ridge", matrix, names, rating, groups, 7)
    forward = held_out_figures("forward", fit, context, rating, groups, 7, replicates=200)
    periods, _ = forward_periods(context.month)
    assert [p["n"] for p in forward["periods"]] == [len(p.test) for p in periods]
    for period, figure in zip(periods, forward["periods"], strict=True):
        fitted, _, _ = fit_search("ridge", matrix[period.train], rating[period.train],
                                  groups[period.train], names, 7)
        assert figure["spearman"] == pytest.approx(
            spearman(rating[period.test], fitted.predict(matrix[period.test])))
    assert forward["pooled"]["contributions"] == []
    low, high = forward["pooled"]["spearman_ci"]
    assert low < forward["pooled"]["spearman"] < high
    unseen = held_out_figures("unseen generator", fit, context, rating, groups, 7)
    assert unseen == {"skipped": "all rated images are of one experiment model (1)"}
