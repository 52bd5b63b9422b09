"""A quality model learned from the team's own ratings: `neurostock train`.

Features: the chosen embedders' image and/or prompt embeddings of every image, plus
every valid score (not features derived from embeddings, not other learned
scores). Target: full_set's rating 0-3. Models (scikit-learn): `ridge` (ridge
regression) and `ordinal` (cumulative logistic regressions, Frank & Hall: one
P(rating > k) per k, the score is their sum, the expected rating). Evaluation:
grouped K-fold cross-validation, groups = the normalised cleaned prompt, so one
prompt never sits on both sides; the regularisation strength and the weight of
the embeddings (BlockPreprocessor) are chosen inside each training fold by an
inner grouped 3-fold search (Spearman). The
out-of-fold predictions are the scorer `learned_<name>` for rated images; a
model refitted on every rated image scores big_set and any other image with
features. Everything downstream (agreement, thresholds, select, the report)
treats the scorer like any outside score.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin

from neurostock.core.errors import NeurostockError
from neurostock.core.meta import ensure_learned_models_table
from neurostock.core.warehouse import sql_string
from score.registry import ScorerInfo, ensure_scorers_table, get_scorer, upsert_scorer

MODELS = ("ridge", "ordinal")
KINDS = ("image", "prompt")
SCHEMA = "imported"
GRIDS = {
    "ridge": {"model__alpha": [1.0, 10.0, 100.0, 1000.0]},
    "ordinal": {"model__C": [0.01, 0.1, 1.0]},
}
# How much the whole of an embedding weighs, in scores (searched with the model's own
# regularisation; see BlockPreprocessor).
EMBEDDING_WEIGHTS = [0.5, 1.0, 2.0, 4.0]
INNER_FOLDS = 3
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")



@dataclass(frozen=True)
class LearnedConfig:
    """One learned model of neurostock.yml's `learned:` list."""

    name: str
    embedders: tuple[str, ...] = ()
    kinds: tuple[str, ...] = KINDS
    use_scores: bool = True
    model: str = "ridge"
    folds: int = 5
    seed: int = 42
    shuffle_labels: bool = False

    @property
    def scorer_id(self) -> str:
        return f"learned_{self.name}"

    def check(self, where: str) -> None:
        if not _NAME.match(self.name):
            raise NeurostockError(f"{where}: name {self.name!r} must be lowercase letters, "
                                  "digits and _ (starting with a letter)")
        if self.model not in MODELS:
            raise NeurostockError(f"{where}: model {self.model!r} is not one of "
                                  f"{', '.join(MODELS)}")
        bad = [k for k in self.kinds if k not in KINDS]
        if bad:
            raise NeurostockError(f"{where}: kinds {bad} are not among {', '.join(KINDS)}")
        if self.folds < 2:
            raise NeurostockError(f"{where}: folds must be at least 2")
        if not self.embedders and not self.use_scores:
            raise NeurostockError(f"{where}: no features (no embedders and scores: false)")


@dataclass
class Features:
    image_ids: np.ndarray
    matrix: np.ndarray
    names: list[str]
    blocks: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class TrainResult:
    scorer_id: str
    status: str  # trained | unchanged
    n_train: int
    n_scored_other: int
    n_features: int
    spearman_oof: float | None
    seconds: float
    model_path: str


def _say(message: str) -> None:
    print(f"[train] {message}", file=sys.stderr, flush=True)


def group_key(prompt: str | None) -> str:
    """Prompts equal up to case, punctuation and spacing form one group."""
    return " ".join(re.sub(r"[^\w]+", " ", (prompt or "").lower()).split())


def _vectors(con: duckdb.DuckDBPyConnection, view: str, embedder: str,
             index: dict[int, int], n: int) -> np.ndarray | None:
    table = con.execute(f"select image_id, embedding from {view} where embedder_id = ?",
                        [embedder]).arrow()
    if hasattr(table, "read_all"):
        table = table.read_all()
    if table.num_rows == 0:
        return None
    ids = table.column("image_id").to_numpy()
    flat = table.column("embedding").combine_chunks()
    dim = len(flat[0])
    values = np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
    values = values.reshape(-1, dim)
    out = np.full((n, dim), np.nan)
    rows = [index.get(int(i), -1) for i in ids]
    keep = np.array([r >= 0 for r in rows])
    out[np.array(rows)[keep]] = values[keep]
    return out


