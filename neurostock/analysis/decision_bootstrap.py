"""Seeded cluster-bootstrap intervals of the cross-fitted sell-decision figures, for the
dbt Python model `int_decision_bootstrap` (models/metrics/).

The thresholds are chosen in SQL (int_decision_folds: on the training folds, per
held-out fold); here each rated image's held-out decision is redrawn: kept when it is
scored and on its direction's side of its fold's threshold. A resample draws prompt
groups with replacement (the unit the folds are made of, so images of one prompt
move together). The same resamples serve every score and operating point: resample
b is row b of `rng.integers(0, G, size=(B, G))` with
`rng = numpy.random.default_rng([seed, 16])` and the groups in sorted order.

A score that leaves rows unscored gets bounds, never a point figure: the low end
counts every unscored image as the worst case for the figure (an unsellable one kept,
a sellable one dropped), the high end as the best; in a fold without a threshold
nothing is kept, scored or not, so its unscored images widen no bound. The interval
runs from the 2.5% percentile of the low end to the 97.5% percentile of the high end
(they coincide with a point's interval at full coverage).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from neurostock.core.intervals import percentile_interval

FIGURES = ("precision", "keep_rate", "recall", "balanced_accuracy")

RESULT_SCHEMA = pa.schema(
    [("scorer_id", pa.string()), ("rule", pa.string()), ("target_precision", pa.float64()),
     ("n_bootstrap", pa.int64()), ("n_groups", pa.int64())]
    + [(f"{figure}_ci_{end}", pa.float64()) for figure in FIGURES for end in ("low", "high")]
)

# Columns of the per-group sums: rows, sellable rows, kept, kept sellable, unscored
# sellable, unscored unsellable.
N, GOOD, KEPT, KEPT_GOOD, UNSCORED_GOOD, UNSCORED_BAD = range(6)


def bounds(sums: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(low, high) of each figure from sums (..., 6) of the columns above."""
    n, good, kept, kept_good, ug, ub = (sums[..., i].astype(np.float64) for i in range(6))
    bad = n - good
    with np.errstate(invalid="ignore", divide="ignore"):
        recall_low, recall_high = kept_good / good, (kept_good + ug) / good
        tnr_low = (bad - ub - (kept - kept_good)) / bad
        tnr_high = (bad - (kept - kept_good)) / bad
        return {
            "precision": (kept_good / (kept + ub), (kept_good + ug) / (kept + ug)),
            "keep_rate": (kept / n, (kept + ug + ub) / n),
            "recall": (recall_low, recall_high),
            "balanced_accuracy": ((recall_low + tnr_low) / 2, (recall_high + tnr_high) / 2),
        }


def kept_rows(score: np.ndarray, fold: np.ndarray, thresholds: np.ndarray,
              higher: np.ndarray) -> np.ndarray:
    """Per row: scored and on its fold's side of its fold's threshold (NaN: keeps none)."""
    t = thresholds[fold]
    up = higher[fold]
    with np.errstate(invalid="ignore"):
        kept = np.where(up, score >= t, score <= t)
    return kept & ~np.isnan(score) & ~np.isnan(t)


def decision_bootstrap(pairs: pa.Table, choices: pa.Table, folds: int, replicates: int,
                       seed: int) -> pa.Table:
    """pairs: scorer_id, score, is_sellable, fold, prompt_group (one row per signal x
    rated image); choices: scorer_id, held_out, rule, target_precision, direction,
    threshold (held-out folds only). One row per (scorer_id, rule, target_precision)."""
    scorer = pairs.column("scorer_id").to_numpy(zero_copy_only=False).astype(str)
    score = np.asarray(pairs.column("score").to_numpy(zero_copy_only=False), dtype=np.float64)
    good = np.asarray(pairs.column("is_sellable").to_numpy(zero_copy_only=False), dtype=bool)
    fold = np.asarray(pairs.column("fold").to_numpy(zero_copy_only=False), dtype=np.int64)
    group_names, group = np.unique(
        pairs.column("prompt_group").to_numpy(zero_copy_only=False).astype(str),
        return_inverse=True)
    n_groups = len(group_names)
    rng = np.random.default_rng([seed, 16])
    weights = np.zeros((replicates, n_groups))
    if n_groups and replicates > 0:
        drawn = rng.integers(0, n_groups, size=(replicates, n_groups))
        flat = (np.arange(replicates)[:, None] * n_groups + drawn).ravel()
        weights = np.bincount(flat, minlength=replicates * n_groups).reshape(
            replicates, n_groups).astype(np.float64)
    by_choice: dict[tuple, dict] = {}
    for row in choices.to_pylist():
        key = (row["scorer_id"], row["rule"], row["target_precision"])
        entry = by_choice.setdefault(key, {"thresholds": np.full(folds, np.nan),
                                           "higher": np.ones(folds, dtype=bool)})
        if row["threshold"] is not None:
            entry["thresholds"][row["held_out"]] = row["threshold"]
        entry["higher"][row["held_out"]] = row["direction"] == "higher"
    order = np.argsort(scorer, kind="stable")
    names, starts = np.unique(scorer[order], return_index=True)
    ends = np.r_[starts[1:], len(order)][:len(starts)]
    rows_of = {str(name): order[s:e] for name, s, e in zip(names, starts, ends, strict=True)}
    out = []
    keys = sorted(by_choice, key=lambda k: (k[0], k[1], -1.0 if k[2] is None else k[2]))
    for scorer_id in sorted({k[0] for k in keys}):
        mine = [k for k in keys if k[0] == scorer_id]
        rows = rows_of.get(scorer_id)
        if rows is None or replicates <= 0:
            out += [_record(k, replicates, n_groups) for k in mine]
            continue
        s, g, y, f = score[rows], group[rows], good[rows], fold[rows]
        unscored = np.isnan(s)
        # One matrix product per score: every operating point's per-group sums side
        # by side (a product per point would be 16 narrow ones).
        per_group = np.zeros((n_groups, 6 * len(mine)))
        for j, key in enumerate(mine):
            kept = kept_rows(s, f, by_choice[key]["thresholds"], by_choice[key]["higher"])
            # A fold without a threshold keeps nothing: its unscored rows widen no bound.
            open_ = unscored & ~np.isnan(by_choice[key]["thresholds"][f])
            for c, column in enumerate((np.ones_like(y), y, kept, kept & y, open_ & y,
                                        open_ & ~y)):
                per_group[:, 6 * j + c] = np.bincount(g, weights=column.astype(np.float64),
                                                      minlength=n_groups)
        sums = (weights @ per_group).reshape(replicates, len(mine), 6)
        for j, key in enumerate(mine):
            record = _record(key, replicates, n_groups)
            for figure, (low, high) in bounds(sums[:, j, :]).items():
                # The low end's 2.5 % percentile, the high end's 97.5 %.
                record[f"{figure}_ci_low"], record[f"{figure}_ci_high"] = \
                    percentile_interval(low, high_draws=high)
            out.append(record)
    return pa.Table.from_pylist(out, schema=RESULT_SCHEMA)


def _record(key: tuple, replicates: int, n_groups: int) -> dict:
    scorer_id, rule, target = key
    return {"scorer_id": scorer_id, "rule": rule, "target_precision": target,
            "n_bootstrap": replicates, "n_groups": n_groups} | {
        f"{f}_ci_{e}": None for f in FIGURES for e in ("low", "high")}
