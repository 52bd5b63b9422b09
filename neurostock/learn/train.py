"""A quality model learned from the team's own ratings: `neurostock train`.

Features (learn/features.py): the chosen embedders' image and/or prompt embeddings of
every image, plus every valid score. Target: full_set's rating 0-3, or (`target:
accepted|sold`) the market's answer to the images sent (submission_outcomes). Models
(scikit-learn, learn/estimators.py): `ridge` (ridge regression) and `ordinal`
(cumulative logistic regressions, Frank & Hall: one P(rating > k) per k, the score is
their sum, the expected rating); `ridge` with `blocks:` also sees the images' context
(prompt words, name prefix, experiment, month: learn/context_ridge.py). Evaluation
(learn/search.py): grouped K-fold cross-validation, groups = the normalised cleaned
prompt, so one prompt never sits on both sides; the regularisation strength and the
weight of the embeddings are chosen inside each training fold by an inner grouped
3-fold search (Spearman). The out-of-fold predictions are the scorer `learned_<name>`
for rated images; a model refitted on every rated image scores the pool's unrated
images and any other image with features (learn/learned_scores.py); the decision model
scores every unrated image of the mart `pool`, features or not (its context blocks
cover them all). Everything downstream (agreement, thresholds, select, the report)
treats the scorer like any outside score.

The rules are the warehouse's, read here, never re-derived: the prompt group is
pool.prompt_group (macro prompt_group), sellable and unusable are image_ratings'
is_sellable and is_unusable.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np

from neurostock.core.config import LearnedConfig
from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import file_sha256
from neurostock.core.meta import ensure_learned_models_table
from neurostock.core.paths import models_dir
from neurostock.core.progress import say
from neurostock.core.warehouse import table_columns
from neurostock.learn import context_ridge, decision
from neurostock.learn.context import Context, load_context
from neurostock.learn.decision_metrics import (
    BOOTSTRAP_REPLICATES,
    clean_json,
    decision_metrics,
    ordinal_code,
)
from neurostock.learn.features import Features, load_features
from neurostock.learn.forward import (
    ForwardScores,
    forward_validate_decision,
    unseen_generator_decision,
)
from neurostock.learn.learned_scores import SCHEMA, scores_table, write_scores
from neurostock.learn.search import INNER_FOLDS, cross_validate, fit_search, grid, spearman

# Fewer rated images than this per outer fold: too few to learn and judge anything.
MIN_RATINGS_PER_FOLD = 2


@dataclass(frozen=True)
class TrainResult:
    scorer_id: str
    status: str  # trained | unchanged | skipped (too few ratings; `message` says why)
    n_train: int
    n_scored_other: int
    n_features: int
    spearman_oof: float | None
    seconds: float
    model_path: str
    message: str = ""
    # A yes/no target's (accepted, sold) out-of-fold ROC AUC and the target's name.
    auc_oof: float | None = None
    target: str = "rating"
    # Whether what dbt reads of it changed: a new model (meta.learned_models) or other
    # scores; a reused model on the same images writes nothing.
    scores_changed: bool = False


def train(con: duckdb.DuckDBPyConnection, warehouse: Path, cfg: LearnedConfig,
          progress=say) -> TrainResult:
    """Train (or reuse) one learned model and write its scores; see the module doc.
    With too few ratings (or distinct prompts) for its folds nothing is written and
    the result is `skipped`, its message saying how many it needs. Raises
    NeurostockError when the warehouse is not built or a chosen embedder is unknown."""
    started = time.monotonic()
    for table in ("full_set", "image_signals", "signal_summary"):
        if not con.execute("select count(*) from duckdb_tables() where table_name = ?",
                           [table]).fetchone()[0]:
            raise NeurostockError(f"table {table} is missing: run `neurostock build` first")
    ensure_learned_models_table(con)
    is_decision = cfg.model == "decision"
    # The decision model learns from every rated image (5 = unusable included), on the
    # source scale 1-5; the others from full_set's rating 0-3.
    if is_decision:
        ids, ratings, groups, sellable, unusable = decision_population(con)
    elif cfg.target != "rating":
        ids, ratings, groups = outcome_population(con, cfg.target)
        sellable = unusable = None
    else:
        ids, ratings, groups = full_set_population(con)
        sellable = unusable = None
    too_few = _too_few(cfg, len(ids), len(np.unique(groups)), ratings)
    if too_few:
        return TrainResult(scorer_id=cfg.scorer_id, status="skipped", n_train=len(ids),
                           n_scored_other=0, n_features=0, spearman_oof=None,
                           seconds=time.monotonic() - started, model_path="",
                           message=too_few)
    features = load_features(con, cfg, ids, required=not is_decision)
    # The decision model and a ridge quality model with `blocks` see each image's context.
    with_context = is_decision or bool(cfg.context_blocks)
    context = load_context(con, ids) if with_context else None
    left_out: list[dict] = []
    if is_decision:
        matrix, names, kept, left_out = decision.coverage_filter(
            features.matrix, features.names, features.blocks, ~unusable)
        for block in left_out:
            progress(f"{cfg.scorer_id}: {block['block']} left out: {block['reason']}")
        features = Features(image_ids=features.image_ids, matrix=matrix, names=names,
                            blocks=kept)
        if not names and not cfg.context_blocks:
            raise NeurostockError(f"learned {cfg.name}: no feature covers the usable and the "
                                  "unusable rated images alike (see the messages above)")
    y, y_unusable = ratings.copy(), unusable
    if cfg.shuffle_labels:
        # The leakage control: with shuffled ratings nothing can be learned. One
        # permutation of the rows moves each rating with its unusable flag (the same
        # order as permuting the ratings themselves).
        order = np.random.default_rng(cfg.seed).permutation(len(y))
        y = y[order]
        y_unusable = unusable[order] if unusable is not None else None
    data_sha = _data_sha(cfg, features, y, groups, context)
    path = models_dir(warehouse) / f"{cfg.scorer_id}.joblib"
    # The decision model knows every image's context (prompt, name, date), so it scores
    # each unrated image of the pool even where no embedding or score exists yet.
    others = _others(con, ids, with_pool=is_decision and bool(cfg.context_blocks))
    other_features = _columns(load_features(con, cfg, others, required=not is_decision),
                              features.names) if len(others) else None
    other_context = load_context(con, others) if with_context and len(others) else None
    previous = _previous(con, cfg, data_sha, path, progress, ids)
    forward_scores = None
    if previous is not None:
        progress(f"{cfg.scorer_id}: training data unchanged, reusing {path}")
        final, predictions, fold_of, metrics, forward_scores = previous
        status = "unchanged"
    elif is_decision:
        progress(f"{cfg.scorer_id}: decision on {len(ids):,} rated images "
                 f"({int(unusable.sum()):,} unusable) x "
                 f"{features.matrix.shape[1]:,} features + context "
                 f"{', '.join(cfg.context_blocks) or 'none'}, {cfg.folds}-fold grouped by "
                 f"prompt ({len(np.unique(groups)):,} groups)")
        cv = decision.cross_validate_decision(features.matrix, context, features.names, y,
                                              y_unusable, groups, cfg.context_blocks,
                                              cfg.folds, cfg.seed, progress)
        predictions, fold_of = cv.score, cv.fold_of
        final, _ = decision.fit_decision(features.matrix, context, features.names, y,
                                         y_unusable, groups, cfg.context_blocks)
        # Forward in time: trained before each cut-off, judged on what came after
        # (learn/forward.py), the way the decision is used on new generations.
        forward, forward_scores = forward_validate_decision(
            features.matrix, context, features.names, y, y_unusable, sellable, groups,
            cfg.context_blocks, cfg.seed, progress)
        if "skipped" in forward:
            progress(f"{cfg.scorer_id}: no forward figure: {forward['skipped']}")
        # And with one generator (experiment model) held out at a time.
        unseen = unseen_generator_decision(features.matrix, context, features.names, y,
                                           y_unusable, sellable, groups,
                                           cfg.context_blocks, cfg.seed, progress)
        if "skipped" in unseen:
            progress(f"{cfg.scorer_id}: no unseen-generator figure: {unseen['skipped']}")
        # Judged against the real labels (with shuffled ratings: chance).
        metrics = clean_json({
            **decision_metrics(cv, sellable, ratings, unusable, groups, cfg.seed),
            "forward": forward,
            "unseen_generator": unseen,
            "spearman_oof": spearman(ordinal_code(ratings, unusable), cv.score),
            "folds": cv.folds,
            "final_params": {"usable": final.usable.params, "rating": final.rating.params},
            "left_out": left_out})
        _save(path, final, features, cfg)
        status = "trained"
    elif cfg.context_blocks:
        progress(f"{cfg.scorer_id}: ridge on {len(ids):,} rated images x "
                 f"{features.matrix.shape[1]:,} features + context "
                 f"{', '.join(cfg.context_blocks)}, {cfg.folds}-fold grouped by prompt "
                 f"({len(np.unique(groups)):,} groups)")
        final, predictions, fold_of, metrics = _context_ridge(
            features, context, y, groups, cfg, progress)
        _save(path, final, features, cfg)
        status = "trained"
    else:
        population = ("rated images" if cfg.target == "rating" else
                      f"images the market answered (target {cfg.target})")
        progress(f"{cfg.scorer_id}: {cfg.model} on {len(ids):,} {population} x "
                 f"{features.matrix.shape[1]:,} features, {cfg.folds}-fold grouped by prompt "
                 f"({len(np.unique(groups)):,} groups)")
        predictions, fold_of, chosen = cross_validate(features.matrix, y, groups, cfg.model,
                                                      cfg.folds, cfg.seed, progress,
                                                      features.names)
        final, final_params, _ = fit_search(cfg.model, features.matrix, y, groups,
                                            features.names, cfg.seed)
        metrics = {"spearman_oof": spearman(y, predictions), "folds": chosen,
                   "final_params": final_params}
        if cfg.target != "rating" and len(np.unique(y)) == 2:
            from sklearn.metrics import roc_auc_score

            # A yes/no target: how well the out-of-fold score separates the two.
            metrics["auc_oof"] = float(roc_auc_score(y, predictions))
            metrics["target"] = cfg.target
        if cfg.target == "rating":
            metrics |= _held_out_plain(con, cfg, features, ids, y, predictions, groups,
                                       progress)
        _save(path, final, features, cfg)
        status = "trained"
    if other_features is None:
        other_scores = np.array([])
    elif with_context:
        other_scores = final.predict(other_features.matrix, other_context)
    else:
        other_scores = final.predict(other_features.matrix)
    model_sha = file_sha256(path)
    scores_changed = write_scores(con, cfg, ids, predictions, fold_of, others, other_scores,
                                  path, model_sha, forward_scores) or status == "trained"
    if status == "trained":
        _record(con, cfg, features, path, model_sha, data_sha, len(ids), metrics)
    return TrainResult(
        scorer_id=cfg.scorer_id, status=status, n_train=len(ids),
        n_scored_other=len(others), n_features=features.matrix.shape[1],
        spearman_oof=metrics.get("spearman_oof"), seconds=time.monotonic() - started,
        model_path=str(path), scores_changed=scores_changed, auc_oof=metrics.get("auc_oof"),
        target=cfg.target)


def _context_ridge(features: Features, context: Context, y: np.ndarray, groups: np.ndarray,
                   cfg: LearnedConfig, progress) -> tuple:
    """The ridge quality model with context blocks (learn/context_ridge.py): fitted,
    judged by grouped folds and forward, each block's drop-one contribution in both.
    Returns (final model, out-of-fold predictions, folds, metrics)."""
    cv = context_ridge.cross_validate_context_ridge(
        features.matrix, context, features.names, y, groups, cfg.context_blocks, cfg.folds,
        cfg.seed, progress)
    final, _ = context_ridge.fit_context_ridge(features.matrix, context, features.names, y,
                                               groups, cfg.context_blocks)
    grouped = context_ridge.contributions(y, cv.predictions, cv.without, groups, cfg.seed)
    forward = context_ridge.forward_validate_context_ridge(
        features.matrix, context, features.names, y, groups, cfg.context_blocks, cfg.seed,
        progress)
    if "skipped" in forward:
        progress(f"{cfg.scorer_id}: no forward figure: {forward['skipped']}")
    unseen = context_ridge.unseen_generator_context_ridge(
        features.matrix, context, features.names, y, groups, cfg.context_blocks, cfg.seed,
        progress)
    if "skipped" in unseen:
        progress(f"{cfg.scorer_id}: no unseen-generator figure: {unseen['skipped']}")
    metrics = clean_json({
        "spearman_oof": grouped["spearman"], "spearman_oof_ci": grouped["spearman_ci"],
        "contributions": grouped["contributions"], "forward": forward,
        "unseen_generator": unseen, "folds": cv.folds,
        "final_params": final.fit.params,
        "bootstrap": f"{BOOTSTRAP_REPLICATES} grouped (prompt) resamples, percentile 95%"})
    return final, cv.predictions, cv.fold_of, metrics


def _held_out_plain(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig, features: Features,
                    ids: np.ndarray, y: np.ndarray, predictions: np.ndarray,
                    groups: np.ndarray, progress) -> dict:
    """A quality model without context judged like the others (learn/context_ridge.py):
    its grouped Spearman's interval, and the same model fitted before each forward
    period and without each held-out generator. An ordinal model is not: its fits take
    minutes each at the team's size (benchmarks/bench_train.py), and eight more would
    make every build that retrains it that much longer."""
    grouped = context_ridge.contributions(y, predictions, {}, groups, cfg.seed)
    out = {"spearman_oof_ci": grouped["spearman_ci"]}
    if cfg.model != "ridge":
        reason = f"not measured for model {cfg.model} (each fit takes minutes)"
        return clean_json(out | {"forward": {"skipped": reason},
                                 "unseen_generator": {"skipped": reason}})
    context = load_context(con, ids)
    fit = context_ridge.plain_fit(cfg.model, features.matrix, features.names, y, groups,
                                  cfg.seed)
    for split, key in (("forward", "forward"), ("unseen generator", "unseen_generator")):
        out[key] = context_ridge.held_out_figures(split, fit, context, y, groups, cfg.seed,
                                                  progress)
        if "skipped" in out[key]:
            progress(f"{cfg.scorer_id}: no {split} figure: {out[key]['skipped']}")
    return clean_json(out)


def _save(path: Path, final, features: Features, cfg: LearnedConfig) -> None:
    """The model file, written whole or not at all."""
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    joblib.dump({"model": final, "feature_names": features.names,
                 "config": asdict(cfg)}, partial)
    partial.replace(path)


def _columns(features: Features, names: list[str]) -> Features:
    """`features` with exactly the columns `names` (NaN where it has none of that name)."""
    position = {n: j for j, n in enumerate(features.names)}
    matrix = np.full((features.matrix.shape[0], len(names)), np.nan)
    for j, name in enumerate(names):
        if name in position:
            matrix[:, j] = features.matrix[:, position[name]]
    return Features(image_ids=features.image_ids, matrix=matrix, names=list(names),
                    blocks=features.blocks)


def _too_few(cfg: LearnedConfig, n_rated: int, n_groups: int,
             labels: np.ndarray | None = None) -> str:
    """Why `cfg` cannot be trained on these ratings yet ("" when it can)."""
    needed = MIN_RATINGS_PER_FOLD * cfg.folds
    if n_rated < needed:
        where = {"accepted": "submission_outcomes (accepted or rejected)",
                 "sold": "submission_outcomes (accepted)"}.get(
            cfg.target, "the decision population" if cfg.model == "decision" else "full_set")
        noun = "images" if cfg.target != "rating" else "rated images"
        return (f"{cfg.scorer_id} not trained: {where} has {n_rated:,} {noun}; it "
                f"will be trained from {needed} ({MIN_RATINGS_PER_FOLD} x {cfg.folds} folds)")
    if cfg.target != "rating" and labels is not None:
        n_yes = int(labels.sum())
        if min(n_yes, len(labels) - n_yes) < cfg.folds:
            return (f"{cfg.scorer_id} not trained: of {len(labels):,} answered images "
                    f"{n_yes:,} are {cfg.target}; each side needs at least {cfg.folds} "
                    f"({cfg.folds} folds)")
    if n_groups < cfg.folds:
        return (f"{cfg.scorer_id} not trained: the {n_rated:,} rated images have {n_groups} "
                f"distinct prompts; {cfg.folds}-fold grouped cross-validation needs "
                f"{cfg.folds}")
    return ""


def _previous(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig, data_sha: str, path: Path,
              progress, ids: np.ndarray) -> tuple | None:
    """The saved model, its out-of-fold predictions, folds and metrics when the training
    data are unchanged and its file and table are intact; None when it must be trained."""
    import joblib

    row = con.execute("select data_sha256, model_sha256, metrics from meta.learned_models "
                      "where scorer_id = ?", [cfg.scorer_id]).fetchone()
    table_exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
        [SCHEMA, f"scores__{cfg.scorer_id}"]).fetchone()[0]
    if not (row is not None and row[0] == data_sha and path.exists() and table_exists
            and file_sha256(path) == row[1]):
        return None
    try:
        bundle = joblib.load(path)
    except (ImportError, AttributeError) as exc:
        # Saved by an older layout of learn/ (its classes moved): train it again.
        progress(f"{cfg.scorer_id}: the saved model cannot be read here ({exc}); retraining")
        return None
    oof = {r[0]: (r[1], r[2]) for r in con.execute(
        f"select image_id, score, components from {scores_table(cfg)} "
        "where components['out_of_fold'] = 1.0").fetchall()}
    predictions = np.array([oof[int(i)][0] for i in ids])
    fold_of = np.array([int(oof[int(i)][1]["fold"]) for i in ids])
    judged = [(k, oof[int(i)][1]) for k, i in enumerate(ids) if "forward" in oof[int(i)][1]]
    forward = ForwardScores(np.array([k for k, _ in judged], dtype=np.int64),
                            np.array([c["forward"] for _, c in judged], dtype=float),
                            np.array([int(c["forward_period"]) for _, c in judged],
                                     dtype=np.int64)) if judged else None
    return bundle["model"], predictions, fold_of, json.loads(row[2]), forward


def _record(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig, features: Features,
            path: Path, model_sha: str, data_sha: str, n_train: int, metrics: dict) -> None:
    """The model's `meta.learned_models` row: file, config, features, data hash, scheme."""
    import sklearn

    if cfg.model == "decision":
        search = (f"inner GroupKFold({decision.INNER_FOLDS}) coordinate search per part: "
                  f"alpha {decision.ALPHAS} x embedding weight, then each context block's "
                  f"weight {decision.BLOCK_WEIGHTS}, then alpha; P(usable) on AUC, "
                  "E[rating | usable] on Spearman")
    elif cfg.context_blocks:
        search = (f"inner GroupKFold({decision.INNER_FOLDS}) coordinate search on Spearman: "
                  f"alpha {decision.ALPHAS} x embedding weight, then each context block's "
                  f"weight {decision.BLOCK_WEIGHTS}, then alpha")
    else:
        search = (f"inner GroupKFold({INNER_FOLDS}) grid {grid(cfg.model, features.names)} "
                  "on Spearman")
    con.execute(
        "insert or replace into meta.learned_models values "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
        [cfg.scorer_id, cfg.model, str(path), model_sha, json.dumps(asdict(cfg)),
         json.dumps({"blocks": features.blocks, "n_columns": len(features.names),
                     "context_blocks": list(cfg.context_blocks),
                     "left_out": metrics.get("left_out", [])}),
         data_sha, n_train,
         f"GroupKFold({cfg.folds}, shuffle, seed {cfg.seed}) by normalised cleaned prompt; "
         + search,
         json.dumps(metrics), cfg.shuffle_labels, sklearn.__version__])


