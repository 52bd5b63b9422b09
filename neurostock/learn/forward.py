"""The decision judged forward in time, the way it is used: trained on what was generated
before a cut-off, measured on what was generated after it.

Grouped K-fold (learn/decision.py) mixes months: a model fitted on some of March and
June judges the rest of March and June. A pack is chosen from *new* generations, of
months (and often experiment models) the model has never seen, so a score that leans on
the month or on this season's prompts can look good across random folds and fail on
next month's batch. Forward-chaining measures that:

- The dated rated images (int_images_checked.generated_at; the undated ones are left
  out of forward figures: they could be from any time) are ordered by generation month.
  The first FIRST_SHARE of them (whole months) is the first training set; the months
  after it are cut into up to CUTS periods of about equal size (whole months again).
- For each period: the decision model is searched and fitted (the same inner grouped
  search, learn/decision.fit_decision) on every dated image generated before the
  period, and scores the period's images. Nothing of the period or after it is seen.
- Per period and pooled over the periods (each period's figure weighted by its size:
  each period is scored by its own model): AUC of sellable and precision of sellable
  among the top KEEP_SHARE of the period's images, with grouped bootstrap 95%
  intervals (prompt groups resampled, as the grouped figures).

Fewer than two dated months, or too few images before the first period (MIN_TRAIN), or a
period without both classes: no forward figure, and the reason says why.

Beside it, the same judgement with one experiment model (generator) held out at a time
(`unseen_generator_decision`): how well the decision carries to a generator it has not
seen. Its prompts may have been seen with other generators (as they would be).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from neurostock.core.intervals import percentile_interval
from neurostock.learn.context import Context
from neurostock.learn.decision import fit_decision
from neurostock.learn.decision_metrics import (
    BOOTSTRAP_REPLICATES,
    bootstrap_weights,
    weighted_auc,
    weighted_precision,
)

FIRST_SHARE = 0.4
CUTS = 3
KEEP_SHARE = 0.25
# Fewer dated images than this before the first period: nothing to learn forward from.
MIN_TRAIN = 40
# Leave-one-generator-out: generators with at least this many rated images, at most
# this many of them (the largest; each costs one more fit).
MIN_HELD = 30
MAX_GENERATORS = 5


@dataclass(frozen=True)
class ForwardScores:
    """The rows a forward period judged (indices into the rated rows), each one's score
    from the model fitted before its period, and the period (0 = the first)."""

    rows: np.ndarray
    scores: np.ndarray
    period: np.ndarray


@dataclass(frozen=True)
class Period:
    """One forward step: train on rows `train`, judge rows `test` (indices)."""

    first_month: str
    last_month: str
    train: np.ndarray
    test: np.ndarray


def forward_periods(month: np.ndarray, cuts: int = CUTS,
                    first_share: float = FIRST_SHARE) -> tuple[list[Period], str | None]:
    """The forward steps over the rows' generation months ('YYYY-MM', None unknown), or
    no steps and the reason. Periods are whole months, contiguous, in order; each
    trains on every dated row before its first month."""
    dated = np.array([m is not None for m in month], dtype=bool)
    if not dated.any():
        return [], "no rated image has a generation date"
    values = np.array([m if m is not None else "" for m in month], dtype=object)
    months, counts = np.unique(values[dated].astype(str), return_counts=True)
    if len(months) < 2:
        return [], f"all dated rated images are of one month ({months[0]})"
    share = np.cumsum(counts) / counts.sum()
    # The first training set: whole months up to first_share, at least one month, and
    # at least one month left to test.
    first = int(min(max(1, np.searchsorted(share, first_share, side="right")),
                    len(months) - 1))
    rest = months[first:]
    rest_counts = counts[first:]
    cuts = min(cuts, len(rest))
    # Whole months into `cuts` periods of about equal size.
    bounds = np.searchsorted(np.cumsum(rest_counts) / rest_counts.sum(),
                             np.arange(1, cuts) / cuts, side="left") + 1
    chunks = [c for c in np.split(np.arange(len(rest)), np.unique(np.clip(bounds, 1,
                                                                          len(rest) - 1)))
              if len(c)] if cuts > 1 else [np.arange(len(rest))]
    periods = []
    text = values.astype(str)
    for chunk in chunks:
        first_month, last_month = str(rest[chunk[0]]), str(rest[chunk[-1]])
        train = np.flatnonzero(dated & (text < first_month))
        test = np.flatnonzero(dated & (text >= first_month) & (text <= last_month))
        periods.append(Period(first_month, last_month, train, test))
    if len(periods[0].train) < MIN_TRAIN:
        return [], (f"{len(periods[0].train)} dated rated images before {periods[0].first_month}"
                    f": fewer than {MIN_TRAIN} to learn from")
    return periods, None


def _figures(sellable: np.ndarray, score: np.ndarray, groups: np.ndarray,
             seed: int, replicates: int, strata: np.ndarray | None = None) -> dict:
    """AUC of sellable and precision among the top KEEP_SHARE, with grouped intervals.
    `strata` (the pooled figures of several periods or generators): each figure within
    each part, averaged with the parts' sizes as weights. Each part is scored by its own
    model, whose level need not match another's, and a pack is chosen from one batch:
    one AUC over the pooled parts would also rank the parts' levels. A part with one
    class only has no AUC and is left out of the AUC's average."""
    labels = np.zeros(len(score), dtype=np.int64) if strata is None else \
        np.unique(np.asarray(strata), return_inverse=True)[1]
    parts = [np.flatnonzero(labels == k) for k in np.unique(labels)]
    sizes = np.array([len(rows) for rows in parts], dtype=float)

    def within(measure, weights: np.ndarray) -> np.ndarray:
        values = np.column_stack([measure(rows, weights[:, rows]) for rows in parts])
        defined = np.isfinite(values)
        with np.errstate(invalid="ignore"):
            return (np.where(defined, values, 0.0) @ sizes) / (defined @ sizes)

    def auc_of(rows, weights):
        return weighted_auc(sellable[rows], score[rows], weights)

    def precision_of(rows, weights):
        return weighted_precision(sellable[rows], score[rows], weights, KEEP_SHARE)

    draws_auc, draws_precision = [], []
    for weights in bootstrap_weights(groups, replicates, seed):
        draws_auc.append(within(auc_of, weights))
        draws_precision.append(within(precision_of, weights))
    ones = np.ones((1, len(score)))
    return {
        "n": int(len(score)), "n_sellable": int(sellable.sum()),
        "sellable_rate": float(sellable.mean()),
        "auc_sellable": float(within(auc_of, ones)[0]),
        "auc_sellable_ci": list(percentile_interval(np.concatenate(draws_auc))),
        "keep_share": KEEP_SHARE,
        "precision_sellable": float(within(precision_of, ones)[0]),
        "precision_sellable_ci": list(percentile_interval(np.concatenate(draws_precision))),
        **({"pooling": "each figure within each part, weighted by the parts' sizes"}
           if strata is not None else {}),
    }


