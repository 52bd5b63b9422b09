"""The learning curve: does rating more pay? (`neurostock ratings curve`)

For a learned model (its features and estimator as configured), out-of-fold agreement
with the ratings when it learns from 10 %, 20 %, ..., 100 % of the rated images:

* every model: the Spearman of its predictions with full_set's rating (0-3), over the
  sample's usable images;
* the decision model (`model: decision`, learn/decision.py), which learns from every
  rated image, unusable ones included: also the AUC of sellable (image_ratings'
  is_sellable: resolved rating 3 or 4; 1-2 and unusable are not) over the sample.

Each fraction is a seeded sample of whole prompt groups (the unit the model's
cross-validation keeps together), drawn `repeats` times; each sample is judged by the
model's own grouped cross-validation (learn/search.py, or the decision model's outer
folds with its inner search). The points go to `annotations.learning_curve`;
`rpt_learning_curve` fits metric = a + b ln n to the points and says what another 1,000
ratings would give on that curve (an extrapolation, and labelled so)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import duckdb
import numpy as np

from neurostock.core.config import LearnedConfig
from neurostock.core.errors import NeurostockError
from neurostock.core.meta import ensure_ratings_table
from neurostock.core.progress import say
from neurostock.learn import context_ridge, decision
from neurostock.learn.context import Context, load_context
from neurostock.learn.decision_metrics import auc
from neurostock.learn.features import load_features
from neurostock.learn.search import cross_validate, spearman
from neurostock.learn.train import decision_population, full_set_population

FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 11))
METRICS = ("spearman", "auc_sellable")
PLUS = 1000


def learning_curve(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig, repeats: int = 3,
                   fractions: tuple[float, ...] = FRACTIONS, progress=say) -> list[dict]:
    """Compute the curve of `cfg` and replace its rows in annotations.learning_curve."""
    if not con.execute("select count(*) from duckdb_tables() where table_name = 'full_set'"
                       ).fetchone()[0]:
        raise NeurostockError("table full_set is missing: run `neurostock build` first")
    if repeats < 1:
        raise NeurostockError(f"--repeats must be at least 1, not {repeats}")
    say_curve = lambda text: progress(f"learning curve {cfg.scorer_id}: {text}")  # noqa: E731
    points = _compute(con, cfg, repeats, fractions, say_curve)
    ensure_ratings_table(con)
    stamp = datetime.now(UTC)
    con.execute("begin transaction")
    con.execute("delete from annotations.learning_curve where scorer_id = ?", [cfg.scorer_id])
    con.executemany(
        "insert into annotations.learning_curve (scorer_id, fraction, repeat, n_ratings, "
        "n_groups, spearman, seed, folds, model, computed_at, auc_sellable) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[cfg.scorer_id, p["fraction"], p["repeat"], p["n_ratings"], p["n_groups"],
          p["spearman"], cfg.seed, cfg.folds, cfg.model, stamp, p["auc_sellable"]]
         for p in points])
    con.execute("commit")
    return points


def _compute(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig, repeats: int,
             fractions: tuple[float, ...], progress) -> list[dict]:
    from threadpoolctl import threadpool_limits

    # Hundreds of small fits: one BLAS thread each. On the shared 2-core machine several
    # threads spinning made one small cross-validation 40 times slower (84 s against 2 s,
    # measured on the demo's full_set).
    with threadpool_limits(limits=1, user_api="blas"):
        if cfg.model == "decision":
            return _decision_curve(con, cfg, repeats, fractions, progress)
        ids, y, groups = full_set_population(con)
        _check_groups(groups, cfg.folds, "full_set")
        features = load_features(con, cfg, ids)
        context = load_context(con, ids) if cfg.context_blocks else None
        points = curve_points(features.matrix, y, groups, cfg.model, cfg.folds, cfg.seed,
                              repeats, fractions, progress, context=context,
                              names=features.names, blocks=cfg.context_blocks)
    return points


def _check_groups(groups: np.ndarray, folds: int, where: str) -> None:
    # The smallest samples hold at least `folds` prompt groups (one per fold).
    n_groups = len(np.unique(groups))
    if n_groups < folds * 2:
        raise NeurostockError(
            f"{n_groups} distinct prompts in {where}: too few for a learning curve with "
            f"{folds} folds (needs {folds * 2})")


def _samples(groups: np.ndarray, folds: int, seed: int, repeats: int,
             fractions: tuple[float, ...]) -> Iterator[tuple[float, int, np.ndarray, int]]:
    """(fraction, repeat, rows kept, groups kept): seeded samples of whole groups,
    `repeats` per fraction below 1 and one at 1."""
    unique_groups = np.unique(groups)
    for fraction in fractions:
        for repeat in range(repeats if fraction < 1 else 1):
            rng = np.random.default_rng([seed, repeat, int(round(fraction * 100))])
            size = min(len(unique_groups), max(folds, round(fraction * len(unique_groups))))
            chosen = rng.choice(unique_groups, size=size, replace=False)
            yield fraction, repeat, np.isin(groups, chosen), int(size)


def _collect(groups: np.ndarray, folds: int, seed: int, repeats: int,
             fractions: tuple[float, ...], judge: Callable[[np.ndarray, int], dict],
             progress) -> list[dict]:
    points: list[dict] = []
    started = time.monotonic()
    for fraction, repeat, keep, size in _samples(groups, folds, seed, repeats, fractions):
        points.append({"fraction": fraction, "repeat": repeat, "n_ratings": int(keep.sum()),
                       "n_groups": size, **judge(keep, repeat)})
        if repeat == (repeats if fraction < 1 else 1) - 1:
            summary = summarise([p for p in points if p["fraction"] == fraction])[0]
            said = ", ".join(f"{m} {summary[m + '_mean']:.3f}" for m in METRICS
                             if summary[m + "_mean"] is not None)
            progress(f"{fraction:.0%} of the ratings ({summary['n_ratings']:,}), out of fold: "
                     f"{said} ({time.monotonic() - started:.0f} s)")
    return points


def _finite(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def curve_points(x: np.ndarray, y: np.ndarray, groups: np.ndarray, model: str, folds: int,
                 seed: int, repeats: int = 3, fractions: tuple[float, ...] = FRACTIONS,
                 progress=say, sellable: np.ndarray | None = None,
                 context: Context | None = None, names: list[str] | None = None,
                 blocks: tuple[str, ...] = ()) -> list[dict]:
    """Out-of-fold Spearman of `model` (learn/search.py's grouped cross-validation; a
    ridge with context `blocks`: learn/context_ridge.py's, on `context` and the columns
    `names`) on seeded samples of whole groups: {fraction, repeat, n_ratings, n_groups,
    spearman, auc_sellable} per sample, `repeats` samples per fraction below 1 and one at
    1. auc_sellable is the AUC of `sellable` (bool per row) by the same predictions,
    None without it."""
    quiet = lambda *_: None  # noqa: E731 - the folds' own lines would drown the curve's

    def judge(keep: np.ndarray, repeat: int) -> dict:
        if blocks:
            rows = np.flatnonzero(keep)
            predictions = context_ridge.cross_validate_context_ridge(
                x[rows], context.take(rows), names, y[rows], groups[rows], blocks, folds,
                seed + repeat, measure_blocks=False).predictions
        else:
            predictions, _, _ = cross_validate(x[keep], y[keep], groups[keep], model,
                                               folds, seed + repeat, quiet)
        return {"spearman": _finite(spearman(y[keep], predictions)),
                "auc_sellable": None if sellable is None
                else _finite(auc(sellable[keep], predictions))}

    return _collect(groups, folds, seed, repeats, fractions, judge, progress)


def _decision_curve(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig, repeats: int,
                    fractions: tuple[float, ...], progress) -> list[dict]:
    ids, ratings, groups, sellable, unusable = decision_population(con)
    _check_groups(groups, cfg.folds, "the decision population (image_ratings)")
    features = load_features(con, cfg, ids, required=False)
    # The same features training uses: a block the unusable images lack is left out.
    matrix, names, _, _ = decision.coverage_filter(
        features.matrix, features.names, features.blocks, ~unusable)
    context = load_context(con, ids)
    return decision_curve_points(matrix, context, names, ratings, unusable, sellable, groups,
                                 cfg.context_blocks, cfg.folds, cfg.seed, repeats, fractions,
                                 progress)


def decision_curve_points(matrix: np.ndarray, context: Context, names: list[str],
                          source_rating: np.ndarray, unusable: np.ndarray,
                          sellable: np.ndarray, groups: np.ndarray, blocks: tuple[str, ...],
                          folds: int, seed: int, repeats: int = 3,
                          fractions: tuple[float, ...] = FRACTIONS,
                          progress=say) -> list[dict]:
    """The decision model's curve over every rated image (1-5 on the source scale;
    `unusable`: image_ratings.is_unusable): per sample, the out-of-fold AUC of `sellable`
    and the Spearman of the score with the rating among the sample's usable images (the
    full_set ones), each image scored by a model searched and fitted on the other folds
    only (learn/decision.py)."""
    from sklearn.model_selection import GroupKFold

    unusable = np.asarray(unusable, dtype=bool)
    usable = ~unusable

    def judge(keep: np.ndarray, repeat: int) -> dict:
        rows = np.flatnonzero(keep)
        score = np.full(len(rows), np.nan)
        outer = GroupKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        for train, test in outer.split(rows, groups=groups[rows]):
            model, _ = decision.fit_decision(
                matrix[rows[train]], context.take(rows[train]), names,
                source_rating[rows[train]], unusable[rows[train]], groups[rows[train]],
                blocks)
            score[test] = model.predict(matrix[rows[test]], context.take(rows[test]))
        kept_usable = usable[rows]
        return {"spearman": _finite(spearman(source_rating[rows][kept_usable] - 1.0,
                                             score[kept_usable])),
                "auc_sellable": _finite(auc(sellable[rows], score))}

    return _collect(groups, folds, seed, repeats, fractions, judge, progress)


def fit_log_curve(points: list[dict], metric: str = "spearman") -> tuple[float, float] | None:
    """(a, b) of metric = a + b ln n, least squares over every point with a value (the
    same fit as rpt_learning_curve); None under two distinct n."""
    pairs = [(p["n_ratings"], p[metric]) for p in points if p.get(metric) is not None]
    if len({n for n, _ in pairs}) < 2:
        return None
    b, a = np.polyfit(np.log([n for n, _ in pairs]), [v for _, v in pairs], 1)
    return float(a), float(b)


def summarise(points: list[dict]) -> list[dict]:
    """Per fraction: n_ratings (mean), repeats, and per metric its mean, sd (None under
    two values), min and max (None without a value)."""
    out = []
    for fraction in sorted({p["fraction"] for p in points}):
        rows = [p for p in points if p["fraction"] == fraction]
        row = {"fraction": fraction, "n_ratings": round(np.mean([p["n_ratings"] for p in rows])),
               "n_repeats": len(rows)}
        for metric in METRICS:
            values = [p[metric] for p in rows if p.get(metric) is not None]
            row[metric + "_mean"] = float(np.mean(values)) if values else None
            row[metric + "_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
            row[metric + "_min"] = min(values) if values else None
            row[metric + "_max"] = max(values) if values else None
        out.append(row)
    return out


def curve_lines(points: list[dict]) -> list[str]:
    """The curve as text: a table per fraction, and per metric its fit and the value
    another 1,000 ratings would give on it (an extrapolation)."""
    rows = summarise(points)
    metrics = [m for m in METRICS if any(r[m + "_mean"] is not None for r in rows)]
    head = "share  ratings  " + "  ".join(f"{m + ' mean (sd) [min-max]':<34}" for m in metrics)
    lines = [head.rstrip()]
    for r in rows:
        cells = []
        for m in metrics:
            mean, sd, low, high = (r[m + s] for s in ("_mean", "_sd", "_min", "_max"))
            cells.append(f"{_num(mean)} ({_num(sd)}) [{_num(low)}-{_num(high)}]".ljust(34)
                         if mean is not None else "-".ljust(34))
        lines.append(f"{r['fraction']:>5.0%}  {r['n_ratings']:>7,}  " + "  ".join(cells).rstrip())
    n_all = max(p["n_ratings"] for p in points)
    for m in metrics:
        fit = fit_log_curve(points, m)
        if fit is None:
            lines.append(f"{m}: too few distinct sample sizes to fit a curve")
            continue
        a, b = fit
        # Capped at 1, as in rpt_learning_curve: Spearman and AUC stop there, a log does not.
        now, ahead = a + b * np.log(n_all), min(1.0, a + b * np.log(n_all + PLUS))
        guess = (f"; {PLUS:,} more is more than the {n_all:,} measured, read it as a guess"
                 if n_all < PLUS else "")
        lines.append(f"{m}: fit {a:.3f} + {b:.4f} ln n; at n = {n_all:,}: {now:.3f}; "
                     f"+{PLUS:,} ratings (n = {n_all + PLUS:,}): {ahead:.3f} "
                     f"({ahead - now:+.3f}), an EXTRAPOLATION of the fit{guess}")
    return lines


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
