"""How the `decision` learned model (learn/decision.py) is judged, out of fold (grouped
by prompt) over the whole decision population: AUC of sellable (resolved rating 3-4
against everything else, 5 included) and the precision of sellable among the images
kept, with grouped bootstrap intervals (prompt groups resampled, the same draws for every
figure, so differences are paired; percentile intervals from core/intervals.py); each
switchable block's contribution is the drop in that AUC when it is left out.
"""

from __future__ import annotations

import numpy as np

from neurostock.core.intervals import percentile_interval
from neurostock.learn.decision import TARGET, DecisionCV, rank_auc
from neurostock.learn.rivals import weighted_spearman
from neurostock.learn.search import spearman

BOOTSTRAP_REPLICATES = 1000
KEEP_SHARES = (0.1, 0.25, 0.5)


def ordinal_code(source_rating: np.ndarray, unusable: np.ndarray) -> np.ndarray:
    """unusable < 1 < 2 < 3 < 4 as 0..4 (`unusable`: image_ratings.is_unusable)."""
    return np.where(unusable, 0.0, source_rating)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUC of `labels` (bool) by `scores` (ties count half); NaN with one class only."""
    value = weighted_auc(labels, scores, np.ones((1, len(labels))))[0]
    return float(value)


def weighted_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC for each row of `weights` (replicates x images: bootstrap multiplicities)."""
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    starts = np.flatnonzero(np.r_[True, np.diff(s) != 0])
    y = labels[order].astype(bool)
    w = weights[:, order]
    positive = np.add.reduceat(w * y, starts, axis=1)
    negative = np.add.reduceat(w * ~y, starts, axis=1)
    below = np.cumsum(negative, axis=1) - negative
    total = positive.sum(axis=1) * negative.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (positive * (below + 0.5 * negative)).sum(axis=1) / total,
                        np.nan)


def weighted_precision(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray,
                       share: float) -> np.ndarray:
    """Share of `labels` among the top `share` (by weight) of images by score, per row of
    `weights`; at least the best image is kept."""
    order = np.argsort(-scores, kind="stable")
    w = weights[:, order]
    y = labels[order].astype(float)
    cumulative = np.cumsum(w, axis=1)
    kept = cumulative <= share * cumulative[:, -1:]
    kept[:, 0] = True
    with np.errstate(invalid="ignore", divide="ignore"):
        return (kept * w * y).sum(axis=1) / (kept * w).sum(axis=1)


def clean_json(value):
    """`value` with every NaN (or numpy number) made JSON-safe: NaN -> None."""
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def bootstrap_weights(groups: np.ndarray, replicates: int, seed: int):
    """Chunks of (replicates x images) multiplicities: prompt groups drawn with
    replacement."""
    _, group_of = np.unique(groups, return_inverse=True)
    n_groups = int(group_of.max()) + 1
    rng = np.random.default_rng(seed)
    done = 0
    while done < replicates:
        size = min(100, replicates - done)
        counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=size)
        yield counts[:, group_of].astype(float)
        done += size