def load_features(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig,
                  image_ids: np.ndarray) -> Features:
    """The feature matrix of `image_ids`, NaN where an image lacks a block; one
    has_<block> column per block that can be missing."""
    index = {int(i): row for row, i in enumerate(image_ids)}
    n = len(image_ids)
    blocks, names, columns = [], [], []
    known = {r[0]: list(r[1]) for r in con.execute(
        "select embedder_id, kinds from meta.embedding_models").fetchall()}
    for embedder in cfg.embedders:
        if embedder not in known:
            raise NeurostockError(f"learned {cfg.name}: no embedder {embedder!r} in the "
                                  f"warehouse (known: {', '.join(sorted(known)) or 'none'})")
        for kind in cfg.kinds:
            if kind not in known[embedder]:
                continue
            matrix = _vectors(con, f"{kind}_embeddings", embedder, index, n)
            if matrix is None:
                continue
            present = ~np.isnan(matrix).any(axis=1)
            blocks.append({"block": f"{kind}:{embedder}", "dim": matrix.shape[1],
                           "n_present": int(present.sum())})
            columns += [matrix, present[:, None].astype(float)]
            names += [f"{kind}:{embedder}[{d}]" for d in range(matrix.shape[1])]
            names.append(f"has_{kind}:{embedder}")
    if cfg.use_scores:
        rows = con.execute("""
            select signals.image_id, signals.scorer_id, signals.score
            from image_signals as signals
            inner join signal_summary as summary using (scorer_id)
            where summary.is_valid and signals.signal_kind = 'score'
              and not starts_with(signals.scorer_id, 'learned_')
            order by signals.scorer_id""").fetchall()
        scorers = sorted({r[1] for r in rows})
        position = {s: j for j, s in enumerate(scorers)}
        matrix = np.full((n, len(scorers)), np.nan)
        for image_id, scorer_id, score in rows:
            row = index.get(int(image_id))
            if row is not None:
                matrix[row, position[scorer_id]] = score
        for j, scorer_id in enumerate(scorers):
            present = ~np.isnan(matrix[:, j])
            blocks.append({"block": f"score:{scorer_id}", "dim": 1,
                           "n_present": int(present.sum())})
            columns += [matrix[:, j:j + 1], present[:, None].astype(float)]
            names += [f"score:{scorer_id}", f"has_score:{scorer_id}"]
    if not columns:
        raise NeurostockError(f"learned {cfg.name}: none of the chosen features exist in the "
                              "warehouse yet (run `neurostock build`)")
    return Features(image_ids=image_ids, matrix=np.hstack(columns), names=names,
                    blocks=blocks)


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


def _pipeline(model: str, seed: int, names: list[str]):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    estimator = Ridge() if model == "ridge" else OrdinalLogistic(seed=seed)
    embedding, score = _column_kinds(names)
    return Pipeline([("prepare", BlockPreprocessor(embedding, score)), ("model", estimator)])


def _grid(model: str, names: list[str]) -> dict:
    grid = dict(GRIDS[model])
    if any("[" in n and not n.startswith("score:") for n in names):
        grid["prepare__embedding_weight"] = EMBEDDING_WEIGHTS
    return grid


def _spearman(y_true, y_pred) -> float:
    from scipy.stats import spearmanr

    if np.ptp(y_pred) == 0 or np.ptp(y_true) == 0:
        return 0.0
    return float(spearmanr(y_true, y_pred).statistic)


def _column_kinds(names: list[str]) -> tuple[list[bool], list[bool]]:
    embedding = [("[" in n and not n.startswith("score:")) for n in names]
    score = [n.startswith("score:") for n in names]
    return embedding, score


