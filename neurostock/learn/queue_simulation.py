"""Does the rating queue save ratings? (`neurostock ratings simulate`,
benchmarks/bench_active.py)

Rating is replayed on images whose ratings are already known: the simulation "rates" an
image by revealing its rating. Per seed:

1. **Test set**: a seeded `test_share` of the prompt groups is held out. It is never
   offered for rating, and every figure is measured on it, so both arms are judged on
   the same images (what is left unrated differs between the arms: measured there, the
   queue would be judged on the images it chose to leave behind).
2. **Start**: a seeded `start_share` of the other images (the pool) is rated at random;
   both arms start from the same images.
3. **Rounds**: the learner is trained on the rated images (its own inner search, as
   `neurostock build` trains it); it scores every image; then the next `batch` images
   of the pool are rated, chosen by the arm:
   - `queue`: the rule of `rpt_rating_queue` (docs/ratings.md) with the model just
     trained: priority = w_u x uncertainty + w_d x disagreement + w_c x coverage, the
     weights the dbt vars the build uses, the uncertainty centred on the model's
     boundary over the rated images (`boundary`), the top `batch` taken;
   - `random`: a seeded random sample, the control (`neurostock rate --queue random`).
   Until the pool is rated.
4. **Measured** after each training, on the test set: the AUC of sellable
   (image_ratings.is_sellable against the score, every test image, the unusable ones
   included) and the Spearman of the score with the rating among the usable test images.

What the rule leaves out here: the near-duplicate filter (a rated set has few pairs, and
a pair in one batch costs a rating, not a wrong answer) and the md5 tie-break (a seeded
random one instead).

**Ratings saved**: random's final figure is the mean over seeds when the whole pool is
rated; the queue reaches it at the first round whose mean figure is at least that; the
share is the ratings it took then over the ratings random took (the start included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import yaml

from neurostock.core.errors import NeurostockError
from neurostock.core.paths import dbt_project_dir
from neurostock.core.progress import say
from neurostock.learn.decision_metrics import auc
from neurostock.learn.search import spearman

ARMS = ("queue", "random")
RULE_VARS = ("good_rating_min", "rating_queue_weight_uncertainty",
             "rating_queue_weight_disagreement", "rating_queue_weight_coverage")
# The smallest simulation that means anything: the learner needs a few prompt groups in
# its start set, and the test set enough images for an AUC.
MIN_IMAGES = 100

# A learner: trained on the given rows, returns a scorer of any rows (score on 0-3,
# higher is better: the scale of the queue's threshold).
Learner = Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]


@dataclass
class Rated:
    """The rated images a simulation replays, one entry per image: resolved rating 1-5
    (5 = unusable), is_sellable, is_unusable, prompt group, and what the queue's rule
    reads: cluster (None: none), experiment model (None: none), name prefix and the
    scorers' disagreement (0-1, the rule's own; it does not depend on ratings)."""

    image_ids: np.ndarray
    rating: np.ndarray
    sellable: np.ndarray
    unusable: np.ndarray
    groups: np.ndarray
    cluster: np.ndarray
    experiment: np.ndarray
    prefix: np.ndarray
    disagreement: np.ndarray

    def __len__(self) -> int:
        return len(self.image_ids)


@dataclass(frozen=True)
class QueueRule:
    """rpt_rating_queue's weights and the fallback threshold (good_rating_min - 0.5) of
    its uncertainty, used where the model's own boundary is undefined (`boundary`)."""

    uncertainty: float = 0.5
    disagreement: float = 0.25
    coverage: float = 0.25
    threshold: float = 1.5

    @classmethod
    def from_vars(cls) -> QueueRule:
        """The rule with the dbt project's vars (dbt_project.yml), as the build uses them."""
        project = yaml.safe_load((dbt_project_dir() / "dbt_project.yml").read_text())
        values = project.get("vars") or {}
        missing = [name for name in RULE_VARS if name not in values]
        if missing:
            raise NeurostockError(f"dbt_project.yml: vars {', '.join(missing)} missing")
        return cls(uncertainty=float(values["rating_queue_weight_uncertainty"]),
                   disagreement=float(values["rating_queue_weight_disagreement"]),
                   coverage=float(values["rating_queue_weight_coverage"]),
                   threshold=float(values["good_rating_min"]) - 0.5)


