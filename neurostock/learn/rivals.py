"""What each half of the sell decision must beat (issue 25 item 2), fitted on the same
outer folds as the decision (learn/decision.py's cross_validate_decision):

- the usability half P(usable) against a **logistic regression** of "rated 1-4 rather
  than 5" on the same prepared design (embeddings, scores, context blocks: the
  decision's Preparer fitted on the training fold), its C searched by the same inner
  grouped folds on AUC of usable;
- the rating half E[rating | usable] against the **ridge quality model** (`model:
  ridge`, learn/search.py: its own features, no context blocks, its own inner search)
  trained on the fold's usable images.

learn/decision_metrics.py compares them out of fold with paired grouped bootstrap
intervals, beside the AUC of sellable of each half alone and of their product.
"""

from __future__ import annotations

import numpy as np

LOGISTIC_C = (0.01, 0.1, 1.0)


def logistic_usable(design_train: np.ndarray, usable_train: np.ndarray,
                    inner_fold: np.ndarray, design_test: np.ndarray) -> tuple[np.ndarray, float]:
    """P(usable) of the test rows by a logistic regression on the training rows (the
    design's intercept column left to the model), C chosen on the inner folds' pooled
    AUC of usable; returns (probabilities, chosen C)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    x, x_test = design_train[:, :-1], design_test[:, :-1]
    y = np.asarray(usable_train, dtype=bool)
    if y.all() or not y.any():
        return np.full(len(design_test), float(y.mean())), float("nan")
    oof = {c: np.full(len(y), np.nan) for c in LOGISTIC_C}
    for k in np.unique(inner_fold):
        fit_rows, held = inner_fold != k, inner_fold == k
        if y[fit_rows].all() or not y[fit_rows].any():
            continue
        # Along the C path, each fit starts from the last (C ascending).
        model = LogisticRegression(max_iter=1000, warm_start=True)
        for c in LOGISTIC_C:
            model.set_params(C=c).fit(x[fit_rows], y[fit_rows])
            oof[c][held] = model.decision_function(x[held])
    best_c, best = LOGISTIC_C[0], -np.inf
    for c in LOGISTIC_C:
        have = ~np.isnan(oof[c])
        value = (roc_auc_score(y[have], oof[c][have])
                 if have.any() and 0 < y[have].sum() < have.sum() else np.nan)
        if np.isfinite(value) and value > best:
            best_c, best = c, value
    model = LogisticRegression(C=best_c, max_iter=1000).fit(x, y)
    return model.predict_proba(x_test)[:, 1], best_c


def ridge_rating(matrix_train: np.ndarray, rating_train: np.ndarray,
                 groups_train: np.ndarray, names: list[str], seed: int,
                 matrix_test: np.ndarray) -> tuple[np.ndarray, dict]:
    """E[rating 0-3] of the test rows by the ridge quality model trained on the usable
    training rows given (`rating_train` on 0-3); returns (predictions, chosen params)."""
    from neurostock.learn.search import fit_search

    fitted, params, _ = fit_search("ridge", matrix_train, rating_train, groups_train, names,
                                   seed)
    return fitted.predict(matrix_test), params


def weighted_spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Spearman's rho of (x, y) for each row of `weights` (replicates x rows: bootstrap
    multiplicities): the Pearson correlation of the resampled data's mid-ranks."""
    rx, ry = _weighted_ranks(x, weights), _weighted_ranks(y, weights)
    total = weights.sum(axis=1, keepdims=True)
    mx = (weights * rx).sum(axis=1, keepdims=True) / total
    my = (weights * ry).sum(axis=1, keepdims=True) / total
    cov = (weights * (rx - mx) * (ry - my)).sum(axis=1)
    vx = (weights * (rx - mx) ** 2).sum(axis=1)
    vy = (weights * (ry - my) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((vx > 0) & (vy > 0), cov / np.sqrt(vx * vy), np.nan)


def _weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per replicate, each row's mid-rank among the rows repeated by their weights."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, np.diff(sorted_values) != 0])
    group = np.cumsum(np.r_[True, np.diff(sorted_values) != 0]) - 1
    w = weights[:, order]
    per_group = np.add.reduceat(w, starts, axis=1)
    before = np.cumsum(per_group, axis=1) - per_group
    ranks_sorted = (before + (per_group + 1.0) / 2.0)[:, group]
    ranks = np.empty_like(ranks_sorted)
    ranks[:, order] = ranks_sorted
    return ranks