def _judge(splits: list[tuple[dict, np.ndarray, np.ndarray]], matrix: np.ndarray,
           context: Context, names: list[str], source_rating: np.ndarray,
           unusable: np.ndarray, sellable: np.ndarray, groups: np.ndarray,
           blocks: tuple[str, ...], seed: int, replicates: int, progress, what: str
           ) -> tuple[list[dict], dict | None, np.ndarray, np.ndarray, np.ndarray]:
    """Each split (its labels, train rows, test rows) judged by a decision model searched
    and fitted on its train rows only; the rows out, the pooled figures (None when no
    split could be judged), and the judged rows with their scores and split index."""
    scores, rows, out, parts = [], [], [], []
    for k, (label, train, test) in enumerate(splits):
        started = time.monotonic()
        if len(np.unique(sellable[test])) < 2 or len(np.unique(groups[train])) < 3:
            out.append({**label, "n_train": int(len(train)), "n": int(len(test)),
                        "skipped": "one class only, or under 3 prompts to train on"})
            continue
        model, _ = fit_decision(matrix[train], context.take(train), names,
                                source_rating[train], unusable[train], groups[train], blocks)
        score = model.predict(matrix[test], context.take(test))
        figures = _figures(sellable[test], score, groups[test], seed + k, replicates)
        out.append({**label, "n_train": int(len(train)), **figures})
        scores.append(score)
        rows.append(test)
        parts.append(np.full(len(test), k))
        if progress:
            shown = " .. ".join(dict.fromkeys(label.values()))
            progress(f"{what} {k + 1}/{len(splits)} ({shown}): "
                     f"trained on {len(train):,} images, AUC of sellable "
                     f"{figures['auc_sellable']:.3f} on {len(test):,} "
                     f"({time.monotonic() - started:.1f} s)")
    if not rows:
        empty = np.zeros(0, np.int64)
        return out, None, empty, np.zeros(0), empty
    test_rows, test_scores = np.concatenate(rows), np.concatenate(scores)
    split_of = np.concatenate(parts)
    return (out, _figures(sellable[test_rows], test_scores, groups[test_rows], seed,
                          replicates, strata=split_of), test_rows, test_scores, split_of)