def decision_metrics(cv: DecisionCV, sellable: np.ndarray, source_rating: np.ndarray,
                     unusable: np.ndarray, groups: np.ndarray, seed: int,
                     replicates: int = BOOTSTRAP_REPLICATES) -> dict:
    """Out-of-fold AUC and precision of sellable over the decision population, each
    block's contribution (AUC with it minus AUC without it), grouped bootstrap 95%
    intervals (prompts resampled; the same draws for every figure, so differences are
    paired)."""
    sellable = sellable.astype(bool)
    unusable = np.asarray(unusable, dtype=bool)
    usable = ~unusable
    base_rate = float(sellable.mean())
    shares = [*KEEP_SHARES, base_rate]
    point_auc = auc(sellable, cv.score)
    point_precision = [float(weighted_precision(sellable, cv.score, np.ones((1, len(sellable))),
                                                q)[0]) for q in shares]
    point_without = {b: auc(sellable, s) for b, s in cv.without.items()}
    comparisons = _half_comparisons(cv, sellable, source_rating, usable)
    draws_auc, draws_precision, draws_delta = [], [[] for _ in shares], \
        {b: [] for b in cv.without}
    draws_halves: list[list[np.ndarray]] = [[] for _ in comparisons]
    for weights in bootstrap_weights(groups, replicates, seed):
        full = weighted_auc(sellable, cv.score, weights)
        draws_auc.append(full)
        for i, q in enumerate(shares):
            draws_precision[i].append(weighted_precision(sellable, cv.score, weights, q))
        for block, other in cv.without.items():
            draws_delta[block].append(full - weighted_auc(sellable, other, weights))
        for i, comparison in enumerate(comparisons):
            draws_halves[i].append(comparison["measure_fn"](weights, "half")
                                   - comparison["measure_fn"](weights, "rival"))
    ci = percentile_interval(np.concatenate(draws_auc))
    halves = []
    for comparison, draws in zip(comparisons, draws_halves, strict=True):
        low, high = percentile_interval(np.concatenate(draws))
        difference = comparison["half"] - comparison["rival"]
        halves.append({k: comparison[k] for k in ("comparison", "measure", "half_name",
                                                    "rival_name", "half", "rival")}
                      | {"difference": difference, "ci_low": low, "ci_high": high,
                         "at_least_as_good": bool(difference >= 0),
                         "significantly_worse": bool(high < 0)})
    precision = []
    for i, q in enumerate(shares):
        low, high = percentile_interval(np.concatenate(draws_precision[i]))
        precision.append({"keep_share": round(q, 4), "precision": point_precision[i],
                          "ci_low": low, "ci_high": high,
                          "is_base_rate": i == len(shares) - 1})
    contributions = []
    for block in cv.without:
        low, high = percentile_interval(np.concatenate(draws_delta[block]))
        contributions.append({"block": block, "auc_without": point_without[block],
                              "delta_auc": point_auc - point_without[block],
                              "ci_low": low, "ci_high": high})
    at_base = precision[-1]
    return {
        "target": TARGET,
        "population": {"n": int(len(sellable)), "n_unusable": int((~usable).sum()),
                       "n_sellable": int(sellable.sum()), "sellable_rate": base_rate},
        "auc_sellable": point_auc, "auc_sellable_ci": list(ci),
        "precision_sellable": at_base["precision"],
        "precision_sellable_ci": [at_base["ci_low"], at_base["ci_high"]],
        "precision_sellable_keep_share": at_base["keep_share"],
        "precision_at": precision,
        "auc_usable": rank_auc(usable, cv.p_usable),
        "spearman_rating_usable": spearman(source_rating[usable], cv.rating[usable])
        if usable.sum() > 2 else None,
        "spearman_ordinal": spearman(ordinal_code(source_rating, unusable), cv.score),
        "contributions": contributions,
        "halves": halves,
        "bootstrap": f"{replicates} grouped (prompt) resamples, percentile 95%",
    }


def _half_comparisons(cv: DecisionCV, sellable: np.ndarray, source_rating: np.ndarray,
                      usable: np.ndarray) -> list[dict]:
    """Each half against its rival (learn/rivals.py) and the product against each half
    alone, out of fold: the point figures and a function of the bootstrap weights giving
    either side's figure per replicate."""
    rating_usable = source_rating[usable] - 1.0

    def on_usable(prediction: np.ndarray):
        return lambda w: weighted_spearman(rating_usable, prediction[usable], w[:, usable])

    def on_sellable(score: np.ndarray):
        return lambda w: weighted_auc(sellable, score, w)

    def on_usable_label(score: np.ndarray):
        return lambda w: weighted_auc(usable, score, w)

    sides = [("P(usable) vs a logistic regression", "auc_usable", "P(usable)",
              "logistic regression", on_usable_label, cv.p_usable, cv.rival_usable),
             ("E[rating | usable] vs the ridge quality model", "spearman_rating_usable",
              "E[rating | usable]", "ridge (model: ridge)", on_usable, cv.rating,
              cv.rival_rating),
             ("the product vs P(usable) alone", "auc_sellable", "P(usable) x E[rating]",
              "P(usable) alone", on_sellable, cv.score, cv.p_usable),
             ("the product vs E[rating | usable] alone", "auc_sellable",
              "P(usable) x E[rating]", "E[rating | usable] alone", on_sellable, cv.score,
              cv.rating)]
    out = []
    for comparison, measure, half_name, rival_name, make, half, rival in sides:
        if rival is None or np.isnan(rival).any() or (measure == "spearman_rating_usable"
                                                      and usable.sum() < 3):
            continue
        if measure == "auc_usable" and (usable.all() or not usable.any()):
            continue
        functions = {"half": make(half), "rival": make(rival)}
        ones = np.ones((1, len(sellable)))
        out.append({"comparison": comparison, "measure": measure, "half_name": half_name,
                    "rival_name": rival_name,
                    "half": float(functions["half"](ones)[0]),
                    "rival": float(functions["rival"](ones)[0]),
                    "measure_fn": lambda w, side, f=functions: f[side](w)})
    return out
