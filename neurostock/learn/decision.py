"""The `decision` learned model: it learns the sell decision from EVERY rated image,
the unusable ones (resolved rating 5) included, as a two-part model:

    score = P(usable) x E[rating 0-3 | usable]

- P(usable): a ridge regression on the 0/1 target "rated 1-4 rather than 5" over every
  rated image, mapped to a probability by a logistic (Platt) fit on its inner
  out-of-fold predictions;
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

Judged out of fold (grouped by prompt) over the whole decision population: AUC of
sellable (resolved rating 3-4 against everything else, 5 included) and the precision of
sellable among the images kept, with grouped bootstrap intervals; each switchable block's
contribution is the drop in that AUC when it is left out (same folds, the other
parameters as chosen), with a paired grouped bootstrap interval.
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
BOOTSTRAP_REPLICATES = 1000
KEEP_SHARES = (0.1, 0.25, 0.5)
TARGET = ("two-part: P(usable) (ridge on rated 1-4 vs 5, Platt-scaled) x "
          "E[rating 0-3 | usable] (ridge on usable images)")


def usable_of(source_rating: np.ndarray) -> np.ndarray:
    """Rated 1-4 on the source scale (5 = unusable)."""
    return (source_rating >= 1) & (source_rating <= 4)


def ordinal_code(source_rating: np.ndarray) -> np.ndarray:
    """unusable < 1 < 2 < 3 < 4 as 0..4."""
    return np.where(source_rating == 5, 0.0, source_rating)


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
    """One part's chosen parameters, coefficients, inner score and (part 1) Platt map."""

    params: dict
    beta: np.ndarray
    inner: float
    platt: tuple[float, float] = (0.0, 1.0)


@dataclass
class DecisionModel:
    """A fitted two-part model: preparation, both parts' coefficients, the Platt map."""

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


def _auc_fast(labels: np.ndarray, scores: np.ndarray) -> float:
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
            values.append(_auc_fast(grams.usable[rows], predictions[rows]))
        else:
            keep = rows & grams.usable
            values.append(spearman(grams.rating[keep], predictions[keep])
                          if keep.sum() > 2 else np.nan)
    values = [v for v in values if not np.isnan(v)]
    return (float(np.mean(values)) if values else 0.0), predictions


def _platt(linear: np.ndarray, usable: np.ndarray) -> tuple[float, float]:
    """Logistic map of a linear prediction to P(usable), fitted on out-of-fold values."""
    from sklearn.linear_model import LogisticRegression

    keep = ~np.isnan(linear)
    if usable[keep].min() == usable[keep].max():
        share = float(usable[keep].mean())
        return float(np.log((share + 1e-3) / (1 - share + 1e-3))), 0.0
    fit = LogisticRegression(C=1e4, max_iter=1000).fit(linear[keep, None], usable[keep])
    return float(fit.intercept_[0]), float(fit.coef_[0, 0])


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
                 source_rating: np.ndarray, groups: np.ndarray, blocks: tuple[str, ...],
                 drops: tuple[str, ...] = ()) -> tuple[DecisionModel, dict]:
    """Search both parts inside (matrix, context, ratings) only and fit them on all of it.
    Returns the model and, per block of `drops`, a model without it (same parameters)."""
    from threadpoolctl import threadpool_limits

    # Hundreds of small solves: one BLAS thread each. Several threads spin on these sizes
    # and, on a shared machine, made the search 10-20 times slower (measured).
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_decision(matrix, context, names, source_rating, groups, blocks, drops)


def _fit_decision(matrix, context, names, source_rating, groups, blocks, drops):
    preparer = Preparer(names, blocks).fit(matrix, context)
    a = preparer.transform(matrix, context)
    usable = usable_of(source_rating)
    rating = np.where(usable, source_rating - 1.0, 0.0)
    fold, folds = _inner_folds(groups)
    grams = _Grams(a, usable, rating, fold, folds,
                   n_embedding=int((preparer.groups == "embeddings").sum()))
    fits = {}
    for part in (1, 2):
        params, inner, oof = _search_part(part, grams, preparer)
        beta = grams.solve(part, None, _penalty(preparer, params))
        fits[part] = PartFit(params=params, beta=beta, inner=inner,
                             platt=_platt(oof, usable) if part == 1 else (0.0, 1.0))
    model = DecisionModel(preparer, fits[1], fits[2])
    without = {}
    for block in drops:
        if not (preparer.parts == block).any():
            continue
        parts = {}
        for part in (1, 2):
            params = fits[part].params
            beta = grams.solve(part, None, _penalty(preparer, params, dropped=block))
            platt = (_platt(_inner_score(1, grams, preparer, params, block)[1], usable)
                     if part == 1 else (0.0, 1.0))
            parts[part] = PartFit(params=params, beta=beta, inner=np.nan, platt=platt)
        without[block] = DecisionModel(preparer, parts[1], parts[2])
    return model, without


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


