"""The learning curve: does rating more pay? (`neurostock ratings curve`)

For a learned model (its features and estimator as configured), the out-of-fold
Spearman on full_set when it learns from 10 %, 20 %, ..., 100 % of the rated images.
Each fraction is a seeded sample of whole prompt groups (the unit the model's
cross-validation keeps together), drawn `repeats` times; each sample is judged by the
model's own grouped cross-validation (learn/search.py). The points go to
`annotations.learning_curve`; `rpt_learning_curve` fits Spearman = a + b ln n to the
means and says what another 1,000 ratings would give on that curve (an
extrapolation, and labelled so)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import duckdb
import numpy as np

from learn.features import group_key, load_features
from learn.search import cross_validate, spearman
from neurostock.core.config import LearnedConfig
from neurostock.core.errors import NeurostockError
from neurostock.core.meta import ensure_ratings_table
from neurostock.core.progress import say

FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 11))

def learning_curve(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig, repeats: int = 3,
                   fractions: tuple[float, ...] = FRACTIONS, progress=say) -> list[dict]:
    """Compute the curve of `cfg` and replace its rows in annotations.learning_curve."""
    if not con.execute("select count(*) from duckdb_tables() where table_name = 'full_set'"
                       ).fetchone()[0]:
        raise NeurostockError("table full_set is missing: run `neurostock build` first")
    rows = con.execute("select image_id, rating, prompt from full_set order by image_id"
                       ).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    y = np.array([r[1] for r in rows], dtype=np.float64)
    groups = np.array([group_key(r[2]) for r in rows], dtype=object)
    unique_groups = np.unique(groups)
    # The smallest samples hold at least `folds` prompt groups (one per fold).
    if len(unique_groups) < cfg.folds * 2:
        raise NeurostockError(
            f"{len(unique_groups)} distinct prompts in full_set: too few for a learning "
            f"curve with {cfg.folds} folds (needs {cfg.folds * 2})")
    x = load_features(con, cfg, ids).matrix
    points = curve_points(x, y, groups, cfg.model, cfg.folds, cfg.seed, repeats, fractions,
                          lambda text: progress(f"learning curve {cfg.scorer_id}: {text}"))
    ensure_ratings_table(con)
    stamp = datetime.now(UTC)
    con.execute("begin transaction")
    con.execute("delete from annotations.learning_curve where scorer_id = ?", [cfg.scorer_id])
    con.executemany(
        "insert into annotations.learning_curve values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[cfg.scorer_id, p["fraction"], p["repeat"], p["n_ratings"], p["n_groups"],
          p["spearman"], cfg.seed, cfg.folds, cfg.model, stamp] for p in points])
    con.execute("commit")
    return points


def curve_points(x: np.ndarray, y: np.ndarray, groups: np.ndarray, model: str, folds: int,
                 seed: int, repeats: int = 3, fractions: tuple[float, ...] = FRACTIONS,
                 progress=say) -> list[dict]:
    """Out-of-fold Spearman of `model` (learn/search.py's grouped cross-validation) on
    seeded samples of whole groups: {fraction, repeat, n_ratings, n_groups, spearman}
    per sample, `repeats` samples per fraction below 1 and one at 1."""
    unique_groups = np.unique(groups)
    quiet = lambda *_: None  # noqa: E731 - the folds' own lines would drown the curve's
    points = []
    started = time.monotonic()
    for fraction in fractions:
        for repeat in range(repeats if fraction < 1 else 1):
            rng = np.random.default_rng([seed, repeat, int(round(fraction * 100))])
            size = min(len(unique_groups), max(folds, round(fraction * len(unique_groups))))
            chosen = rng.choice(unique_groups, size=size, replace=False)
            keep = np.isin(groups, chosen)
            predictions, _, _ = cross_validate(x[keep], y[keep], groups[keep], model, folds,
                                               seed + repeat, quiet)
            rho = spearman(y[keep], predictions)
            points.append({"fraction": fraction, "repeat": repeat,
                           "n_ratings": int(keep.sum()), "n_groups": int(size),
                           "spearman": None if np.isnan(rho) else float(rho)})
        values = [p["spearman"] for p in points
                  if p["fraction"] == fraction and p["spearman"] is not None]
        mean = float(np.mean(values)) if values else float("nan")
        progress(f"{fraction:.0%} of the ratings, out-of-fold Spearman {mean:.3f} "
                 f"({time.monotonic() - started:.0f} s)")
    return points


def fit_log_curve(points: list[dict]) -> tuple[float, float]:
    """(a, b) of Spearman = a + b ln n, least squares over every point (the same fit as
    rpt_learning_curve)."""
    n = np.array([p["n_ratings"] for p in points if p["spearman"] is not None], dtype=float)
    rho = np.array([p["spearman"] for p in points if p["spearman"] is not None])
    b, a = np.polyfit(np.log(n), rho, 1)
    return float(a), float(b)
