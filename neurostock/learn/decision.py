"""The `decision` learned model: it learns the sell decision from EVERY rated image,
the unusable ones (resolved rating 5) included, as a two-part model:

    score = P(usable) x E[rating 0-3 | usable]

- P(usable): a logistic regression of "rated 1-4 rather than 5" over every rated image,
  with the penalties a ridge search on the 0/1 target chose (`_logistic_usable`);
- E[rating | usable]: a ridge regression on the rating 0-3 over the usable images only
  (clipped to 0-3).

The score is the expected rating with unusable counted as 0: it orders images by
expected sellability. Both parts read the same features: the chosen embeddings and valid
scores (learn/features.py) and the context blocks (learn/context.py); the weight of
the embeddings and of each context block, and the ridge penalty, are searched per part
inside each training fold (inner grouped 3-fold: AUC of usable for the first part,
Spearman among usable images for the second). Every candidate is solved from Gram
matrices computed once per training fold (a ridge with a block weight w is a ridge with
penalty alpha / w^2 on that block's columns; w = 0 leaves the block out), so the search
costs Cholesky solves, not model fits.

This module fits: the preparation, both parts, the search, `fit_decision` and the outer
cross-validation `cross_validate_decision`. Which images are unusable is the warehouse's
rule (image_ratings.is_unusable), passed in beside the ratings, never derived here.
learn/decision_metrics.py judges the out-of-fold scores: AUC of sellable (resolved rating
3-4 against everything else, 5 included) and the precision of sellable among the images
kept over the whole decision population, with grouped bootstrap intervals; each
switchable block's contribution is the drop in that AUC when it is left out (same folds,
the other parameters as chosen), with a paired grouped bootstrap interval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from neurostock.core.errors import NeurostockError
from neurostock.core.progress import say
from neurostock.learn.context import Context, ContextEncoder
from neurostock.learn.estimators import BlockPreprocessor
from neurostock.learn.features import column_kinds
from neurostock.learn.search import EMBEDDING_WEIGHTS, spearman

ALPHAS = [1.0, 10.0, 100.0, 1000.0]
# A context block's weight; 0 leaves it out.
BLOCK_WEIGHTS = [0.0, 0.5, 1.0, 2.0, 4.0]
INNER_FOLDS = 3
# A block left out (weight 0) gets this penalty factor: its coefficients are ~0.
_OFF = 1e12
# A feature block (embedding or score) whose coverage of the usable and of the unusable
# images differs by more than this is left out: its missingness would give the label away
# (PIA was run on usable images only).
MAX_COVERAGE_GAP = 0.05
TARGET = ("two-part: P(usable) (logistic regression on rated 1-4 vs 5) x "
          "E[rating 0-3 | usable] (ridge on usable images)")


def coverage_filter(matrix: np.ndarray, names: list[str], blocks: list[dict],
                    usable: np.ndarray) -> tuple[np.ndarray, list[str], list[dict], list[dict]]:
    """Leave out each embedding or score block whose share of images that have it differs
    between the usable and the unusable images by more than MAX_COVERAGE_GAP. Returns
    (matrix, names, kept blocks, left-out blocks with the reason)."""
    keep = np.ones(len(names), bool)
    kept, left_out = [], []
    for block in blocks:
        name = block["block"]
        columns = np.array([n == name or n.startswith(name + "[") or n == f"has_{name}"
                            for n in names])
        first = int(np.flatnonzero(columns)[0])
        present = ~np.isnan(matrix[:, first])
        shares = [float(present[usable].mean()) if usable.any() else 0.0,
                  float(present[~usable].mean()) if (~usable).any() else 0.0]
        if abs(shares[0] - shares[1]) > MAX_COVERAGE_GAP:
            keep &= ~columns
            left_out.append({**block, "reason": (
                f"covers {shares[0]:.0%} of usable and {shares[1]:.0%} of unusable rated "
                "images: its missingness would give the label away")})
        else:
            kept.append({**block, "coverage_usable": shares[0], "coverage_unusable": shares[1]})
    return matrix[:, keep], [n for n, k in zip(names, keep, strict=True) if k], kept, left_out


def droppable(name: str) -> str:
    """The switchable block a column belongs to (for the drop-one contributions)."""
    bare = name[4:] if name.startswith("has_") else name
    if bare.startswith("image:"):
        return "image_embeddings"
    if bare.startswith("prompt:"):
        return "prompt_embeddings"
    if bare.startswith("score:"):
        return "scores"
    return name.split(":", 1)[0]


class Preparer:
    """Features -> one dense design: BlockPreprocessor's columns (embeddings standardised
    and scaled 1/sqrt(dim), scores quantile-normal, has_* indicators), the context blocks
    (ContextEncoder), then a column of ones (the intercept, never penalised). `groups`
    names each column's penalty group: `embeddings`, `fixed` (scores and indicators, weight
    1), a context block, or `intercept`; `parts` each column's switchable block."""

    def __init__(self, names: list[str], blocks: tuple[str, ...]):
        self.names = names
        self.blocks = blocks

    def fit(self, matrix: np.ndarray, context: Context) -> Preparer:
        embedding, score = column_kinds(self.names)
        self.numeric = BlockPreprocessor(embedding, score, embedding_weight=1.0).fit(matrix) \
            if matrix.shape[1] else None
        self.context = ContextEncoder(self.blocks).fit(context)
        embedding, score = np.array(embedding, bool), np.array(score, bool)
        order = (list(np.flatnonzero(embedding)) + list(np.flatnonzero(score))
                 + list(np.flatnonzero(~(embedding | score)))) if matrix.shape[1] else []
        self.columns = [self.names[j] for j in order]
        groups = ["embeddings" if embedding[j] else "fixed" for j in order]
        parts = [droppable(c) for c in self.columns]
        for block in self.blocks:
            width = len(self.context.names_[block])
            self.columns += self.context.names_[block]
            groups += [block] * width
            parts += [block] * width
        self.columns.append("intercept")
        self.groups = np.array([*groups, "intercept"], dtype=object)
        self.parts = np.array([*parts, "intercept"], dtype=object)
        return self

    def transform(self, matrix: np.ndarray, context: Context) -> np.ndarray:
        parts = [self.numeric.transform(matrix)] if self.numeric is not None else []
        encoded = self.context.transform(context)
        parts += [encoded[b] for b in self.blocks]
        parts.append(np.ones((len(context.prompt), 1)))
        return np.hstack(parts)