def cross_validate_decision(matrix: np.ndarray, context: Context, names: list[str],
                            source_rating: np.ndarray, groups: np.ndarray,
                            blocks: tuple[str, ...], folds: int, seed: int,
                            progress=say) -> DecisionCV:
    """Grouped K-fold: every rated image scored by a model (searched and fitted on the
    other folds) that never saw it nor its prompt; and, per switchable block, the score
    of the same models without it."""
    from sklearn.model_selection import GroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise NeurostockError(f"{n_groups} distinct prompts: too few for {folds}-fold "
                              "grouped cross-validation")
    n = len(source_rating)
    drops = tuple(switchable_blocks(names, blocks))
    score, p_usable, rating = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    fold_of = np.full(n, -1)
    without = {b: np.full(n, np.nan) for b in drops}
    chosen = []
    usable = usable_of(source_rating)
    outer = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(outer.split(matrix, source_rating, groups)):
        started = time.monotonic()
        model, dropped = fit_decision(matrix[train], context.take(train), names,
                                      source_rating[train], groups[train], blocks, drops)
        p, r = model.parts(matrix[test], context.take(test))
        p_usable[test], rating[test], score[test] = p, r, p * r
        for block, other in dropped.items():
            without[block][test] = other.predict(matrix[test], context.take(test))
        fold_of[test] = k
        chosen.append({"fold": k, "n_train": int(len(train)), "n_test": int(len(test)),
                       "params_usable": model.usable.params, "params_rating": model.rating.params,
                       "inner_auc_usable": model.usable.inner,
                       "inner_spearman_rating": model.rating.inner,
                       "auc_usable": _auc_fast(usable[test], p)})
        progress(f"fold {k + 1}/{folds}: P(usable) {model.usable.params}, "
                 f"E[rating] {model.rating.params}; AUC of usable "
                 f"{chosen[-1]['auc_usable']:.3f} on {len(test):,} held-out images "
                 f"({time.monotonic() - started:.1f} s)")
    # A block absent from every fold has no contribution to measure.
    without = {b: v for b, v in without.items() if not np.isnan(v).any()}
    return DecisionCV(score, p_usable, rating, fold_of, chosen, without)


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


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    values = values[~np.isnan(values)]
    if not len(values):
        return None, None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _bootstrap_weights(groups: np.ndarray, replicates: int, seed: int):
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
                     groups: np.ndarray, seed: int,
                     replicates: int = BOOTSTRAP_REPLICATES) -> dict:
    """Out-of-fold AUC and precision of sellable over the decision population, each
    block's contribution (AUC with it minus AUC without it), grouped bootstrap 95%
    intervals (prompts resampled; the same draws for every figure, so differences are
    paired)."""
    sellable = sellable.astype(bool)
    usable = usable_of(source_rating)
    base_rate = float(sellable.mean())
    shares = [*KEEP_SHARES, base_rate]
    point_auc = auc(sellable, cv.score)
    point_precision = [float(weighted_precision(sellable, cv.score, np.ones((1, len(sellable))),
                                                q)[0]) for q in shares]
    point_without = {b: auc(sellable, s) for b, s in cv.without.items()}
    draws_auc, draws_precision, draws_delta = [], [[] for _ in shares], \
        {b: [] for b in cv.without}
    for weights in _bootstrap_weights(groups, replicates, seed):
        full = weighted_auc(sellable, cv.score, weights)
        draws_auc.append(full)
        for i, q in enumerate(shares):
            draws_precision[i].append(weighted_precision(sellable, cv.score, weights, q))
        for block, other in cv.without.items():
            draws_delta[block].append(full - weighted_auc(sellable, other, weights))
    ci = _interval(np.concatenate(draws_auc))
    precision = []
    for i, q in enumerate(shares):
        low, high = _interval(np.concatenate(draws_precision[i]))
        precision.append({"keep_share": round(q, 4), "precision": point_precision[i],
                          "ci_low": low, "ci_high": high,
                          "is_base_rate": i == len(shares) - 1})
    contributions = []
    for block in cv.without:
        low, high = _interval(np.concatenate(draws_delta[block]))
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
        "auc_usable": _auc_fast(usable, cv.p_usable),
        "spearman_rating_usable": spearman(source_rating[usable], cv.rating[usable])
        if usable.sum() > 2 else None,
        "spearman_ordinal": spearman(ordinal_code(source_rating), cv.score),
        "contributions": contributions,
        "bootstrap": f"{replicates} grouped (prompt) resamples, percentile 95%",
    }