def forward_validate_decision(matrix: np.ndarray, context: Context, names: list[str],
                              source_rating: np.ndarray, unusable: np.ndarray,
                              sellable: np.ndarray, groups: np.ndarray,
                              blocks: tuple[str, ...], seed: int, progress=None,
                              replicates: int = BOOTSTRAP_REPLICATES
                              ) -> tuple[dict, ForwardScores | None]:
    """The forward figures (module doc) as a JSON-ready dict: `periods` (each with its
    months, n_train and figures) and `pooled`, or `skipped` with the reason; and the
    forward scores themselves (ForwardScores: each judged row's score from the model of
    its period, and the period), which train.py stores beside the out-of-fold scores."""
    periods, reason = forward_periods(context.month)
    if reason:
        return {"skipped": reason}, None
    splits = [({"first_month": p.first_month, "last_month": p.last_month}, p.train, p.test)
              for p in periods]
    out, pooled, rows, scores, parts = _judge(
        splits, matrix, context, names, source_rating, np.asarray(unusable, dtype=bool),
        np.asarray(sellable, dtype=bool), groups, blocks, seed, replicates, progress,
        "forward")
    if pooled is None:
        return {"skipped": "no period had both sellable and other images",
                "periods": out}, None
    return {"periods": out, "pooled": pooled,
            "n_undated": int(sum(m is None for m in context.month)),
            "method": (f"forward-chaining by generation month: first {FIRST_SHARE:.0%} of "
                       f"the dated images to train, then up to {CUTS} periods, each judged "
                       "by a model fitted on everything generated before it"),
            "bootstrap": f"{replicates} grouped (prompt) resamples, percentile 95%",
            }, ForwardScores(rows, scores, parts)


def generator_splits(experiment_model: np.ndarray) -> tuple[list[tuple], str | None]:
    """Leave one experiment model (generator) out: for each of the MAX_GENERATORS largest
    with at least MIN_HELD rated images, train on every other image (the undated and
    those of unknown generator included: they are not the held-out one), judge it."""
    known = np.array([m is not None for m in experiment_model], dtype=bool)
    if not known.any():
        return [], "no rated image has an experiment model"
    values = np.array([str(m) if m is not None else "" for m in experiment_model], dtype=object)
    names, counts = np.unique(values[known].astype(str), return_counts=True)
    if len(names) < 2:
        return [], f"all rated images are of one experiment model ({names[0]})"
    order = np.lexsort((names, -counts))
    chosen = [i for i in order if counts[i] >= MIN_HELD][:MAX_GENERATORS]
    if not chosen:
        return [], f"no experiment model has {MIN_HELD} rated images"
    text = values.astype(str)
    return [({"experiment_model": str(names[i])}, np.flatnonzero(text != names[i]),
             np.flatnonzero(text == names[i])) for i in chosen], None