@dataclass
class PartFit:
    """One part's chosen parameters, coefficients, inner score and a logistic map of its
    linear predictor: (0, 1) for models fitted since P(usable) is a logistic regression;
    a Platt map in models saved before, which still predict as they did."""

    params: dict
    beta: np.ndarray
    inner: float
    platt: tuple[float, float] = (0.0, 1.0)


@dataclass
class DecisionModel:
    """A fitted two-part model: preparation, both parts' coefficients."""

    preparer: Preparer
    usable: PartFit
    rating: PartFit
    info: dict = field(default_factory=dict)

    def parts(self, matrix: np.ndarray, context: Context) -> tuple[np.ndarray, np.ndarray]:
        """(P(usable), E[rating 0-3 | usable]) per image."""
        a = self.preparer.transform(matrix, context)
        return _combine_parts(a @ self.usable.beta, a @ self.rating.beta, self.usable.platt)

    def predict(self, matrix: np.ndarray, context: Context) -> np.ndarray:
        """The score: P(usable) x E[rating 0-3 | usable], 0-3, higher is more sellable."""
        p, r = self.parts(matrix, context)
        return p * r


def _combine_parts(linear_usable, linear_rating, platt):
    a, b = platt
    p = 1.0 / (1.0 + np.exp(-(a + b * linear_usable)))
    return p, np.clip(linear_rating, 0.0, 3.0)


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUC of `labels` (bool) by `scores` from average ranks (ties count half); NaN with
    one class only. The inner search's criterion: one unweighted AUC, fast."""
    from scipy.stats import rankdata

    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class _Grams:
    """Per inner fold, the Gram matrices and moments of both parts' rows; `solve` gives
    the ridge coefficients of a part, fitted without one inner fold (or on all rows),
    for a per-column penalty. The first `n_embedding` columns (the embeddings) share one
    penalty in every candidate of the search: their Gram block is diagonalised once per
    (part, fold) and each candidate costs a solve of the other columns' Schur complement
    (an embedding penalty seen before costs less still)."""

    def __init__(self, a: np.ndarray, usable: np.ndarray, rating: np.ndarray,
                 fold: np.ndarray, folds: int, n_embedding: int = 0):
        self.a, self.fold, self.folds = a, fold, folds
        self.e = n_embedding
        self._eigen: dict = {}
        self.usable = usable
        self.rating = rating
        t1 = usable.astype(float)
        t2 = np.where(usable, rating, 0.0)
        self.g1, self.m1, self.g2, self.m2 = [], [], [], []
        for k in range(folds):
            rows = fold == k
            a_u, a_5 = a[rows & usable], a[rows & ~usable]
            g_u = a_u.T @ a_u
            self.g2.append(g_u)
            self.g1.append(g_u + a_5.T @ a_5)
            self.m1.append(a[rows].T @ t1[rows])
            self.m2.append(a_u.T @ t2[rows & usable])
        self.g1_all, self.m1_all = sum(self.g1), sum(self.m1)
        self.g2_all, self.m2_all = sum(self.g2), sum(self.m2)

    def gram(self, part: int, without: int | None = None):
        g_all, m_all, g, m = ((self.g1_all, self.m1_all, self.g1, self.m1) if part == 1
                              else (self.g2_all, self.m2_all, self.g2, self.m2))
        if without is None:
            return g_all, m_all
        return g_all - g[without], m_all - m[without]

    def solve(self, part: int, without: int | None, penalty: np.ndarray) -> np.ndarray:
        """Ridge coefficients: (G + diag(penalty)) beta = m on the part's rows, without
        inner fold `without` (None: all rows)."""
        e = self.e
        if e == 0 or not np.all(penalty[:e] == penalty[0]):
            return _solve(*self.gram(part, without), penalty)
        key = (part, without)
        if key not in self._eigen:
            from scipy.linalg import eigh

            g, m = self.gram(part, without)
            s, v = eigh(g[:e, :e], check_finite=False)
            b = g[e:, :e] @ v
            self._eigen[key] = (np.maximum(s, 0.0), v, b, v.T @ m[:e], g[e:, e:], m[e:], {})
        s, v, b, c, g_rr, m_r, by_lambda = self._eigen[key]
        lam = float(penalty[0])
        if lam not in by_lambda:
            inverse = 1.0 / (s + lam)
            by_lambda[lam] = ((b * inverse) @ b.T, b @ (c * inverse), inverse)
        schur, shift, inverse = by_lambda[lam]
        beta_r = _solve(g_rr - schur, m_r - shift, penalty[e:])
        beta_e = v @ ((c - b.T @ beta_r) * inverse)
        return np.r_[beta_e, beta_r]