def _require(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]) -> None:
    """NeurostockError unless the warehouse has `table` with `columns` (a warehouse built
    before they existed: build it again)."""
    present = table_columns(con, table)
    if not present:
        raise NeurostockError(f"table {table} is missing: run `neurostock build` first")
    missing = [c for c in columns if c not in present]
    if missing:
        raise NeurostockError(f"table {table} has no {', '.join(missing)}: built by an older "
                              "neurostock, run `neurostock build`")


def _groups(rows: list[tuple], where: str) -> np.ndarray:
    """The prompt groups of `rows` (image id first, prompt group last)."""
    missing = [r[0] for r in rows if r[-1] is None]
    if missing:
        raise NeurostockError(f"{len(missing):,} images of {where} are not in the mart pool "
                              f"(image {missing[0]}): run `neurostock build`")
    return np.array([r[-1] for r in rows], dtype=object)


def full_set_population(con: duckdb.DuckDBPyConnection
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """full_set's image ids, ratings 0-3 and prompt groups (pool.prompt_group), by image
    id."""
    _require(con, "pool", ("prompt_group",))
    rows = con.execute("""
        select f.image_id, f.rating, p.prompt_group
        from full_set f
        left join pool p using (image_id)
        order by f.image_id""").fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    ratings = np.array([r[1] for r in rows], dtype=np.float64)
    return ids, ratings, _groups(rows, "full_set")


def outcome_population(con: duckdb.DuckDBPyConnection, target: str
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The images the market answered (submission_outcomes): ids, the target as 0/1
    (accepted: accepted 1, rejected 0; sold: sold 1, accepted and unsold 0) and prompt
    groups (pool.prompt_group), by image id."""
    column = {"accepted": "is_accepted", "sold": "is_sold"}[target]
    _require(con, "submission_outcomes", (column,))
    _require(con, "pool", ("prompt_group",))
    rows = con.execute(f"""
        select o.image_id, o.{column}::integer as y, p.prompt_group
        from submission_outcomes o
        left join pool p using (image_id)
        where o.{column} is not null
        order by o.image_id""").fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    labels = np.array([r[1] for r in rows], dtype=np.float64)
    return ids, labels, _groups(rows, "submission_outcomes")


class DecisionPopulation(NamedTuple):
    """Every rated image with a valid img_info row, by image id: resolved ratings 1-5,
    prompt groups (pool.prompt_group), image_ratings' is_sellable and is_unusable."""

    ids: np.ndarray
    ratings: np.ndarray
    groups: np.ndarray
    sellable: np.ndarray
    unusable: np.ndarray


def decision_population(con: duckdb.DuckDBPyConnection) -> DecisionPopulation:
    """The decision model's population (image_ratings; 5 = unusable), read from the
    warehouse: the rules (sellable, unusable, prompt group) are its columns."""
    _require(con, "image_ratings", ("is_sellable", "is_unusable"))
    _require(con, "int_images_checked", ("is_valid",))
    _require(con, "pool", ("prompt_group",))
    rows = con.execute("""
        select r.image_id, r.rating, r.is_sellable, r.is_unusable, p.prompt_group
        from image_ratings r
        semi join (select image_id from int_images_checked where is_valid) i using (image_id)
        left join pool p using (image_id)
        where r.rating between 1 and 5
        order by r.image_id""").fetchall()
    return DecisionPopulation(
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        ratings=np.array([r[1] for r in rows], dtype=np.float64),
        groups=_groups(rows, "image_ratings"),
        sellable=np.array([bool(r[2]) for r in rows]),
        unusable=np.array([bool(r[3]) for r in rows]))


def _others(con: duckdb.DuckDBPyConnection, rated: np.ndarray,
            with_pool: bool = False) -> np.ndarray:
    """Every image not in `rated` with at least one feature source and, `with_pool`, every
    unrated image of the mart `pool` (where the warehouse has it), by image id."""
    pool = ""
    if with_pool and con.execute("select count(*) from duckdb_tables() where schema_name = "
                                 "'main' and table_name = 'pool'").fetchone()[0]:
        pool = "union select image_id from pool where source_rating is null"
    # A learned score is no feature (load_features leaves them out): an image that only
    # an earlier model scored is not scored again for it.
    rows = con.execute(f"""
        select image_id from image_signals where not starts_with(scorer_id, 'learned_')
        union select image_id from image_embeddings
        union select image_id from prompt_embeddings
        {pool}
    """).fetchall()
    return np.array(sorted({r[0] for r in rows} - set(rated.tolist())), dtype=np.int64)


def _data_sha(cfg: LearnedConfig, features: Features, ratings: np.ndarray,
              groups: np.ndarray, context: Context | None = None) -> str:
    digest = hashlib.sha256()
    if context is not None:
        for values in (context.prompt, context.prefix, context.experiment_model,
                       context.experiment_number, context.month):
            digest.update("\x00".join(str(v) for v in values.tolist()).encode())
    digest.update(json.dumps(asdict(cfg), sort_keys=True).encode())
    digest.update(features.image_ids.tobytes())
    digest.update(np.ascontiguousarray(features.matrix).tobytes())
    digest.update(ratings.tobytes())
    digest.update("\x00".join(groups.tolist()).encode())
    return digest.hexdigest()