def boundary(rule: QueueRule, prediction: np.ndarray, sellable: np.ndarray,
             is_rated: np.ndarray) -> float:
    """Where the model splits sellable from not: the (1 - s) quantile of its score over
    the rated images it scores, s the share of them that is sellable (so that as many
    score above it as are sellable); rule.threshold where that is undefined (no rated
    image with a score, or none or all sellable). A model's predictions shrink towards
    the mean rating, so a fixed point of the rating scale (1.5) can lie far from where
    its ranking decides sellable: measured, centring the uncertainty there instead
    saved ratings on both real sets (docs/ratings.md)."""
    have = is_rated & ~np.isnan(prediction)
    if not have.any():
        return rule.threshold
    share = float(np.mean(sellable[have]))
    if share in (0.0, 1.0):
        return rule.threshold
    return float(np.quantile(prediction[have], 1.0 - share))


def priority(rule: QueueRule, prediction: np.ndarray, rated: Rated,
             is_rated: np.ndarray) -> np.ndarray:
    """The queue's priority of every image given the model's `prediction` (0-3 scale) and
    which images are rated (`is_rated`): the formula of rpt_rating_queue."""
    threshold = boundary(rule, prediction, rated.sellable, is_rated)
    uncertainty = np.where(np.isnan(prediction), 0.0,
                           np.maximum(0.0, 1.0 - np.abs(prediction - threshold) / 1.5))
    terms = [_inverse_root(rated.experiment, is_rated), _inverse_root(rated.prefix, is_rated)]
    has_cluster = np.array([c is not None for c in rated.cluster])
    cluster = np.where(has_cluster, _inverse_root(rated.cluster, is_rated), 0.0)
    coverage = (cluster + terms[0] + terms[1]) / np.where(has_cluster, 3.0, 2.0)
    return (rule.uncertainty * uncertainty + rule.disagreement * rated.disagreement
            + rule.coverage * coverage)


def _inverse_root(labels: np.ndarray, is_rated: np.ndarray) -> np.ndarray:
    """1 / sqrt(1 + rated images with the same label), per image; an image without a label
    (None) counts no rated image, as the queue's left join on NULL finds none."""
    counts: dict = {}
    for label in labels[is_rated]:
        if label is not None:
            counts[label] = counts.get(label, 0) + 1
    return np.array([1.0 / np.sqrt(1.0 + (counts.get(label, 0) if label is not None else 0))
                     for label in labels])


