"""Benchmark: the metric models (dbt_project/models/metrics) against the team's pandas +
scipy + scikit-learn loop, side by side, on synthetic data.

    .venv/bin/python benchmarks/bench_metrics.py [--images 12000] [--scorers 20]
        [--replicates N] [--baseline-replicates 20] [--out bench_out/metrics.json] [--keep]

Target (agreement issue): all metric models over 12,000 images x 20 scorers x all
subsets, bootstrap included, under 60 s on 2 cores.

Data: a fresh warehouse /tmp/benchm_metrics_*/warehouse.duckdb (the name matters: dbt
uses the file stem as catalog) holding the models' inputs as plain tables, from seeded
numpy:
  full_set        --images rated images, rating 0-3 with p = .30/.30/.25/.15
  big_set         10,000 other (unrated) images
  image_signals   --scorers valid signals for every image (12 scores, 8 features of
                  embedders clip and minilm): continuous ones correlated with the
                  rating at several strengths and signs, many ties (1 decimal, 70%
                  zeros, 10 image widths), integers, pure noise
  signal_summary  one row per signal, all valid
  image_subsets   all; clusters of 2 embedders (k = 8 and 10); 6 experiment models;
                  12 generation months: each image is in 5 subsets, so
                  12,000 x 20 x 5 = 1.2 M (signal, subset, image) pairs
Variants, each in a fresh process so that its peak memory is its own (peak MB: the
largest single process; for the dbt variants its VmHWM from /proc, sampled every 0.05 s,
since ru_maxrss of a child counts its parent's pages at fork):
  project   NEUROSTOCK_CONFIG=none neurostock --warehouse WH dbt run -s <the 5 metric
            models> (bootstrap_replicates from dbt_project.yml, or --replicates);
            per-model timings from dbt's run_results.json. The timed figure is the
            whole command: start-up, a full dbt parse and the 5 models.
  tests     neurostock dbt test on the same selection: timed apart, not in the target
  baseline  the team's way: the pairs into pandas, groupby (scorer, subset), scipy
            spearmanr / pearsonr / kendalltau, sklearn roc_auc_score and roc_curve
            (best balanced accuracy; the thresholds table and the precision-target
            suggestion with its big_set keep rate), and a bootstrap of spearmanr
            (resampled indices, default_rng(...).integers(0, n, size=n) per
            replicate) with --baseline-replicates replicates; also extrapolated
            linearly to the project's replicates (at 1,000 it would take many minutes)
Cross-check: spearman, pearson, kendall, auc and balanced accuracy of every (scorer,
subset), project vs baseline; the suggested thresholds and big_set keep rates; and the
first --baseline-replicates bootstrap replicates of the project's resampler
(analysis/bootstrap.py) vs scipy on the very same resamples (the baseline seeds each
group as the project does and orders its rows the same way).

Nothing is written into the checkout: the scratch warehouse's dbt files live beside it
(<warehouse>.dbt/), and dbt's target/ and logs/ go to the scratch directory.
Results go to stdout and --out (JSON). The scratch directory is removed unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

from proc_stats import watch_peaks  # noqa: E402 (run as a script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = (
    "int_agreement_pairs",
    "int_spearman_bootstrap",
    "rpt_score_agreement",
    "rpt_score_thresholds",
    "rpt_threshold_suggestions",
)
TARGET_SECONDS = 60.0
BIG_SET_IMAGES = 10_000
RATING_P = (0.30, 0.30, 0.25, 0.15)
DATA_SEED = 20240601
CLUSTERS = (("clip", 8), ("minilm", 10))
EXPERIMENT_MODELS = (3, 5, 7, 11, 12, 15)
MONTHS = tuple(f"2023-{m:02d}" for m in range(1, 13))
METRICS = ("spearman", "pearson", "kendall", "auc", "balanced_accuracy")


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- synthetic warehouse ---------------------------------------------------------------


def _signal_specs():
    """(scorer_id, signal_kind, embedder_id, maker): maker(latent, rng) -> scores, where
    `latent` is the standardised rating (plus noise) and `rng` a numpy Generator."""
    import numpy as np

    def mix(latent, rng, r):  # correlation ~r with the latent
        return r * latent + np.sqrt(1 - r * r) * rng.standard_normal(len(latent))

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    widths = np.array([512, 640, 768, 832, 896, 1024, 1152, 1216, 1344, 1536])

    def width(latent, rng):
        x = mix(latent, rng, 0.15)
        return widths[np.searchsorted(np.quantile(x, np.linspace(0, 1, 11)[1:-1]), x)]

    def text_in_image(latent, rng):
        x = mix(latent, rng, -0.25)
        cut = np.quantile(x, 0.7)
        return np.where(x < cut, 0.0, np.round(x - cut, 3))

    return [
        # Scores: computed, imported, an aesthetic head.
        ("sharpness", "score", None, lambda q, g: np.exp(0.5 * mix(q, g, 0.6))),
        ("laion_aesthetic", "score", None, lambda q, g: np.round(5 + mix(q, g, 0.45), 1)),
        ("brightness", "score", None, lambda q, g: 0.5 + 0.15 * mix(q, g, 0.1)),
        ("contrast", "score", None, lambda q, g: 40 + 8 * mix(q, g, -0.3)),
        ("colorfulness", "score", None, lambda q, g: np.round(3 + mix(q, g, 0.2), 1)),
        ("width", "score", None, width),
        ("jpeg_quality", "score", None,
         lambda q, g: np.clip(np.round(85 + 8 * mix(q, g, 0.05)), 60, 100)),
        ("nsfw", "score", None, lambda q, g: sigmoid(-3 + 1.5 * mix(q, g, -0.1))),
        ("text_in_image", "score", None, text_in_image),
        ("aesthetic_mlp@clip", "score", "clip", lambda q, g: 4 + 0.8 * mix(q, g, 0.5)),
        ("imported_rater", "score", None,
         lambda q, g: np.clip(np.round(5.5 + 2 * mix(q, g, 0.35)), 1, 10)),
        ("noise", "score", None, lambda q, g: g.standard_normal(len(q))),
        # Features of the embedders.
        ("image_prompt_similarity@clip", "feature", "clip",
         lambda q, g: 0.3 + 0.03 * mix(q, g, 0.25)),
        ("image_prompt_similarity@minilm", "feature", "minilm",
         lambda q, g: 0.5 + 0.1 * mix(q, g, 0.15)),
        ("centroid_distance@clip", "feature", "clip",
         lambda q, g: np.exp(-1 + 0.2 * mix(q, g, -0.2))),
        ("centroid_distance@minilm", "feature", "minilm",
         lambda q, g: np.exp(-0.7 + 0.2 * mix(q, g, -0.05))),
        ("zero_shot_photo@clip", "feature", "clip", lambda q, g: sigmoid(mix(q, g, 0.3))),
        ("zero_shot_artifacts@clip", "feature", "clip",
         lambda q, g: sigmoid(-1 + mix(q, g, -0.35))),
        ("zero_shot_people@minilm", "feature", "minilm", lambda q, g: sigmoid(mix(q, g, 0.0))),
        ("zero_shot_style@minilm", "feature", "minilm",
         lambda q, g: np.round(sigmoid(mix(q, g, 0.1)), 2)),
    ]


def make_warehouse(path: Path, n_images: int, n_scorers: int) -> dict:
    """Write the metric models' inputs into a new warehouse; returns what was made."""
    import duckdb
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(DATA_SEED)
    n_all = n_images + BIG_SET_IMAGES
    ids = rng.choice(10 * n_all, size=n_all, replace=False).astype(np.int64) + 1
    rating = rng.choice(4, size=n_all, p=RATING_P)  # big_set's: hidden, for its scores
    full_ids = ids[:n_images]

    def shares(k: int) -> np.ndarray:  # unequal subset sizes
        return rng.dirichlet(np.full(k, 4.0))

    model_id = np.asarray(EXPERIMENT_MODELS)[
        rng.choice(len(EXPERIMENT_MODELS), n_images, p=shares(len(EXPERIMENT_MODELS)))]
    month = rng.choice(len(MONTHS), n_images, p=shares(len(MONTHS)))
    day = rng.integers(0, 28, n_images)
    generated_at = pd.to_datetime([f"{MONTHS[m]}-{d + 1:02d} 12:00" for m, d in
                                   zip(month, day, strict=True)])
    full_set = pd.DataFrame({
        "image_id": full_ids, "prompt": [f"prompt {i}" for i in full_ids],
        "rating": rating[:n_images].astype(np.int32),
        "source_rating": rating[:n_images].astype(np.int32) + 1,
        "generated_at": generated_at, "experiment_model_id": model_id.astype(np.int64),
    })
    big_set = pd.DataFrame({"image_id": ids[n_images:],
                            "prompt": [f"prompt {i}" for i in ids[n_images:]]})

    subsets = [pd.DataFrame({"image_id": full_ids, "subset": "all", "subset_kind": "all",
                             "subset_embedder_id": None})]
    for embedder, k in CLUSTERS:
        cluster = rng.choice(k, n_images, p=shares(k))
        subsets.append(pd.DataFrame({
            "image_id": full_ids, "subset": [f"cluster:{embedder}:{c}" for c in cluster],
            "subset_kind": "cluster", "subset_embedder_id": embedder}))
    subsets.append(pd.DataFrame({
        "image_id": full_ids, "subset": [f"experiment_model:{m}" for m in model_id],
        "subset_kind": "experiment_model", "subset_embedder_id": None}))
    subsets.append(pd.DataFrame({
        "image_id": full_ids, "subset": [f"generation_month:{MONTHS[m]}" for m in month],
        "subset_kind": "generation_month", "subset_embedder_id": None}))
    image_subsets = pd.concat(subsets, ignore_index=True)

    latent = (rating - rating.mean()) / rating.std() + 0.3 * rng.standard_normal(n_all)
    latent /= latent.std()
    specs = _signal_specs()
    frames = []
    for i in range(n_scorers):
        scorer_id, kind, embedder, maker = specs[i % len(specs)]
        if i >= len(specs):  # more scorers than specs: numbered copies
            base, _, emb = scorer_id.partition("@")
            scorer_id = f"{base}_{i // len(specs) + 1}" + (f"@{emb}" if emb else "")
        frames.append(pd.DataFrame({
            "image_id": ids, "scorer_id": scorer_id,
            "base_scorer_id": scorer_id.split("@")[0], "signal_kind": kind,
            "embedder_id": embedder, "score": maker(latent, rng).astype(np.float64),
            "is_random_init": False}))
    image_signals = pd.concat(frames, ignore_index=True)

    con = duckdb.connect(str(path))
    for name, frame in (("full_set", full_set), ("big_set", big_set),
                        ("image_subsets", image_subsets), ("image_signals", image_signals)):
        con.register("frame", frame)
        con.execute(f"create table {name} as select * from frame")
        con.unregister("frame")
    con.execute("""
        create or replace table full_set as
        select image_id::bigint as image_id, prompt, rating::integer as rating,
               source_rating::integer as source_rating, generated_at::timestamp as generated_at,
               experiment_model_id::bigint as experiment_model_id
        from full_set;
        create or replace table image_subsets as
        select image_id::bigint as image_id, subset, subset_kind,
               subset_embedder_id::varchar as subset_embedder_id
        from image_subsets;
        create or replace table image_signals as
        select image_id::bigint as image_id, scorer_id, base_scorer_id, signal_kind,
               embedder_id::varchar as embedder_id, score::double as score,
               is_random_init::boolean as is_random_init
        from image_signals;
        create table signal_summary as
        select scorer_id, any_value(base_scorer_id) as base_scorer_id,
               any_value(signal_kind) as signal_kind, any_value(embedder_id) as embedder_id,
               bool_or(is_random_init) as is_random_init, count(*) as n,
               count(distinct score) as n_distinct, min(score) as min_score,
               max(score) as max_score, avg(score) as mean_score,
               count(*) filter (where isnan(score) or isinf(score)) as n_not_finite,
               null::varchar as invalid_reason, true as is_valid
        from image_signals group by scorer_id;
    """)
    made = {
        "images": n_images, "big_set_images": BIG_SET_IMAGES, "scorers": n_scorers,
        "subsets": con.execute("select count(distinct subset) from image_subsets").fetchone()[0],
        "pairs": con.execute("select count(*) from image_signals join full_set using (image_id) "
                             "join image_subsets using (image_id)").fetchone()[0],
        "distinct_scores": dict(con.execute(
            "select scorer_id, n_distinct from signal_summary order by scorer_id").fetchall()),
    }
    con.close()
    return made


