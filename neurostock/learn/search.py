"""Choosing a learned model's hyper-parameters and judging it: a grouped inner grid
search (Spearman) inside each training fold, and grouped K-fold cross-validation
around it, so one prompt never sits on both sides and the test fold is never seen."""

from __future__ import annotations

import time

import numpy as np

from neurostock.core.errors import NeurostockError
from neurostock.core.progress import say
from neurostock.learn.estimators import BlockPreprocessor, OrdinalLogistic
from neurostock.learn.features import column_kinds

GRIDS = {
    "ridge": {"model__alpha": [1.0, 10.0, 100.0, 1000.0]},
    "ordinal": {"model__C": [0.01, 0.1, 1.0]},
}
# How much the whole of an embedding weighs, in scores (searched with the model's own
# regularisation; see BlockPreprocessor).
EMBEDDING_WEIGHTS = [0.5, 1.0, 2.0, 4.0]
INNER_FOLDS = 3


def pipeline(model: str, seed: int, names: list[str]):
    """The unfitted preparation + model pipeline for columns called `names`."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    estimator = Ridge() if model == "ridge" else OrdinalLogistic(seed=seed)
    embedding, score = column_kinds(names)
    return Pipeline([("prepare", BlockPreprocessor(embedding, score)), ("model", estimator)])


def grid(model: str, names: list[str]) -> dict:
    """The parameter grid searched for `model` (the embedding weight only with embeddings)."""
    chosen = dict(GRIDS[model])
    if any(column_kinds(names)[0]):
        chosen["prepare__embedding_weight"] = EMBEDDING_WEIGHTS
    return chosen


def spearman(y_true, y_pred) -> float:
    """Spearman's rho; 0 where either side is constant."""
    from scipy.stats import spearmanr

    if np.ptp(y_pred) == 0 or np.ptp(y_true) == 0:
        return 0.0
    return float(spearmanr(y_true, y_pred).statistic)


def fit_search(model: str, x: np.ndarray, y: np.ndarray, groups: np.ndarray,
               names: list[str], seed: int):
    """Choose the hyper-parameters by a grouped inner search on (x, y) only, then fit on
    all of it. Returns (fitted pipeline, chosen parameters, mean inner Spearman)."""
    folds = max(2, min(INNER_FOLDS, len(np.unique(groups))))
    if model == "ridge":
        return _ridge_search(x, y, groups, names, folds)
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GridSearchCV, GroupKFold

    search = GridSearchCV(pipeline(model, seed, names), grid(model, names),
                          scoring=make_scorer(spearman), cv=GroupKFold(n_splits=folds),
                          n_jobs=1, refit=True)
    search.fit(x, y, groups=groups)
    return search.best_estimator_, search.best_params_, float(search.best_score_)


def _ridge_search(x, y, groups, names: list[str], folds: int):
    """The same search as a grid of Ridge pipelines, computed once per inner split: the
    embedding weight w only rescales the embedding columns, so ridge on the rescaled
    columns is ridge on the unscaled ones with penalty alpha / w^2 on them. One Gram
    matrix per split and a small solve per (alpha, w) replace 16 pipeline fits."""
    from scipy.linalg import solve
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import Pipeline

    embedding, score = column_kinds(names)
    weights = EMBEDDING_WEIGHTS if any(embedding) else [1.0]
    candidates = [(alpha, w) for alpha in GRIDS["ridge"]["model__alpha"] for w in weights]
    totals = np.zeros(len(candidates))
    for train, valid in GroupKFold(n_splits=folds).split(x, y, groups):
        prepare = BlockPreprocessor(embedding, score, embedding_weight=1.0).fit(x[train])
        a = prepare.transform(x[train])
        b = prepare.transform(x[valid])
        centre = a.mean(axis=0)
        a -= centre
        b -= centre
        y_mean = y[train].mean()
        is_embedding = np.r_[np.ones(int(np.sum(embedding)), bool),
                             np.zeros(a.shape[1] - int(np.sum(embedding)), bool)]
        if len(train) < a.shape[1]:
            # Fewer rows than columns: the same solution from the n x n kernel. Penalty
            # alpha / w^2 on the embedding columns is uniform alpha with those columns
            # scaled by w, and (A'A + alpha I)^-1 A' = A' (AA' + alpha I)^-1.
            for w in weights:
                scale = np.where(is_embedding, w, 1.0)
                kernel = (a * scale) @ (a * scale).T
                cross = (b * scale) @ (a * scale).T
                for i, (alpha, cw) in enumerate(candidates):
                    if cw != w:
                        continue
                    dual = solve(kernel + alpha * np.eye(len(a)), y[train] - y_mean,
                                 assume_a="pos")
                    totals[i] += spearman(y[valid], cross @ dual + y_mean) / folds
            continue
        gram = a.T @ a
        moment = a.T @ (y[train] - y_mean)
        for i, (alpha, w) in enumerate(candidates):
            penalty = np.where(is_embedding, alpha / w**2, alpha)
            coefficients = solve(gram + np.diag(penalty), moment, assume_a="pos")
            totals[i] += spearman(y[valid], b @ coefficients + y_mean) / folds
    best = int(np.argmax(totals))  # ties: the first, i.e. the smaller alpha
    alpha, w = candidates[best]
    params = {"model__alpha": alpha}
    if any(embedding):
        params["prepare__embedding_weight"] = w
    fitted = Pipeline([("prepare", BlockPreprocessor(embedding, score, embedding_weight=w)),
                       ("model", Ridge(alpha=alpha))]).fit(x, y)
    return fitted, params, float(totals[best])


def cross_validate(x: np.ndarray, y: np.ndarray, groups: np.ndarray, model: str, folds: int,
                   seed: int, progress=say, names: list[str] | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Out-of-fold predictions, each row's fold, and per fold the chosen parameters."""
    from sklearn.model_selection import GroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise NeurostockError(f"{n_groups} distinct prompts: too few for {folds}-fold "
                              "grouped cross-validation")
    names = names if names is not None else [f"x[{j}]" for j in range(x.shape[1])]
    outer = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    predictions = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1)
    chosen = []
    for fold, (train, test) in enumerate(outer.split(x, y, groups)):
        started = time.monotonic()
        fitted, params, inner = fit_search(model, x[train], y[train], groups[train], names,
                                           seed)
        predictions[test] = fitted.predict(x[test])
        fold_of[test] = fold
        chosen.append({"fold": fold, "n_train": int(len(train)), "n_test": int(len(test)),
                       "params": params, "inner_spearman": inner,
                       "spearman": spearman(y[test], predictions[test])})
        progress(f"fold {fold + 1}/{folds}: {chosen[-1]['params']}, Spearman "
                 f"{chosen[-1]['spearman']:.3f} on {len(test):,} held-out images "
                 f"({time.monotonic() - started:.1f} s)")
    return predictions, fold_of, chosen