def _solve(gram: np.ndarray, moment: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    from scipy.linalg import LinAlgError, cho_factor, cho_solve, lstsq

    matrix = gram + np.diag(penalty)
    try:
        return cho_solve(cho_factor(matrix, check_finite=False), moment, check_finite=False)
    except LinAlgError:  # a fold without rows of one part: least squares instead
        return lstsq(matrix, moment, check_finite=False)[0]


def _penalty(preparer: Preparer, params: dict, dropped: str | None = None) -> np.ndarray:
    """Per column: alpha / w^2 of its group (w = 0 or `dropped`: left out)."""
    factors = np.ones(len(preparer.groups))
    for group in set(preparer.groups.tolist()):
        mask = preparer.groups == group
        if group == "intercept":
            factors[mask] = 0.0
        elif group != "fixed":
            w = params.get(f"w_{group}", 1.0)
            factors[mask] = _OFF if w == 0 else 1.0 / w**2
    if dropped is not None:
        factors[preparer.parts == dropped] = _OFF
    return params["alpha"] * factors


def _inner_score(part: int, grams: _Grams, preparer: Preparer, params: dict,
                 dropped: str | None = None) -> tuple[float, np.ndarray]:
    """Mean inner-validation criterion and the inner out-of-fold linear predictions."""
    penalty = _penalty(preparer, params, dropped)
    predictions = np.full(len(grams.fold), np.nan)
    values = []
    for k in range(grams.folds):
        rows = grams.fold == k
        beta = grams.solve(part, k, penalty)
        predictions[rows] = grams.a[rows] @ beta
        if part == 1:
            values.append(rank_auc(grams.usable[rows], predictions[rows]))
        else:
            keep = rows & grams.usable
            values.append(spearman(grams.rating[keep], predictions[keep])
                          if keep.sum() > 2 else np.nan)
    values = [v for v in values if not np.isnan(v)]
    return (float(np.mean(values)) if values else 0.0), predictions


def _search_part(part: int, grams: _Grams, preparer: Preparer) -> tuple[dict, float, np.ndarray]:
    """Coordinate search: alpha x embedding weight (context blocks at 1), then each context
    block's weight in turn, then alpha again. Returns (params, inner score, inner OOF)."""
    cache: dict = {}

    def evaluate(params: dict):
        key = tuple(sorted(params.items()))
        if key not in cache:
            cache[key] = _inner_score(part, grams, preparer, params)
        return cache[key]

    has_embeddings = bool((preparer.groups == "embeddings").any())
    context = [b for b in preparer.blocks if (preparer.groups == b).any()]
    base = {f"w_{b}": 1.0 for b in context}
    best, best_value = None, -np.inf
    for alpha in ALPHAS:
        for w in (EMBEDDING_WEIGHTS if has_embeddings else [1.0]):
            params = {"alpha": alpha, **base, **({"w_embeddings": w} if has_embeddings else {})}
            value = evaluate(params)[0]
            if value > best_value:
                best, best_value = params, value
    for block in context:
        for w in BLOCK_WEIGHTS:
            params = {**best, f"w_{block}": w}
            value = evaluate(params)[0]
            if value > best_value:
                best, best_value = params, value
    for alpha in ALPHAS:
        params = {**best, "alpha": alpha}
        value = evaluate(params)[0]
        if value > best_value:
            best, best_value = params, value
    return best, best_value, evaluate(best)[1]


def _inner_folds(groups: np.ndarray) -> tuple[np.ndarray, int]:
    from sklearn.model_selection import GroupKFold

    folds = max(2, min(INNER_FOLDS, len(np.unique(groups))))
    fold = np.full(len(groups), -1)
    for k, (_, valid) in enumerate(GroupKFold(n_splits=folds).split(groups, groups=groups)):
        fold[valid] = k
    return fold, folds


def fit_decision(matrix: np.ndarray, context: Context, names: list[str],
                 source_rating: np.ndarray, unusable: np.ndarray, groups: np.ndarray,
                 blocks: tuple[str, ...], drops: tuple[str, ...] = ()
                 ) -> tuple[DecisionModel, dict]:
    """Search both parts inside (matrix, context, ratings) only and fit them on all of it.
    `source_rating`: resolved ratings 1-5; `unusable`: image_ratings.is_unusable of the
    same rows. Returns the model and, per block of `drops`, a model without it (same
    parameters)."""
    from threadpoolctl import threadpool_limits

    # Hundreds of small solves: one BLAS thread each. Several threads spin on these sizes
    # and, on a shared machine, made the search 10-20 times slower (measured).
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_decision(matrix, context, names, source_rating, unusable, groups, blocks,
                             drops)


def _fit_decision(matrix, context, names, source_rating, unusable, groups, blocks, drops):
    preparer = Preparer(names, blocks).fit(matrix, context)
    a = preparer.transform(matrix, context)
    usable = ~np.asarray(unusable, dtype=bool)
    rating = np.where(usable, source_rating - 1.0, 0.0)
    fold, folds = _inner_folds(groups)
    grams = _Grams(a, usable, rating, fold, folds,
                   n_embedding=int((preparer.groups == "embeddings").sum()))
    fits = {}
    for part in (1, 2):
        params, inner, oof = _search_part(part, grams, preparer)
        if part == 1:
            beta = _logistic_usable(a, usable, preparer, params)
        else:
            beta = grams.solve(part, None, _penalty(preparer, params))
        fits[part] = PartFit(params=params, beta=beta, inner=inner)
    model = DecisionModel(preparer, fits[1], fits[2])
    without = {}
    for block in drops:
        if not (preparer.parts == block).any():
            continue
        parts = {}
        for part in (1, 2):
            params = fits[part].params
            beta = (_logistic_usable(a, usable, preparer, params, block, start=fits[1].beta)
                    if part == 1
                    else grams.solve(part, None, _penalty(preparer, params, dropped=block)))
            parts[part] = PartFit(params=params, beta=beta, inner=np.nan)
        without[block] = DecisionModel(preparer, parts[1], parts[2])
    return model, without


def fit_rating_part(matrix: np.ndarray, context: Context, names: list[str],
                    rating: np.ndarray, groups: np.ndarray, blocks: tuple[str, ...],
                    drops: tuple[str, ...] = ()
                    ) -> tuple[Preparer, PartFit, dict[str, np.ndarray]]:
    """The E[rating] part alone, on rows that are all usable: ridge on `rating` (0-3)
    over the features and context `blocks`, alpha and each block's weight chosen by the
    same inner grouped search (Spearman) as the decision's rating half. Returns the
    preparation, the fit and, per block of `drops` present, the coefficients without it
    (same parameters). The quality model with context (learn/context_ridge.py)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        preparer = Preparer(names, blocks).fit(matrix, context)
        a = preparer.transform(matrix, context)
        usable = np.ones(len(rating), dtype=bool)
        fold, folds = _inner_folds(groups)
        grams = _Grams(a, usable, np.asarray(rating, dtype=float), fold, folds,
                       n_embedding=int((preparer.groups == "embeddings").sum()))
        params, inner, _ = _search_part(2, grams, preparer)
        fit = PartFit(params=params, beta=grams.solve(2, None, _penalty(preparer, params)),
                      inner=inner)
        without = {block: grams.solve(2, None, _penalty(preparer, params, dropped=block))
                   for block in drops if (preparer.parts == block).any()}
    return preparer, fit, without


def _logistic_usable(a: np.ndarray, usable: np.ndarray, preparer: Preparer, params: dict,
                     dropped: str | None = None, start: np.ndarray | None = None
                     ) -> np.ndarray:
    """P(usable)'s coefficients on the design `a` (its linear predictor, so that
    p = sigmoid(a @ beta)): a logistic regression with the penalties the ridge search
    chose. A column with penalty alpha / w^2 is scaled by w under one penalty alpha
    (w = 0 or `dropped`: left out); C matches the ridge's penalty to the logistic loss's
    curvature, C = 1 / (alpha x r(1 - r)), r the share usable. Ridge on the 0/1 target
    ranked usable images worse than a logistic regression on the same columns
    (AGIQA-3K: AUC of usable 0.928 against 0.939, learn/rivals.py). `start`: the
    coefficients of a nearby fit (the model with every block) to start the solver from."""
    from sklearn.linear_model import LogisticRegression

    penalty = _penalty(preparer, params, dropped)
    beta = np.zeros(a.shape[1])
    intercept = preparer.groups == "intercept"
    share = float(np.mean(usable))
    alpha = float(params["alpha"])
    keep = ~intercept & (penalty < alpha * _OFF / 10)
    if share in (0.0, 1.0) or not keep.any():  # one class, or no column left: the rate
        beta[intercept] = np.log((share + 1e-3) / (1 - share + 1e-3))
        return beta
    scale = np.sqrt(alpha / penalty[keep])
    fit = LogisticRegression(C=1.0 / (alpha * share * (1.0 - share)), max_iter=2000,
                             warm_start=start is not None)
    if start is not None:
        fit.coef_ = (start[keep] / scale)[None, :]
        fit.intercept_ = start[intercept][:1].copy()
    fit.fit(a[:, keep] * scale, usable)
    beta[keep] = fit.coef_[0] * scale
    beta[intercept] = fit.intercept_[0]
    return beta


def switchable_blocks(names: list[str], blocks: tuple[str, ...]) -> list[str]:
    """The blocks whose contribution is measured: embeddings per kind, scores, context."""
    present = []
    for name in names:
        part = droppable(name)
        if part not in present:
            present.append(part)
    return present + [b for b in blocks if b not in present]


@dataclass
class DecisionCV:
    """Out-of-fold results over the decision population."""

    score: np.ndarray
    p_usable: np.ndarray
    rating: np.ndarray
    fold_of: np.ndarray
    folds: list[dict]
    without: dict[str, np.ndarray]
    # The halves' rivals (learn/rivals.py), out of fold: a logistic P(usable) on the
    # same design, the ridge quality model's rating; None when not fitted.
    rival_usable: np.ndarray | None = None
    rival_rating: np.ndarray | None = None


def cross_validate_decision(matrix: np.ndarray, context: Context, names: list[str],
                            source_rating: np.ndarray, unusable: np.ndarray,
                            groups: np.ndarray, blocks: tuple[str, ...], folds: int,
                            seed: int, progress=say, rivals: bool = True) -> DecisionCV:
    """Grouped K-fold: every rated image scored by a model (searched and fitted on the
    other folds) that never saw it nor its prompt; per switchable block, the score of
    the same models without it; and, `rivals`, each half's rival (learn/rivals.py)
    fitted on the same folds."""
    from sklearn.model_selection import GroupKFold

    from neurostock.learn import rivals as rival_models

    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise NeurostockError(f"{n_groups} distinct prompts: too few for {folds}-fold "
                              "grouped cross-validation")
    n = len(source_rating)
    drops = tuple(switchable_blocks(names, blocks))
    score, p_usable, rating = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    fold_of = np.full(n, -1)
    without = {b: np.full(n, np.nan) for b in drops}
    rival_usable = np.full(n, np.nan) if rivals else None
    rival_rating = np.full(n, np.nan) if rivals else None
    chosen = []
    unusable = np.asarray(unusable, dtype=bool)
    usable = ~unusable
    outer = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(outer.split(matrix, source_rating, groups)):
        started = time.monotonic()
        model, dropped = fit_decision(matrix[train], context.take(train), names,
                                      source_rating[train], unusable[train], groups[train],
                                      blocks, drops)
        p, r = model.parts(matrix[test], context.take(test))
        p_usable[test], rating[test], score[test] = p, r, p * r
        for block, other in dropped.items():
            without[block][test] = other.predict(matrix[test], context.take(test))
        fold_of[test] = k
        chosen.append({"fold": k, "n_train": int(len(train)), "n_test": int(len(test)),
                       "params_usable": model.usable.params, "params_rating": model.rating.params,
                       "inner_auc_usable": model.usable.inner,
                       "inner_spearman_rating": model.rating.inner,
                       "auc_usable": rank_auc(usable[test], p)})
        if rivals:
            design = model.preparer.transform(matrix[train], context.take(train))
            rival_usable[test], c = rival_models.logistic_usable(
                design, usable[train], _inner_folds(groups[train])[0],
                model.preparer.transform(matrix[test], context.take(test)))
            kept = train[usable[train]]
            rival_rating[test], params = rival_models.ridge_rating(
                matrix[kept], source_rating[kept] - 1.0, groups[kept], names, seed,
                matrix[test])
            chosen[-1] |= {"rival_logistic_c": c, "rival_ridge_params": params}
        progress(f"fold {k + 1}/{folds}: P(usable) {model.usable.params}, "
                 f"E[rating] {model.rating.params}; AUC of usable "
                 f"{chosen[-1]['auc_usable']:.3f} on {len(test):,} held-out images "
                 f"({time.monotonic() - started:.1f} s)")
    # A block absent from every fold has no contribution to measure.
    without = {b: v for b, v in without.items() if not np.isnan(v).any()}
    return DecisionCV(score, p_usable, rating, fold_of, chosen, without, rival_usable,
                      rival_rating)
