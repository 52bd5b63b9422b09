"""The quality model with context (issue 25 item 3): `model: ridge` with `blocks:`.

The plain ridge quality model (learn/search.py) sees an image's embeddings and scores
only. What is known of a generation before anyone rates it says more: the prompt's
words, the team's name prefix, the experiment, the month (learn/context.py). Here the
ridge on full_set's rating (0-3, usable images) takes those blocks too, built like the
decision's rating half (learn/decision.fit_rating_part: each block standardised and
scaled to count like one score, its weight 0-4 searched with alpha by the inner grouped
folds, TF-IDF vocabulary and categories fitted on the training rows only).

Judged three ways, never on the rows a model was fitted on:
- grouped K-fold by prompt, like every learned model (`cross_validate_context_ridge`);
  per switchable block (embeddings per kind, scores, each context block) the same
  fold models without it: each block's drop-one contribution to the out-of-fold
  Spearman, with a paired grouped bootstrap interval;
- forward by generation month (learn/forward.forward_periods: trained on what was
  generated before each period, judged on the period), with the same drop-one
  contributions, so a block that only helps across random folds (the month: a month's
  images sit on both sides of a random split) shows it;
- with one generator (experiment model) held out at a time, the same way: for a set
  without dates the nearest thing to new generations;
- the figures are computed here and stored in the model's metrics (meta.learned_models);
  rpt_learned_quality_blocks reads them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from neurostock.core.errors import NeurostockError
from neurostock.core.intervals import percentile_interval
from neurostock.learn.context import Context
from neurostock.learn.decision import PartFit, Preparer, fit_rating_part, switchable_blocks
from neurostock.learn.decision_metrics import BOOTSTRAP_REPLICATES, bootstrap_weights
from neurostock.learn.forward import forward_periods, generator_splits
from neurostock.learn.rivals import weighted_spearman
from neurostock.learn.search import spearman


@dataclass
class ContextRidge:
    """A fitted quality model with context: its preparation and coefficients."""

    preparer: Preparer
    fit: PartFit
    info: dict = field(default_factory=dict)

    def predict(self, matrix: np.ndarray, context: Context) -> np.ndarray:
        """Predicted rating 0-3 per image."""
        return self.preparer.transform(matrix, context) @ self.fit.beta


def fit_context_ridge(matrix: np.ndarray, context: Context, names: list[str],
                      rating: np.ndarray, groups: np.ndarray, blocks: tuple[str, ...],
                      drops: tuple[str, ...] = ()
                      ) -> tuple[ContextRidge, dict[str, ContextRidge]]:
    """Search and fit on these rows only; per block of `drops`, the model without it."""
    preparer, fit, without = fit_rating_part(matrix, context, names, rating, groups,
                                             blocks, drops)
    model = ContextRidge(preparer, fit)
    return model, {block: ContextRidge(preparer, PartFit(fit.params, beta, np.nan))
                   for block, beta in without.items()}


@dataclass
class ContextRidgeCV:
    """Out-of-fold predictions, each row's fold, per fold what was chosen, and per
    switchable block the predictions of the same fold models without it."""

    predictions: np.ndarray
    fold_of: np.ndarray
    folds: list[dict]
    without: dict[str, np.ndarray]


def cross_validate_context_ridge(matrix: np.ndarray, context: Context, names: list[str],
                                 rating: np.ndarray, groups: np.ndarray,
                                 blocks: tuple[str, ...], folds: int, seed: int,
                                 progress=None, measure_blocks: bool = True
                                 ) -> ContextRidgeCV:
    """Grouped K-fold by prompt (the folds every learned model uses); `measure_blocks`:
    also the drop-one predictions per switchable block (else `without` is empty)."""
    from sklearn.model_selection import GroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise NeurostockError(f"{n_groups} distinct prompts: too few for {folds}-fold "
                              "grouped cross-validation")
    drops = tuple(switchable_blocks(names, blocks)) if measure_blocks else ()
    n = len(rating)
    predictions, fold_of = np.full(n, np.nan), np.full(n, -1)
    without = {b: np.full(n, np.nan) for b in drops}
    chosen = []
    outer = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(outer.split(matrix, rating, groups)):
        started = time.monotonic()
        model, dropped = fit_context_ridge(matrix[train], context.take(train), names,
                                           rating[train], groups[train], blocks, drops)
        predictions[test] = model.predict(matrix[test], context.take(test))
        for block, other in dropped.items():
            without[block][test] = other.predict(matrix[test], context.take(test))
        fold_of[test] = k
        chosen.append({"fold": k, "n_train": int(len(train)), "n_test": int(len(test)),
                       "params": model.fit.params, "inner_spearman": model.fit.inner,
                       "spearman": spearman(rating[test], predictions[test])})
        if progress is not None:
            progress(f"fold {k + 1}/{folds}: {model.fit.params}, Spearman "
                     f"{chosen[-1]['spearman']:.3f} on {len(test):,} held-out images "
                     f"({time.monotonic() - started:.1f} s)")
    return ContextRidgeCV(predictions, fold_of, chosen,
                          {b: v for b, v in without.items() if not np.isnan(v).any()})


def contributions(rating: np.ndarray, predictions: np.ndarray,
                  without: dict[str, np.ndarray], groups: np.ndarray, seed: int,
                  replicates: int = BOOTSTRAP_REPLICATES,
                  strata: np.ndarray | None = None) -> dict:
    """Spearman of `predictions` and, per block, what it adds (Spearman with it minus
    without it), with grouped bootstrap 95% intervals (prompt groups resampled, the same
    draws for every figure: the differences are paired). `strata` (one label per row):
    the Spearman within each stratum, averaged with the strata's sizes as weights: the
    held-out periods or generators, each scored by its own model, whose scales need not
    agree (pooling them would rank one period's offset, not its images)."""
    labels = np.zeros(len(rating), dtype=np.int64) if strata is None else \
        np.unique(np.asarray(strata), return_inverse=True)[1]
    # A part whose ratings are all equal has no order to judge (AGIQA-3K's AttnGAN
    # images are all in its lowest quartile): it is left out of the average.
    parts = [np.flatnonzero(labels == k) for k in np.unique(labels)]
    parts = [rows for rows in parts if len(rows) > 2 and np.ptp(rating[rows]) > 0]
    sizes = np.array([len(rows) for rows in parts], dtype=float)

    def within(score: np.ndarray, weights: np.ndarray) -> np.ndarray:
        if not parts:
            return np.full(len(weights), np.nan)
        values = np.column_stack([weighted_spearman(rating[rows], score[rows],
                                                    weights[:, rows]) for rows in parts])
        # A replicate that draws one part's images with equal ratings only: that part
        # is left out of this replicate's average.
        defined = np.isfinite(values)
        with np.errstate(invalid="ignore"):
            return (np.where(defined, values, 0.0) @ sizes) / (defined @ sizes)

    ones = np.ones((1, len(rating)))
    point = float(within(predictions, ones)[0])
    draws, deltas = [], {b: [] for b in without}
    for weights in bootstrap_weights(groups, replicates, seed):
        full = within(predictions, weights)
        draws.append(full)
        for block, other in without.items():
            deltas[block].append(full - within(other, weights))
    out = []
    for block, other in without.items():
        low, high = percentile_interval(np.concatenate(deltas[block]))
        point_without = float(within(other, ones)[0])
        out.append({"block": block, "spearman_without": point_without,
                    "delta_spearman": point - point_without, "ci_low": low, "ci_high": high})
    low, high = percentile_interval(np.concatenate(draws))
    return {"n": int(sizes.sum()), "n_left_out": int(len(rating) - sizes.sum()),
            "spearman": point, "spearman_ci": [low, high],
            "contributions": out,
            **({"pooling": "the Spearman within each held-out part, weighted by its size"}
               if strata is not None else {})}


def forward_validate_context_ridge(matrix: np.ndarray, context: Context, names: list[str],
                                   rating: np.ndarray, groups: np.ndarray,
                                   blocks: tuple[str, ...], seed: int, progress=None,
                                   replicates: int = BOOTSTRAP_REPLICATES) -> dict:
    """Forward-chaining by generation month (learn/forward.py's periods): per period the
    model fitted on every dated image generated before it, and the models without each
    block; the Spearman per period, and over the periods with each block's
    contribution. `skipped` with the reason where the dates do not allow it."""
    return held_out_figures(
        "forward", _context_fit(matrix, context, names, rating, groups, blocks), context,
        rating, groups, seed, progress, replicates)


def unseen_generator_context_ridge(matrix: np.ndarray, context: Context, names: list[str],
                                   rating: np.ndarray, groups: np.ndarray,
                                   blocks: tuple[str, ...], seed: int, progress=None,
                                   replicates: int = BOOTSTRAP_REPLICATES) -> dict:
    """One experiment model (generator) held out at a time (learn/forward.py's
    generator_splits), judged by models fitted on every other image: for sets without
    dates (AGIQA-3K names its generators) the nearest thing to "new generations"."""
    return held_out_figures(
        "unseen generator", _context_fit(matrix, context, names, rating, groups, blocks),
        context, rating, groups, seed, progress, replicates)


def plain_fit(model: str, x: np.ndarray, names: list[str], rating: np.ndarray,
              groups: np.ndarray, seed: int) -> SplitFit:
    """A split's fit for a learned model without context (learn/search.py's fit_search:
    the ridge quality model as `neurostock train` fits it): its predictions, no drops."""
    from neurostock.learn.search import fit_search

    def fit(train: np.ndarray, test: np.ndarray):
        fitted, _, _ = fit_search(model, x[train], rating[train], groups[train], names, seed)
        return fitted.predict(x[test]), {}

    return fit


def _context_fit(matrix: np.ndarray, context: Context, names: list[str], rating: np.ndarray,
                 groups: np.ndarray, blocks: tuple[str, ...]) -> SplitFit:
    drops = tuple(switchable_blocks(names, blocks))

    def fit(train: np.ndarray, test: np.ndarray):
        model, dropped = fit_context_ridge(matrix[train], context.take(train), names,
                                           rating[train], groups[train], blocks, drops)
        score = model.predict(matrix[test], context.take(test))
        without = {b: (dropped[b].predict(matrix[test], context.take(test)) if b in dropped
                       else np.full(len(test), np.nan)) for b in drops}
        return score, without

    return fit


# A split's fit: (train rows, test rows) -> (the test rows' scores, per dropped block the
# scores of the same model without it).
SplitFit = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, dict[str, np.ndarray]]]