def _dbt_vars() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]


# -- children: each runs in its own process --------------------------------------------


def _tree_peak_mb() -> float:
    """Peak RSS of this process and of any waited-for descendant (the largest one)."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def child_dbt(command: str, scratch: Path, replicates: int | None) -> dict:
    """`neurostock dbt run|test -s <metric models>` on the scratch warehouse, timed."""
    cli = Path(sys.executable).with_name("neurostock")
    args = [str(cli) if cli.exists() else "neurostock",
            "--warehouse", str(scratch / "warehouse.duckdb"),
            "dbt", command, "-s", *MODELS,
            "--target-path", str(scratch / "target"), "--log-path", str(scratch / "logs")]
    if replicates is not None:
        args += ["--vars", f"{{bootstrap_replicates: {replicates}}}"]
    log = scratch / f"dbt_{command}.log"
    env = {**os.environ, "NEUROSTOCK_CONFIG": "none"}
    peaks: dict[str, int] = {}
    done = threading.Event()
    started = time.perf_counter()
    with open(log, "w") as fh:
        process = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        watcher = threading.Thread(target=watch_peaks,
                                   args=(process.pid, peaks, done, "neurostock"))
        watcher.start()
        rc = process.wait()
    seconds = time.perf_counter() - started
    done.set()
    watcher.join()
    # ru_maxrss of a child counts its parent's pages at fork (the dbt child would show the
    # neurostock process's size), so the sampled per-process peaks are the ones reported.
    tree_peak = _tree_peak_mb()
    sampled = {k: v / 1024 for k, v in peaks.items()}
    try:
        run_results = json.loads((scratch / "target" / "run_results.json").read_text())
    except (OSError, ValueError):
        run_results = {"results": [], "elapsed_time": None}
    nodes = [{"node": r["unique_id"].split(".")[2], "status": r["status"],
              "seconds": r["execution_time"]} for r in run_results["results"]]
    text = log.read_text()
    # int_spearman_bootstrap's last progress line: the resampling alone.
    found = re.findall(r"\[bootstrap\] .*?, ([0-9.]+) s", text)
    return {"variant": command, "rc": rc, "seconds": seconds,
            "peak_mb": max(sampled.values(), default=tree_peak), "sampled_peak_mb": sampled,
            "ru_maxrss_tree_mb": tree_peak,
            "dbt_elapsed_seconds": run_results.get("elapsed_time"), "nodes": nodes,
            "bootstrap_compute_seconds": float(found[-1]) if found else None,
            "log": str(log), "command": " ".join(args[1:])}


def child_baseline(scratch: Path, replicates: int, seed: int, good_min: int,
                   target_precision: float, min_n: int) -> dict:
    """The team's way: pandas + scipy + scikit-learn, one (scorer, subset) at a time."""
    import warnings

    import duckdb
    import numpy as np
    from scipy import stats
    from sklearn.metrics import roc_auc_score, roc_curve

    warnings.filterwarnings("ignore")  # scipy's ConstantInputWarning on constant resamples
    started = time.perf_counter()
    con = duckdb.connect(str(scratch / "warehouse.duckdb"), read_only=True)
    pairs = con.execute("""
        select s.scorer_id, sub.subset, s.image_id, s.score, f.rating
        from image_signals as s
        inner join signal_summary as summary using (scorer_id)
        inner join full_set as f using (image_id)
        inner join image_subsets as sub using (image_id)
        where summary.is_valid
        order by s.scorer_id, sub.subset, s.score, f.rating, s.image_id
    """).df()
    big = con.execute("select scorer_id, score from image_signals "
                      "semi join big_set using (image_id)").df()
    con.close()
    load_seconds = time.perf_counter() - started

    def oriented_curve(good, score, direction):
        """sklearn's ROC curve over every distinct score, keeping the good side."""
        signed = score if direction == "higher" else -score
        fpr, tpr, thresholds = roc_curve(good, signed, drop_intermediate=False)
        # thresholds[0] is +inf: keep nothing.
        if direction == "lower":
            thresholds = -thresholds
        return fpr[1:], tpr[1:], thresholds[1:]

    # Direction of each signal: from its AUC over all rated images.
    directions = {}
    for scorer_id, g in pairs[pairs["subset"] == "all"].groupby("scorer_id", sort=False):
        auc = roc_auc_score(g["rating"] >= good_min, g["score"])
        directions[scorer_id] = "higher" if auc >= 0.5 else "lower"

    rows, replicate_stats, boot_seconds = [], {}, 0.0
    for (scorer_id, subset), g in pairs.groupby(["scorer_id", "subset"], sort=False):
        score, rating = g["score"].to_numpy(), g["rating"].to_numpy()
        good = rating >= good_min
        n = len(score)
        row = {"scorer_id": scorer_id, "subset": subset, "n": n,
               "spearman": stats.spearmanr(score, rating).statistic,
               "pearson": stats.pearsonr(score, rating).statistic,
               "kendall": stats.kendalltau(score, rating).statistic,
               "auc": None, "balanced_accuracy": None}
        if 0 < good.sum() < n:
            row["auc"] = roc_auc_score(good, score)
            fpr, tpr, _ = oriented_curve(good, score, directions[scorer_id])
            row["balanced_accuracy"] = float(np.max((tpr + 1 - fpr) / 2))
        began = time.perf_counter()
        if n >= min_n and replicates > 0:
            rng = np.random.default_rng([seed, zlib.crc32(f"{scorer_id}|{subset}".encode())])
            rhos = []
            for _ in range(replicates):
                idx = rng.integers(0, n, size=n)
                rhos.append(stats.spearmanr(score[idx], rating[idx]).statistic)
            rhos = np.asarray(rhos, dtype=float)
            defined = rhos[~np.isnan(rhos)]
            row["spearman_ci_low"], row["spearman_ci_high"] = (
                np.percentile(defined, [2.5, 97.5]).tolist() if len(defined) else (None, None))
            if subset == "all":
                replicate_stats[scorer_id] = rhos.tolist()
        boot_seconds += time.perf_counter() - began
        rows.append(row)

    # Thresholds over all rated images, the precision-target suggestion, big_set keep rate.
    suggestions = {}
    for scorer_id, g in pairs[pairs["subset"] == "all"].groupby("scorer_id", sort=False):
        good = (g["rating"] >= good_min).to_numpy()
        direction = directions[scorer_id]
        fpr, tpr, thresholds = oriented_curve(good, g["score"].to_numpy(), direction)
        n_good, n_bad = good.sum(), (~good).sum()
        n_good_kept = np.rint(tpr * n_good)
        n_kept = n_good_kept + np.rint(fpr * n_bad)
        precision = n_good_kept / n_kept
        ok = (precision >= target_precision) & (n_kept >= min_n)
        threshold = float(thresholds[ok][np.argmax(n_kept[ok])]) if ok.any() else None
        unrated = big.loc[big["scorer_id"] == scorer_id, "score"].to_numpy()
        keep = None
        if threshold is not None:
            kept = unrated >= threshold if direction == "higher" else unrated <= threshold
            keep = float(kept.mean())
        suggestions[scorer_id] = {"precision_threshold": threshold, "big_set_keep_rate": keep}

    seconds = time.perf_counter() - started
    (scratch / "baseline_results.json").write_text(json.dumps(
        {"rows": rows, "replicates": replicate_stats, "suggestions": suggestions},
        default=float))
    return {"variant": "baseline", "seconds": seconds, "peak_mb": _tree_peak_mb(),
            "load_seconds": load_seconds, "bootstrap_seconds": boot_seconds,
            "groups": len(rows), "replicates": replicates}