def _split(rated: Rated, test_share: float, start_share: float, seed: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(test rows, pool rows, start rows) for one seed: test = whole prompt groups."""
    rng = np.random.default_rng([seed, 1])
    groups = np.unique(rated.groups)
    rng.shuffle(groups)
    sizes = {g: n for g, n in zip(*np.unique(rated.groups, return_counts=True), strict=True)}
    taken, wanted = [], test_share * len(rated)
    total = 0
    for group in groups:
        if total >= wanted:
            break
        taken.append(group)
        total += sizes[group]
    is_test = np.isin(rated.groups, taken)
    test, pool = np.flatnonzero(is_test), np.flatnonzero(~is_test)
    start_rng = np.random.default_rng([seed, 2])
    start = np.sort(start_rng.choice(pool, size=max(1, round(start_share * len(pool))),
                                     replace=False))
    return test, pool, start


def _measure(rated: Rated, scores: np.ndarray, test: np.ndarray) -> dict:
    usable = test[~rated.unusable[test]]
    return {"auc_sellable": _finite(auc(rated.sellable[test], scores[test])),
            "spearman": _finite(spearman(rated.rating[usable] - 1.0, scores[usable]))}


def _finite(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def simulate(rated: Rated, learner: Learner, rule: QueueRule, seeds: int = 10,
             batch: int = 50, start_share: float = 0.1, test_share: float = 0.3,
             arms: tuple[str, ...] = ARMS, progress=say) -> list[dict]:
    """The simulation of the module's docstring: one point per (arm, seed, round) with
    n_rated, auc_sellable and spearman measured on that seed's test set."""
    if len(rated) < MIN_IMAGES:
        raise NeurostockError(f"{len(rated)} rated images: too few to simulate the queue "
                              f"(needs {MIN_IMAGES})")
    if batch < 1 or seeds < 1 or not 0 < start_share < 1 or not 0 < test_share < 1:
        raise NeurostockError("simulate: batch and seeds must be at least 1, start_share and "
                              "test_share between 0 and 1")
    unknown = set(arms) - set(ARMS)
    if unknown:
        raise NeurostockError(f"simulate: unknown arm(s) {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(ARMS)})")
    everything = np.arange(len(rated))
    points: list[dict] = []
    started = time.monotonic()
    for seed in range(seeds):
        test, pool, start = _split(rated, test_share, start_share, seed)
        for arm in arms:
            is_rated = np.zeros(len(rated), dtype=bool)
            is_rated[start] = True
            pick_rng = np.random.default_rng([seed, 3, ARMS.index(arm)])
            round_ = 0
            while True:
                scores = learner(np.flatnonzero(is_rated))(everything)
                points.append({"arm": arm, "seed": seed, "round": round_,
                               "n_rated": int(is_rated.sum()), "n_test": len(test),
                               **_measure(rated, scores, test), "batch": batch,
                               "start_share": start_share, "test_share": test_share})
                left = pool[~is_rated[pool]]
                if not len(left):
                    break
                if arm == "random" or len(left) <= batch:
                    chosen = pick_rng.choice(left, size=min(batch, len(left)), replace=False)
                else:
                    value = priority(rule, scores, rated, is_rated)[left]
                    ties = pick_rng.random(len(left))
                    chosen = left[np.lexsort((ties, -value))[:batch]]
                is_rated[chosen] = True
                round_ += 1
            last = points[-1]
            progress(f"seed {seed + 1}/{seeds}, {arm}: {round_ + 1} rounds to "
                     f"{last['n_rated']:,} ratings, AUC of sellable {_num(last['auc_sellable'])}"
                     f" ({time.monotonic() - started:.0f} s)")
    return points


def summarise(points: list[dict]) -> list[dict]:
    """Per arm and round: mean n_rated, seeds, and per figure its mean, min and max."""
    out = []
    for arm in [a for a in ARMS if any(p["arm"] == a for p in points)]:
        for round_ in sorted({p["round"] for p in points if p["arm"] == arm}):
            rows = [p for p in points if p["arm"] == arm and p["round"] == round_]
            row = {"arm": arm, "round": round_, "n_seeds": len(rows),
                   "n_rated": float(np.mean([p["n_rated"] for p in rows]))}
            for metric in ("auc_sellable", "spearman"):
                values = [p[metric] for p in rows if p[metric] is not None]
                row[metric + "_mean"] = float(np.mean(values)) if values else None
                row[metric + "_min"] = min(values) if values else None
                row[metric + "_max"] = max(values) if values else None
            out.append(row)
    return out


def paired_differences(points: list[dict], metric: str = "auc_sellable") -> dict[int, dict]:
    """Per round: the mean over the seeds of queue - random (same seed, same round), and
    its 95% Student t interval (None under two seeds); rpt_queue_simulation's columns."""
    from scipy.stats import t as student

    by_key = {(p["arm"], p["seed"], p["round"]): p[metric] for p in points}
    out = {}
    for round_ in sorted({p["round"] for p in points}):
        values = [by_key[("queue", seed, round_)] - by_key[("random", seed, round_)]
                  for seed in sorted({p["seed"] for p in points})
                  if by_key.get(("queue", seed, round_)) is not None
                  and by_key.get(("random", seed, round_)) is not None]
        if not values:
            continue
        mean = float(np.mean(values))
        half = (float(student.ppf(0.975, len(values) - 1) * np.std(values, ddof=1)
                      / np.sqrt(len(values))) if len(values) > 1 else None)
        out[round_] = {"difference": mean, "n_pairs": len(values),
                       "low": None if half is None else mean - half,
                       "high": None if half is None else mean + half}
    return out


def ratings_saved(points: list[dict], metric: str = "auc_sellable") -> dict | None:
    """Random's final mean figure (whole pool rated), the ratings it took, the first
    round of the queue whose mean reaches it and the share of ratings that took."""
    rows = summarise(points)
    random = [r for r in rows if r["arm"] == "random" and r[metric + "_mean"] is not None]
    queue = [r for r in rows if r["arm"] == "queue" and r[metric + "_mean"] is not None]
    if not random or not queue:
        return None
    final = random[-1]
    reached = next((r for r in queue if r[metric + "_mean"] >= final[metric + "_mean"]), None)
    itself = next(r for r in random if r[metric + "_mean"] >= final[metric + "_mean"])
    return {"metric": metric, "random_final": final[metric + "_mean"],
            "random_final_n": final["n_rated"],
            "queue_reaches_n": reached["n_rated"] if reached else None,
            "random_reaches_n": itself["n_rated"],
            "share_of_ratings": reached["n_rated"] / final["n_rated"] if reached else None}


def simulation_lines(points: list[dict]) -> list[str]:
    """The curves side by side as text, and the ratings saved per figure."""
    rows = summarise(points)
    by_round = {}
    for r in rows:
        by_round.setdefault(r["round"], {})[r["arm"]] = r
    lines = ["round  ratings  queue AUC [min-max]       random AUC [min-max]      "
             "queue Spearman  random Spearman  AUC queue - random [95% CI]"]
    differences = paired_differences(points)
    for round_, arms in sorted(by_round.items()):
        cells = []
        for metric in ("auc_sellable", "spearman"):
            for arm in ARMS:
                r = arms.get(arm)
                if r is None or r[metric + "_mean"] is None:
                    cells.append("-".ljust(25 if metric == "auc_sellable" else 15))
                elif metric == "auc_sellable":
                    cells.append(f"{_num(r[metric + '_mean'])} [{_num(r[metric + '_min'])}-"
                                 f"{_num(r[metric + '_max'])}]".ljust(25))
                else:
                    cells.append(_num(r[metric + "_mean"]).ljust(15))
        paired = differences.get(round_)
        if paired is not None and paired["low"] is not None:
            cells.append(f"{paired['difference']:+.3f} [{paired['low']:+.3f}, "
                         f"{paired['high']:+.3f}]")
        n = next(iter(arms.values()))["n_rated"]
        lines.append(f"{round_:>5}  {n:>7,.0f}  " + " ".join(cells).rstrip())
    for metric in ("auc_sellable", "spearman"):
        saved = ratings_saved(points, metric)
        if saved is None:
            continue
        if saved["queue_reaches_n"] is None:
            lines.append(f"{metric}: random's final {_num(saved['random_final'])} at "
                         f"{saved['random_final_n']:,.0f} ratings; the queue's mean never "
                         "reaches it before the pool is rated")
        else:
            lines.append(f"{metric}: random's final {_num(saved['random_final'])} at "
                         f"{saved['random_final_n']:,.0f} ratings; the queue reaches it at "
                         f"{saved['queue_reaches_n']:,.0f} ({saved['share_of_ratings']:.0%} "
                         "of the ratings), random itself first at "
                         f"{saved['random_reaches_n']:,.0f}")
    return lines


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


# What the queue's rule reads of each image, as rpt_rating_queue reads it.
_QUEUE_INPUTS = """
    with chosen_clusters as (
        select image_id, cluster_id
        from cluster_assignments
        where is_chosen_k
        qualify dense_rank() over (order by embedder_id, embedding_kind) = 1
    ),
    spread as (
        select image_id, count(*) as n_scorers, stddev_pop(percentile) as percentile_sd
        from score_percentiles
        where not starts_with(scorer_id, 'learned_')
        group by image_id
    )
    select ids.image_id, chosen_clusters.cluster_id, images.experiment_model_id,
           split_part(coalesce(images.img_name, ''), '_', 1) as name_prefix,
           case when coalesce(spread.n_scorers, 0) < 2 then 0.0
                else least(1.0, spread.percentile_sd / 0.5) end as disagreement
    from ns_simulation_ids as ids
    left join (select * from int_images_checked where is_valid) as images using (image_id)
    left join chosen_clusters using (image_id)
    left join spread using (image_id)
"""


def load_rated(con, ids: np.ndarray, rating: np.ndarray, sellable: np.ndarray,
               unusable: np.ndarray, groups: np.ndarray) -> Rated:
    """A Rated of `ids` (their ratings and rules as the learner's population reads them),
    with what the queue's rule reads from the warehouse."""
    import pyarrow as pa

    from neurostock.core.warehouse import table_columns

    for table in ("cluster_assignments", "score_percentiles", "int_images_checked"):
        if not table_columns(con, table):
            raise NeurostockError(f"table {table} is missing: run `neurostock build` first")
    con.register("ns_simulation_ids", pa.table({"image_id": pa.array(ids, pa.int64())}))
    try:
        rows = {r[0]: r[1:] for r in con.execute(_QUEUE_INPUTS).fetchall()}
    finally:
        con.unregister("ns_simulation_ids")

    def column(k: int) -> np.ndarray:
        out = np.empty(len(ids), dtype=object)
        out[:] = [rows[int(i)][k] for i in ids]
        return out

    return Rated(image_ids=ids, rating=np.asarray(rating, dtype=float),
                 sellable=np.asarray(sellable, dtype=bool),
                 unusable=np.asarray(unusable, dtype=bool), groups=groups,
                 cluster=column(0), experiment=column(1), prefix=column(2),
                 disagreement=column(3).astype(float))


def decision_learner(matrix: np.ndarray, context, names: list[str], rating: np.ndarray,
                     unusable: np.ndarray, groups: np.ndarray,
                     blocks: tuple[str, ...]) -> Learner:
    """The sell decision (learn/decision.py) as `neurostock build` fits it, inner search
    included, on the rows it is given."""
    from neurostock.learn import decision

    def fit(rows: np.ndarray):
        model, _ = decision.fit_decision(matrix[rows], context.take(rows), names,
                                         rating[rows], unusable[rows], groups[rows], blocks)
        return lambda these: model.predict(matrix[these], context.take(these))

    return fit


def rating_learner(model: str, x: np.ndarray, rating: np.ndarray, groups: np.ndarray,
                   names: list[str], seed: int) -> Learner:
    """A ridge or ordinal model of the 0-3 rating (learn/search.py), inner search included;
    `rating` on the 1-4 source scale."""
    from neurostock.learn.search import fit_search

    def fit(rows: np.ndarray):
        fitted, _, _ = fit_search(model, x[rows], rating[rows] - 1.0, groups[rows], names,
                                  seed)
        return lambda these: fitted.predict(x[these])

    return fit


def context_ridge_learner(matrix: np.ndarray, context, names: list[str], rating: np.ndarray,
                          groups: np.ndarray, blocks: tuple[str, ...]) -> Learner:
    """The ridge quality model with context blocks (learn/context_ridge.py) as `neurostock
    build` fits it; `rating` on the 1-4 source scale."""
    from neurostock.learn import context_ridge

    def fit(rows: np.ndarray):
        model, _ = context_ridge.fit_context_ridge(matrix[rows], context.take(rows), names,
                                                   rating[rows] - 1.0, groups[rows], blocks)
        return lambda these: model.predict(matrix[these], context.take(these))

    return fit


def warehouse_simulation(con, cfg, rule: QueueRule, seeds: int = 10, batch: int = 50,
                         progress=say) -> list[dict]:
    """The simulation on a warehouse's rated images with the learned model `cfg` (its
    population, features and estimator, as `neurostock build` trains it)."""
    from threadpoolctl import threadpool_limits

    from neurostock.learn import decision
    from neurostock.learn.context import load_context
    from neurostock.learn.features import load_features
    from neurostock.learn.train import decision_population, full_set_population

    if cfg.model == "decision":
        population = decision_population(con)
        ids = population.ids
        features = load_features(con, cfg, ids, required=False)
        matrix, names, _, _ = decision.coverage_filter(
            features.matrix, features.names, features.blocks, ~population.unusable)
        learner = decision_learner(matrix, load_context(con, ids), names, population.ratings,
                                   population.unusable, population.groups,
                                   cfg.context_blocks)
        rated = load_rated(con, ids, population.ratings, population.sellable,
                           population.unusable, population.groups)
    else:
        ids, rating, groups = full_set_population(con)
        sellable = dict(con.execute(
            "select image_id, is_sellable from image_ratings").fetchall())
        features = load_features(con, cfg, ids)
        learner = (context_ridge_learner(features.matrix, load_context(con, ids),
                                         features.names, rating + 1.0, groups,
                                         cfg.context_blocks) if cfg.context_blocks
                   else rating_learner(cfg.model, features.matrix, rating + 1.0, groups,
                                       features.names, cfg.seed))
        rated = load_rated(con, ids, rating + 1.0, [bool(sellable[int(i)]) for i in ids],
                           np.zeros(len(ids), dtype=bool), groups)
    # Many small fits: one BLAS thread each (as the learning curve).
    with threadpool_limits(limits=1, user_api="blas"):
        return simulate(rated, learner, rule, seeds=seeds, batch=batch,
                        progress=lambda text: progress(f"queue simulation {cfg.scorer_id}: "
                                                       f"{text}"))


def save_simulation(con, cfg, points: list[dict]) -> None:
    """Replace `cfg`'s rows of annotations.queue_simulation with `points`."""
    from datetime import UTC, datetime

    from neurostock.core.meta import ensure_ratings_table

    ensure_ratings_table(con)
    stamp = datetime.now(UTC)
    con.execute("begin transaction")
    con.execute("delete from annotations.queue_simulation where scorer_id = ?",
                [cfg.scorer_id])
    con.executemany(
        "insert into annotations.queue_simulation (scorer_id, arm, seed, round, n_rated, "
        "n_test, auc_sellable, spearman, batch, start_share, test_share, model, computed_at) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[cfg.scorer_id, p["arm"], p["seed"], p["round"], p["n_rated"], p["n_test"],
          p["auc_sellable"], p["spearman"], p["batch"], p["start_share"], p["test_share"],
          cfg.model, stamp]
         for p in points])
    con.execute("commit")