def fit_search(model: str, x: np.ndarray, y: np.ndarray, groups: np.ndarray,
               names: list[str], seed: int):
    """Choose the hyper-parameters by a grouped inner search on (x, y) only, then fit on
    all of it. Returns (fitted pipeline, chosen parameters, mean inner Spearman)."""
    folds = max(2, min(INNER_FOLDS, len(np.unique(groups))))
    if model == "ridge":
        return _ridge_search(x, y, groups, names, folds)
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GridSearchCV, GroupKFold

    search = GridSearchCV(_pipeline(model, seed, names), _grid(model, names),
                          scoring=make_scorer(_spearman), cv=GroupKFold(n_splits=folds),
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

    embedding, score = _column_kinds(names)
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
        gram = a.T @ a
        moment = a.T @ (y[train] - y_mean)
        is_embedding = np.r_[np.ones(int(np.sum(embedding)), bool),
                             np.zeros(a.shape[1] - int(np.sum(embedding)), bool)]
        for i, (alpha, w) in enumerate(candidates):
            penalty = np.where(is_embedding, alpha / w**2, alpha)
            coefficients = solve(gram + np.diag(penalty), moment, assume_a="pos")
            totals[i] += _spearman(y[valid], b @ coefficients + y_mean) / folds
    best = int(np.argmax(totals))  # ties: the first, i.e. the smaller alpha
    alpha, w = candidates[best]
    params = {"model__alpha": alpha}
    if any(embedding):
        params["prepare__embedding_weight"] = w
    fitted = Pipeline([("prepare", BlockPreprocessor(embedding, score, embedding_weight=w)),
                       ("model", Ridge(alpha=alpha))]).fit(x, y)
    return fitted, params, float(totals[best])


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


def cross_validate(x: np.ndarray, y: np.ndarray, groups: np.ndarray, model: str, folds: int,
                   seed: int, progress=_say, names: list[str] | None = None,
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
                       "spearman": _spearman(y[test], predictions[test])})
        progress(f"fold {fold + 1}/{folds}: {chosen[-1]['params']}, Spearman "
                 f"{chosen[-1]['spearman']:.3f} on {len(test):,} held-out images "
                 f"({time.monotonic() - started:.1f} s)")
    return predictions, fold_of, chosen


def _rated(con: duckdb.DuckDBPyConnection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = con.execute("select image_id, rating, prompt from full_set order by image_id"
                       ).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    ratings = np.array([r[1] for r in rows], dtype=np.float64)
    groups = np.array([group_key(r[2]) for r in rows], dtype=object)
    return ids, ratings, groups


def _others(con: duckdb.DuckDBPyConnection, rated: np.ndarray) -> np.ndarray:
    """Every image with at least one feature source that is not in full_set."""
    rows = con.execute("""
        select image_id from image_signals
        union select image_id from image_embeddings
        union select image_id from prompt_embeddings
    """).fetchall()
    ids = np.array(sorted({r[0] for r in rows} - set(rated.tolist())), dtype=np.int64)
    return ids


def _data_sha(cfg: LearnedConfig, features: Features, ratings: np.ndarray,
              groups: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(asdict(cfg), sort_keys=True).encode())
    digest.update(features.image_ids.tobytes())
    digest.update(np.ascontiguousarray(features.matrix).tobytes())
    digest.update(ratings.tobytes())
    digest.update("\x00".join(groups.tolist()).encode())
    return digest.hexdigest()


def model_folder(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".models")


def train(con: duckdb.DuckDBPyConnection, warehouse: Path, cfg: LearnedConfig,
          progress=_say) -> TrainResult:
    """Train (or reuse) one learned model and write its scores; see the module doc."""
    import joblib
    import sklearn

    started = time.monotonic()
    cfg.check(f"learned {cfg.name}")
    for table in ("full_set", "image_signals", "signal_summary"):
        if not con.execute("select count(*) from duckdb_tables() where table_name = ?",
                           [table]).fetchone()[0]:
            raise NeurostockError(f"table {table} is missing: run `neurostock build` first")
    ensure_learned_models_table(con)
    ids, ratings, groups = _rated(con)
    if len(ids) < 2 * cfg.folds:
        raise NeurostockError(f"full_set has {len(ids)} rated images: too few to train "
                              f"with {cfg.folds}-fold cross-validation")
    features = load_features(con, cfg, ids)
    y = ratings.copy()
    if cfg.shuffle_labels:
        # The leakage control: with shuffled ratings nothing can be learned.
        y = np.random.default_rng(cfg.seed).permutation(y)
    data_sha = _data_sha(cfg, features, y, groups)
    folder = model_folder(warehouse)
    path = folder / f"{cfg.scorer_id}.joblib"
    previous = con.execute("select data_sha256, model_sha256 from meta.learned_models "
                           "where scorer_id = ?", [cfg.scorer_id]).fetchone()
    table_exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
        [SCHEMA, f"scores__{cfg.scorer_id}"]).fetchone()[0]
    reuse = (previous is not None and previous[0] == data_sha and path.exists() and table_exists
             and hashlib.sha256(path.read_bytes()).hexdigest() == previous[1])
    others = _others(con, ids)
    other_features = load_features(con, cfg, others) if len(others) else None
    if reuse:
        progress(f"{cfg.scorer_id}: training data unchanged, reusing {path}")
        bundle = joblib.load(path)
        oof_rows = con.execute(
            f"select image_id, score, components from {SCHEMA}.scores__{cfg.scorer_id} "
            "where components['out_of_fold'] = 1.0").fetchall()
        oof = dict((r[0], (r[1], r[2])) for r in oof_rows)
        predictions = np.array([oof[int(i)][0] for i in ids])
        fold_of = np.array([int(oof[int(i)][1]["fold"]) for i in ids])
        metrics = json.loads(con.execute("select metrics from meta.learned_models "
                                         "where scorer_id = ?", [cfg.scorer_id]).fetchone()[0])
        final = bundle["model"]
        status = "unchanged"
    else:
        progress(f"{cfg.scorer_id}: {cfg.model} on {len(ids):,} rated images x "
                 f"{features.matrix.shape[1]:,} features, {cfg.folds}-fold grouped by prompt "
                 f"({len(np.unique(groups)):,} groups)")
        predictions, fold_of, chosen = cross_validate(features.matrix, y, groups, cfg.model,
                                                      cfg.folds, cfg.seed, progress,
                                                      features.names)
        final, final_params, _ = fit_search(cfg.model, features.matrix, y, groups,
                                            features.names, cfg.seed)
        metrics = {"spearman_oof": _spearman(y, predictions), "folds": chosen,
                   "final_params": final_params}
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        joblib.dump({"model": final, "feature_names": features.names,
                     "config": asdict(cfg)}, partial)
        partial.replace(path)
        status = "trained"
    other_scores = final.predict(other_features.matrix) if other_features is not None \
        else np.array([])
    model_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    _write(con, cfg, ids, predictions, fold_of, others, other_scores, path, model_sha)
    if status == "trained":
        con.execute(
            "insert or replace into meta.learned_models values "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
            [cfg.scorer_id, cfg.model, str(path), model_sha, json.dumps(asdict(cfg)),
             json.dumps({"blocks": features.blocks, "n_columns": len(features.names)}),
             data_sha, len(ids),
             f"GroupKFold({cfg.folds}, shuffle, seed {cfg.seed}) by normalised cleaned prompt; "
             f"inner GroupKFold({INNER_FOLDS}) grid {_grid(cfg.model, features.names)} "
             "on Spearman",
             json.dumps(metrics), cfg.shuffle_labels, sklearn.__version__])
    return TrainResult(
        scorer_id=cfg.scorer_id, status=status, n_train=len(ids),
        n_scored_other=len(others), n_features=features.matrix.shape[1],
        spearman_oof=metrics.get("spearman_oof"), seconds=time.monotonic() - started,
        model_path=str(path))