def _measure(mode: str, scratch: Path, extra: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--scratch", str(scratch), *extra],
        check=True, stdout=subprocess.PIPE, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- cross-check -----------------------------------------------------------------------


def cross_check(scratch: Path, seed: int) -> dict:
    """Project (the warehouse's tables) vs baseline (baseline_results.json)."""
    import duckdb
    import numpy as np
    import pandas as pd

    from neurostock.analysis.bootstrap import group_rng, resampled_spearman

    baseline = json.loads((scratch / "baseline_results.json").read_text())
    con = duckdb.connect(str(scratch / "warehouse.duckdb"), read_only=True)
    project = con.execute(f"select scorer_id, subset, n, {', '.join(METRICS)} "
                          "from rpt_score_agreement").df()
    merged = project.merge(pd.DataFrame(baseline["rows"]), on=["scorer_id", "subset"],
                           suffixes=("", "_baseline"), how="outer", indicator=True)
    result: dict = {"groups_project": len(project), "groups_baseline": len(baseline["rows"]),
                    "groups_unmatched": int((merged["_merge"] != "both").sum()),
                    "n_mismatches": int((merged["n"] != merged["n_baseline"]).sum())}

    def max_diff(frame: pd.DataFrame, column: str) -> float:
        a = frame[column].astype(float).to_numpy()
        b = frame[f"{column}_baseline"].astype(float).to_numpy()
        both_null = np.isnan(a) & np.isnan(b)
        one_null = np.isnan(a) ^ np.isnan(b)
        if one_null.any():
            return float("inf")
        diff = np.abs(a - b)[~both_null]
        return float(diff.max()) if len(diff) else 0.0

    result["max_abs_diff_all_subsets"] = {m: max_diff(merged, m) for m in METRICS}
    result["max_abs_diff_subset_all"] = {
        m: max_diff(merged[merged["subset"] == "all"], m) for m in METRICS}

    suggested = con.execute("select scorer_id, precision_threshold, big_set_keep_rate "
                            "from rpt_threshold_suggestions").fetchall()
    worst = 0.0
    for scorer_id, threshold, keep in suggested:
        theirs = baseline["suggestions"].get(scorer_id, {})
        for ours, other in ((threshold, theirs.get("precision_threshold")),
                            (keep, theirs.get("big_set_keep_rate"))):
            if (ours is None) != (other is None):
                worst = float("inf")
            elif ours is not None:
                worst = max(worst, abs(ours - other))
    result["suggestions_max_abs_diff"] = worst

    # The project's resampler on the first B resamples vs scipy on the same rows.
    worst = 0.0
    for scorer_id, rhos in baseline["replicates"].items():
        score, rating = con.execute(
            "select score, rating from int_agreement_pairs where scorer_id = ? and subset = 'all' "
            "order by score, rating, image_id", [scorer_id]).fetchnumpy().values()
        ours = resampled_spearman(score.astype(float), rating.astype(np.int64), len(rhos),
                                  group_rng(seed, scorer_id, "all"))
        theirs = np.asarray(rhos, dtype=float)
        if (np.isnan(ours) != np.isnan(theirs)).any():
            worst = float("inf")
        else:
            worst = max(worst, float(np.nanmax(np.abs(ours - theirs))))
    result["bootstrap_replicates_max_abs_diff"] = worst
    result["bootstrap_replicates_compared"] = sum(len(r) for r in baseline["replicates"].values())
    result["project_n_bootstrap"] = sorted({r[0] for r in con.execute(
        "select distinct n_bootstrap from int_spearman_bootstrap").fetchall()})
    con.close()
    return result


# -- report ----------------------------------------------------------------------------


def _table(rows: list[tuple]) -> str:
    lines = ["| variant | seconds | peak MB | notes |", "|---|---:|---:|---|"]
    for variant, seconds, peak, notes in rows:
        peak_text = "-" if peak is None else f"{peak:,.0f}"
        lines.append(f"| {variant} | {seconds:,.1f} | {peak_text} | {notes} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12_000)
    parser.add_argument("--scorers", type=int, default=20)
    parser.add_argument("--replicates", type=int,
                        help="bootstrap_replicates for the project (default: dbt_project.yml)")
    parser.add_argument("--baseline-replicates", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench_out" / "metrics.json")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    dbt_vars = _dbt_vars()
    if args.child:
        if args.child in {"run", "test"}:
            result = child_dbt(args.child, args.scratch, args.replicates)
        else:
            result = child_baseline(
                args.scratch, args.baseline_replicates, int(dbt_vars["bootstrap_seed"]),
                int(dbt_vars["good_rating_min"]), float(dbt_vars["target_precision"]),
                int(dbt_vars["agreement_min_n"]))
        print(json.dumps(result))
        return

    began = time.perf_counter()
    project_b = args.replicates if args.replicates is not None else int(
        dbt_vars["bootstrap_replicates"])
    baseline_b = args.baseline_replicates
    scratch = Path(tempfile.mkdtemp(prefix="benchm_metrics_", dir="/tmp"))
    try:
        _log(f"scratch {scratch}: making the warehouse ({args.images:,} images, "
             f"{args.scorers} scorers) …")
        started = time.perf_counter()
        data = make_warehouse(scratch / "warehouse.duckdb", args.images, args.scorers)
        data["seconds"] = time.perf_counter() - started
        _log(f"  {data['pairs']:,} pairs over {data['subsets']} subsets, "
             f"made in {data['seconds']:.1f} s")

        extra = ["--replicates", str(args.replicates)] if args.replicates is not None else []
        _log(f"project: neurostock dbt run (B = {project_b}) …")
        run = _measure("run", scratch, extra)
        if run["rc"] != 0:
            print(Path(run["log"]).read_text()[-4000:])
            sys.exit(f"bench_metrics: dbt run failed (exit {run['rc']}); the log's end is "
                     "above (--keep keeps the scratch directory)")
        _log(f"  {run['seconds']:.1f} s, {run['peak_mb']:.0f} MB")
        _log("tests: neurostock dbt test …")
        test = _measure("test", scratch, [])
        _log(f"  {test['seconds']:.1f} s, rc {test['rc']}")
        _log(f"baseline: pandas + scipy + sklearn (B = {baseline_b}) …")
        base = _measure("baseline", scratch, ["--baseline-replicates", str(baseline_b)])
        _log(f"  {base['seconds']:.1f} s, {base['peak_mb']:.0f} MB")
        no_boot = base["seconds"] - base["bootstrap_seconds"]
        extrapolated = no_boot + base["bootstrap_seconds"] * project_b / max(baseline_b, 1)
        _log("cross-check …")
        check = cross_check(scratch, int(dbt_vars["bootstrap_seed"]))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    passed = sum(n["status"] == "pass" for n in test["nodes"])
    size = f"{args.images:,} images x {args.scorers} scorers x {data['subsets']} subsets"
    rows = [
        ("project: dbt run, 5 metric models", run["seconds"], run["peak_mb"],
         f"B = {project_b}; whole `neurostock dbt run` (start-up, parse, models)"),
        ("project: dbt test, same selection", test["seconds"], test["peak_mb"],
         f"{passed}/{len(test['nodes'])} tests pass; not in the target"),
        (f"baseline, measured (B = {baseline_b})", base["seconds"], base["peak_mb"],
         f"load {base['load_seconds']:.1f} s, metrics {no_boot - base['load_seconds']:.1f} s, "
         f"bootstrap {base['bootstrap_seconds']:.1f} s"),
        (f"baseline, EXTRAPOLATED to B = {project_b}", extrapolated, None,
         f"not run: {no_boot:.1f} s + {base['bootstrap_seconds']:.1f} s x "
         f"{project_b}/{baseline_b}"),
    ]
    print(f"\nmetric models: {size}, {data['pairs']:,} pairs; {os.cpu_count()} cores\n")
    print(_table(rows))
    print("\nper model (dbt run_results.json, execution time):\n")
    print("| model | seconds | status |\n|---|---:|---|")
    for node in run["nodes"]:
        print(f"| {node['node']} | {node['seconds']:.1f} | {node['status']} |")
    overhead = run["seconds"] - sum(n["seconds"] for n in run["nodes"])
    print(f"| (start-up, parse, rest) | {overhead:.1f} | |")
    sampled = run["sampled_peak_mb"]
    print(f"\npeak RSS per process of the run (VmHWM, sampled every 0.05 s): dbt "
          f"{sampled.get('dbt', 0):,.0f} MB, neurostock CLI {sampled.get('neurostock', 0):,.0f} "
          f"MB; ru_maxrss of the tree {run['ru_maxrss_tree_mb']:,.0f} MB (a forked child "
          "counts its parent's pages)")
    if run["bootstrap_compute_seconds"] is not None:
        print(f"\nbootstrap resampling alone (its progress line): "
              f"{run['bootstrap_compute_seconds']:.1f} s")

    diffs = check["max_abs_diff_all_subsets"]
    print(f"\ncross-check, max |project - baseline| over {check['groups_project']} "
          f"(scorer, subset) groups ({check['groups_unmatched']} unmatched, "
          f"{check['n_mismatches']} with another n):")
    for metric in METRICS:
        print(f"  {metric:<18} all subsets {diffs[metric]:.2e}   subset 'all' "
              f"{check['max_abs_diff_subset_all'][metric]:.2e}")
    print(f"  suggested threshold and big_set keep rate  "
          f"{check['suggestions_max_abs_diff']:.2e}")
    print(f"  bootstrap: {check['bootstrap_replicates_compared']} replicates of the project's "
          f"resampler vs scipy on the same resamples "
          f"{check['bootstrap_replicates_max_abs_diff']:.2e}; project n_bootstrap "
          f"{check['project_n_bootstrap']}")

    tolerance = 1e-9
    checks = {
        f"project < {TARGET_SECONDS:.0f} s": run["seconds"] < TARGET_SECONDS,
        "project tests pass": test["rc"] == 0,
        "project = baseline (1e-9)": (
            check["groups_unmatched"] == 0 and check["n_mismatches"] == 0
            and max(diffs.values()) < tolerance
            and check["suggestions_max_abs_diff"] < tolerance
            and check["bootstrap_replicates_max_abs_diff"] < tolerance),
    }
    print(f"\nbaseline extrapolated / project: {extrapolated / run['seconds']:.1f}x the time")
    for name, ok in checks.items():
        print(f"{name}: {'PASS' if ok else 'FAIL'}")
    total = time.perf_counter() - began
    print(f"\nbenchmark took {total:.0f} s"
          + (f"; scratch kept in {scratch}" if args.keep else ""))

    report = {
        "target": f"all metric models, {size}, bootstrap included, "
                  f"under {TARGET_SECONDS:.0f} s on 2 cores",
        "cores": os.cpu_count(), "data": data, "project_replicates": project_b,
        "project": run, "tests": test, "baseline": base,
        "baseline_extrapolated_seconds": extrapolated, "cross_check": check,
        "checks": checks, "benchmark_seconds": total,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