def held_out_figures(split: str, fit: SplitFit, context: Context, rating: np.ndarray,
                     groups: np.ndarray, seed: int, progress=None,
                     replicates: int = BOOTSTRAP_REPLICATES) -> dict:
    """`split` 'forward' (learn/forward.py's periods of generation months) or 'unseen
    generator' (one experiment model held out at a time): each part judged by `fit` on
    the rows before it (the other generators) only; per part its Spearman, and over the
    parts the within-part Spearman and each dropped block's contribution (`contributions`
    with the parts as strata). `skipped` with the reason where the data do not allow it."""
    if split == "forward":
        periods, reason = forward_periods(context.month)
        splits = [({"first_month": p.first_month, "last_month": p.last_month}, p.train,
                   p.test) for p in periods]
    else:
        splits, reason = generator_splits(context.experiment_model)
    if reason:
        return {"skipped": reason}
    rows, scores, parts = [], [], []
    without: dict[str, list[np.ndarray]] = {}
    for label, train, test in splits:
        started = time.monotonic()
        score, dropped = fit(train, test)
        for block, other in dropped.items():
            without.setdefault(block, []).append(other)
        rows.append(test)
        scores.append(score)
        judged = bool(np.ptp(rating[test]) > 0)
        parts.append({**label, "n_train": int(len(train)), "n": int(len(test)),
                      "spearman": spearman(rating[test], score) if judged else None,
                      **({} if judged else {"skipped": "every image has the same rating"})})
        if progress is not None:
            shown = " .. ".join(dict.fromkeys(label.values()))
            figure = (f"Spearman {parts[-1]['spearman']:.3f}" if judged
                      else "not judged (one rating only)")
            progress(f"{split} ({shown}): {figure} on {len(test):,} images, trained on "
                     f"{len(train):,} ({time.monotonic() - started:.1f} s)")
    judged = np.concatenate(rows)
    part_of = np.concatenate([np.full(len(test), k) for k, test in enumerate(rows)])
    pooled_without = {b: np.concatenate(v) for b, v in without.items()}
    pooled = contributions(rating[judged], np.concatenate(scores),
                           {b: v for b, v in pooled_without.items() if not np.isnan(v).any()},
                           groups[judged], seed, replicates, strata=part_of)
    out = {"periods" if split == "forward" else "generators": parts, "pooled": pooled,
           "bootstrap": f"{replicates} grouped (prompt) resamples, percentile 95%"}
    if split == "forward":
        out["n_undated"] = int(sum(m is None for m in context.month))
    return out