def _write(con, cfg: LearnedConfig, ids, predictions, fold_of, others, other_scores,
           path: Path, model_sha: str) -> None:
    components_type = pa.map_(pa.string(), pa.float64())
    oof_components = [[("fold", float(f)), ("out_of_fold", 1.0)] for f in fold_of]
    other_components = [[("out_of_fold", 0.0)] for _ in others]
    rows = pa.table({
        "image_id": pa.array(np.r_[ids, others].astype(np.int64)),
        "score": pa.array(np.r_[predictions, other_scores].astype(np.float64)),
        "components": pa.array(oof_components + other_components, type=components_type),
        "source_row": pa.array(np.arange(1, len(ids) + len(others) + 1), pa.int64()),
    })
    description = (f"{cfg.model} learned from full_set's ratings: out-of-fold for rated "
                   f"images, refitted model for the others; features: "
                   f"{', '.join(cfg.embedders) or 'no embeddings'} ({', '.join(cfg.kinds)})"
                   f"{' + valid scores' if cfg.use_scores else ''}"
                   f"{'; RATINGS SHUFFLED (leakage control)' if cfg.shuffle_labels else ''}")
    registered = get_scorer(con, cfg.scorer_id)
    if registered is not None and registered.kind != "learned":
        raise NeurostockError(f"scorer id {cfg.scorer_id} is a {registered.kind} scorer: "
                              "choose another name")
    info = ScorerInfo(
        scorer_id=cfg.scorer_id, kind="learned", source_file=str(path),
        source_sha256=model_sha, version=None,
        higher_is="better predicted rating (0-3)", expected_min=None, expected_max=None,
        is_valid=True, invalid_reason=None, n_scored=rows.num_rows, description=description)
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {SCHEMA}")
        ensure_scorers_table(con)
        con.register("ns_learned_rows", rows)
        try:
            con.execute(
                f"create or replace table {SCHEMA}.scores__{cfg.scorer_id} as "
                "select image_id, score, components, source_row, "
                f"{sql_string(str(path))}::varchar as source_file, "
                f"{sql_string(model_sha)}::varchar as source_sha256, "
                "current_timestamp as imported_at from ns_learned_rows order by source_row")
        finally:
            con.unregister("ns_learned_rows")
        upsert_scorer(con, info)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
