"""The scikit-learn pieces of a learned model: the per-block preparation of the
features and the ordinal (cumulative logistic) model."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin


class BlockPreprocessor(BaseEstimator, TransformerMixin):
    """Median imputation, then per kind of column: embedding dimensions standardised and
    weighted `embedding_weight / sqrt(number of embedding dimensions)`, so that the
    whole embedding counts like `embedding_weight` scores however wide it is; scores
    mapped through their quantiles to a normal (a monotone link becomes linear: a raw
    sharpness is heavy-tailed); has_* indicators standardised."""

    def __init__(self, embedding_columns=None, score_columns=None, embedding_weight=1.0):
        self.embedding_columns = embedding_columns
        self.score_columns = score_columns
        self.embedding_weight = embedding_weight

    def fit(self, x, y=None):
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import QuantileTransformer, StandardScaler

        n, width = x.shape
        self.embedding_ = np.asarray(self.embedding_columns if self.embedding_columns
                                     is not None else np.zeros(width, bool), dtype=bool)
        self.score_ = np.asarray(self.score_columns if self.score_columns is not None
                                 else np.zeros(width, bool), dtype=bool)
        self.other_ = ~(self.embedding_ | self.score_)
        self.impute_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(x)
        filled = self.impute_.transform(x)
        self.scale_embedding_ = StandardScaler().fit(filled[:, self.embedding_]) \
            if self.embedding_.any() else None
        self.quantiles_ = QuantileTransformer(
            n_quantiles=min(1000, n), output_distribution="normal", subsample=100_000,
            random_state=0).fit(filled[:, self.score_]) if self.score_.any() else None
        self.scale_other_ = StandardScaler().fit(filled[:, self.other_]) \
            if self.other_.any() else None
        return self

    def transform(self, x):
        filled = self.impute_.transform(x)
        parts = []
        if self.scale_embedding_ is not None:
            weight = self.embedding_weight / np.sqrt(self.embedding_.sum())
            parts.append(self.scale_embedding_.transform(filled[:, self.embedding_]) * weight)
        if self.quantiles_ is not None:
            parts.append(self.quantiles_.transform(filled[:, self.score_]))
        if self.scale_other_ is not None:
            parts.append(self.scale_other_.transform(filled[:, self.other_]))
        return np.hstack(parts)


class OrdinalLogistic(BaseEstimator, RegressorMixin):
    """Cumulative logistic regressions (Frank & Hall): for each level k but the top,
    P(rating > k); the prediction is their sum, the expected rating."""

    def __init__(self, C: float = 0.01, seed: int = 42):  # noqa: N803 (sklearn's name)
        self.C = C
        self.seed = seed

    def fit(self, x, y):
        from sklearn.linear_model import LogisticRegression

        self.levels_ = np.unique(y)
        self.models_ = []
        for level in self.levels_[:-1]:
            target = (y > level).astype(int)
            if target.min() == target.max():
                self.models_.append(float(target[0]))
                continue
            self.models_.append(LogisticRegression(C=self.C, max_iter=500).fit(x, target))
        return self

    def predict(self, x):
        total = np.zeros(len(x))
        for model in self.models_:
            total += model if isinstance(model, float) else model.predict_proba(x)[:, 1]
        return total + float(self.levels_[0])