def unseen_generator_decision(matrix: np.ndarray, context: Context, names: list[str],
                              source_rating: np.ndarray, unusable: np.ndarray,
                              sellable: np.ndarray, groups: np.ndarray,
                              blocks: tuple[str, ...], seed: int, progress=None,
                              replicates: int = BOOTSTRAP_REPLICATES) -> dict:
    """How well the decision carries to a generator it has not seen: per held-out
    experiment model (generator_splits) and pooled; or `skipped` with the reason."""
    splits, reason = generator_splits(context.experiment_model)
    if reason:
        return {"skipped": reason}
    out, pooled, *_ = _judge(splits, matrix, context, names, source_rating,
                             np.asarray(unusable, dtype=bool),
                             np.asarray(sellable, dtype=bool), groups, blocks, seed,
                             replicates, progress, "unseen generator")
    if pooled is None:
        return {"skipped": "no held-out generator had both sellable and other images",
                "generators": out}
    return {"generators": out, "pooled": pooled,
            "method": (f"leave one experiment model out (the {MAX_GENERATORS} largest with "
                       f"at least {MIN_HELD} rated images), each judged by a model fitted "
                       "on every other image"),
            "bootstrap": f"{replicates} grouped (prompt) resamples, percentile 95%"}


# Choosing a threshold on earlier forward scores: at least this many images kept.
MIN_CHOSEN_ON = 10


def best_threshold(score: np.ndarray, sellable: np.ndarray, target: float,
                   min_kept: int = MIN_CHOSEN_ON) -> float | None:
    """The lowest threshold (the most images kept, `score >= threshold`) at which the
    precision of sellable among the kept reaches `target` with at least `min_kept`
    kept; None when none does. Ties are kept or left out together."""
    if not len(score):
        return None
    order = np.argsort(-score, kind="stable")
    ranked, good = score[order], sellable[order].astype(float)
    kept = np.arange(1, len(ranked) + 1)
    precision = np.cumsum(good) / kept
    # A cut only where the next score is lower: a tie is not split.
    boundary = np.r_[ranked[:-1] > ranked[1:], True]
    ok = boundary & (kept >= min_kept) & (precision >= target)
    if not ok.any():
        return None
    return float(ranked[np.flatnonzero(ok)[-1]])


def forward_operating_point(score: np.ndarray, sellable: np.ndarray, period: np.ndarray,
                            groups: np.ndarray, target: float,
                            min_kept: int = MIN_CHOSEN_ON, seed: int = 0,
                            replicates: int = BOOTSTRAP_REPLICATES) -> dict:
    """The sell decision's operating point for `target` on forward scores, chosen the
    way it is used: for each period after the first, the threshold is chosen on the
    forward scores of the periods before it (best_threshold) and applied to it; the
    precision of the images kept so, pooled over those periods, is the out-of-sample
    figure (with a grouped bootstrap 95% interval), and the threshold chosen on every
    forward score is the one to apply to new images. `reason` says why a figure is
    missing (one period only: nothing earlier to choose on)."""
    score = np.asarray(score, dtype=float)
    sellable = np.asarray(sellable, dtype=bool)
    period = np.asarray(period)
    periods = np.unique(period)
    point = {"target_precision": target,
             "threshold": best_threshold(score, sellable, target, min_kept),
             "n_periods": int(len(periods)), "measured_on": 0, "n_kept": 0,
             "precision": None, "precision_ci": [None, None], "keep_rate": None,
             "reason": None}
    if len(periods) < 2:
        point["reason"] = "one forward period: no earlier forward scores to choose a threshold on"
        return point
    measured = np.zeros(len(score), dtype=bool)
    kept = np.zeros(len(score), dtype=bool)
    for p in periods[1:]:
        before, now = period < p, period == p
        chosen = best_threshold(score[before], sellable[before], target, min_kept)
        measured |= now
        if chosen is not None:
            kept |= now & (score >= chosen)
    point["measured_on"] = int(measured.sum())
    point["n_kept"] = int(kept.sum())
    point["keep_rate"] = float(kept.sum() / measured.sum())
    if not kept.any():
        point["reason"] = (f"no threshold chosen on earlier periods kept an image of a later "
                           f"one at precision {target}")
        return point
    point["precision"] = float(sellable[kept].mean())
    rows = np.flatnonzero(measured)
    weights = bootstrap_weights(groups[rows], replicates, seed)
    draws = []
    for w in weights:
        w_kept = w * kept[rows][None, :]
        totals = w_kept.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            draws.append((w_kept * sellable[rows][None, :]).sum(axis=1) / totals)
    draws = np.concatenate(draws)
    point["precision_ci"] = list(percentile_interval(draws[np.isfinite(draws)]))
    return point
