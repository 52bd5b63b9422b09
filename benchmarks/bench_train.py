"""Benchmark: training the learned models (learn/search.py, learn/decision.py) on 12,000 images x
1,024-d embedding features (+ 20 scores), 5-fold grouped cross-validation with the
inner grid search, plus the final refit: what `neurostock train` computes. Target:
under 2 minutes on 2 cores; the decision model, with its forward-in-time and
unseen-generator validation (issue 25), under 3 minutes. Side by side, in one run,
each in its own process:

  baseline   the reference measurement of the issue: a ridge regression with a fixed
             alpha, standardised features, GroupKFold(5) by prompt, no inner search
             (sklearn cross_val_predict)
  ridge      the project's model: quantile-normalised scores, width-weighted
             embeddings, alpha x embedding weight chosen in an inner grouped 3-fold
             search inside every outer fold, then the refit on all images
  ordinal    the same with the cumulative logistic model
  decision   the sell-decision model (learn/decision.py): every rated image, about half
             unusable (rating 5), two parts (P(usable) x E[rating | usable]) searched
             per part with the embedding weight and the weights of the four context
             blocks (prompt words, name prefix, experiment, month), plus each block's
             drop-one contribution per fold, the refit, the grouped bootstrap of
             AUC, precision and contributions, then the forward figures (3 periods by
             month, each a model fitted on the months before it) and the unseen-generator
             figures (each of the 5 experiment models held out in turn)
  context_ridge  the ridge quality model with the four context blocks
             (learn/context_ridge.py): the same data's ratings 0-3, each block's weight
             searched in the inner folds, each switchable block's drop-one predictions
             per fold, the refit, the grouped bootstrap of the Spearman and of each
             block's contribution, then the forward and unseen-generator figures with
             their drop-one contributions

Data (seeded numpy): 4,000 prompts x 3 images; a 1,024-d unit "embedding" (two
512-d blocks) whose first dimensions carry the prompt's quality; 20 scores, a few
related to the rating through monotone, heavy-tailed links; ratings 0-3.

    .venv/bin/python benchmarks/bench_train.py [--images 12000] [--dim 1024]
        [--scores 20] [--variants baseline,ridge,ordinal,decision,context_ridge]
        [--out bench_out/train.json]

For the decision variant the synthetic images also get a prompt of words (some tied to
the prompt's quality), a name prefix (3/6/7; 7 more often unusable), an experiment model
and number and a month, and a resolved rating 1-5 (5 = unusable, about half).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def make_data(images: int, dim: int, n_scores: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_prompts = max(2, images // 3)
    prompt_quality = rng.normal(size=n_prompts)
    prompt_of = np.repeat(np.arange(n_prompts), 3)[:images]
    image_quality = prompt_quality[prompt_of] + rng.normal(size=images)
    embedding = rng.normal(size=(images, dim))
    embedding[:, :8] += 0.8 * prompt_quality[prompt_of, None]
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    scores = rng.normal(size=(images, n_scores))
    for j in range(min(5, n_scores)):
        scores[:, j] = np.exp(image_quality * (0.3 + 0.1 * j) + rng.normal(size=images))
    scores[rng.random(scores.shape) < 0.02] = np.nan  # a few images without a score
    latent = image_quality + 0.5 * rng.normal(size=images)
    rating = np.digitize(latent, np.quantile(latent, [0.3, 0.6, 0.85])).astype(float)
    names = ([f"image:emb[{d}]" for d in range(dim // 2)]
             + [f"prompt:emb[{d}]" for d in range(dim - dim // 2)]
             + [f"score:s{j}" for j in range(n_scores)])
    return np.hstack([embedding, scores]), rating, prompt_of.astype(str), names


def make_decision_data(images: int, rating: np.ndarray, groups: np.ndarray, seed: int = 1):
    """Context (prompt words, prefix, experiment, month), source ratings 1-5, which are
    unusable (5) and which sellable (3-4) for the decision variant: about half unusable,
    more so for prefix 7 and some words."""
    from neurostock.learn.context import Context

    rng = np.random.default_rng(seed)
    prompt_of = groups.astype(int)
    n_prompts = int(prompt_of.max()) + 1
    letters = "abcdefghijklmnopqrst"
    vocabulary = np.array([a + b + c for a in letters for b in letters for c in "xyz"])[:400]
    chosen = [rng.choice(len(vocabulary), 8) for _ in range(n_prompts)]
    prompt_words = [" ".join(vocabulary[c]) for c in chosen]
    bad_word = np.array([bool(np.isin(c, [1, 2]).any()) for c in chosen])
    prefix = rng.choice(np.array(["3", "6", "7"], dtype=object), images, p=[0.4, 0.4, 0.2])
    model = rng.integers(1, 6, images)
    number = rng.integers(1, 20, images)
    month = np.array([f"2022-{m:02d}" for m in rng.integers(1, 13, images)], dtype=object)
    logit = 0.4 * (1.5 - rating) + 1.0 * (prefix == "7") + 0.8 * bad_word[prompt_of] \
        + 0.3 * rng.normal(size=images)
    unusable = logit > np.quantile(logit, 0.51)
    source = np.where(unusable, 5.0, rating + 1.0)
    context = Context(
        image_ids=np.arange(images, dtype=np.int64),
        prompt=np.array([prompt_words[p] for p in prompt_of], dtype=object),
        prefix=prefix.astype(object),
        experiment_model=np.array([str(m) for m in model], dtype=object),
        experiment_number=np.array([f"{m}/{k}" for m, k in zip(model, number, strict=True)],
                                   dtype=object),
        month=month)
    return context, source, unusable, (source >= 3) & (source <= 4)


def run_variant(variant: str, images: int, dim: int, n_scores: int) -> dict:
    from scipy.stats import spearmanr

    x, y, groups, names = make_data(images, dim, n_scores)
    started = time.perf_counter()
    if variant == "baseline":
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import Ridge
        from sklearn.model_selection import GroupKFold, cross_val_predict
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                              Ridge(alpha=100.0))
        predictions = cross_val_predict(model, x, y, groups=groups,
                                        cv=GroupKFold(n_splits=5, shuffle=True, random_state=42))
        extra = {"note": "fixed alpha, no inner search, no refit"}
    elif variant == "decision":
        from neurostock.core.config import LEARNED_BLOCKS
        from neurostock.learn.decision import cross_validate_decision, fit_decision
        from neurostock.learn.decision_metrics import decision_metrics, ordinal_code
        from neurostock.learn.forward import (
            forward_validate_decision,
            unseen_generator_decision,
        )

        context, source, unusable, sellable = make_decision_data(images, y, groups)
        started = time.perf_counter()
        cv = cross_validate_decision(x, context, names, source, unusable, groups,
                                     LEARNED_BLOCKS, 5, 42,
                                     progress=lambda m: print(m, file=sys.stderr))
        cv_seconds = time.perf_counter() - started
        fit_decision(x, context, names, source, unusable, groups, LEARNED_BLOCKS)
        refit_seconds = time.perf_counter() - started - cv_seconds
        metrics = decision_metrics(cv, sellable, source, unusable, groups, 42)
        bootstrap_seconds = time.perf_counter() - started - cv_seconds - refit_seconds
        # What `neurostock train` adds for a decision model: the forward-in-time figures
        # (train before each cut-off, judge the next period) and a generator held out
        # at a time (learn/forward.py), each with its grouped bootstrap.
        forward, _ = forward_validate_decision(
            x, context, names, source, unusable, sellable, groups, LEARNED_BLOCKS, 42,
            progress=lambda m: print(m, file=sys.stderr))
        unseen = unseen_generator_decision(
            x, context, names, source, unusable, sellable, groups, LEARNED_BLOCKS, 42,
            progress=lambda m: print(m, file=sys.stderr))
        forward_seconds = (time.perf_counter() - started - cv_seconds - refit_seconds
                           - bootstrap_seconds)
        predictions, y = cv.score, ordinal_code(source, unusable)
        extra = {"cv_seconds": round(cv_seconds, 1), "refit_seconds": round(refit_seconds, 1),
                 "bootstrap_seconds": round(bootstrap_seconds, 1),
                 "forward_seconds": round(forward_seconds, 1),
                 "auc_sellable": round(metrics["auc_sellable"], 4),
                 "forward_auc": round(forward["pooled"]["auc_sellable"], 4),
                 "unseen_generator_auc": round(unseen["pooled"]["auc_sellable"], 4),
                 "contributions": {c["block"]: round(c["delta_auc"], 4)
                                   for c in metrics["contributions"]},
                 "params": [{"usable": c["params_usable"], "rating": c["params_rating"]}
                            for c in cv.folds]}
    elif variant == "context_ridge":
        from neurostock.core.config import LEARNED_BLOCKS
        from neurostock.learn import context_ridge

        context, *_ = make_decision_data(images, y, groups)
        say = lambda m: print(m, file=sys.stderr)  # noqa: E731
        started = time.perf_counter()
        cv = context_ridge.cross_validate_context_ridge(x, context, names, y, groups,
                                                        LEARNED_BLOCKS, 5, 42, say)
        cv_seconds = time.perf_counter() - started
        context_ridge.fit_context_ridge(x, context, names, y, groups, LEARNED_BLOCKS)
        refit_seconds = time.perf_counter() - started - cv_seconds
        grouped = context_ridge.contributions(y, cv.predictions, cv.without, groups, 42)
        bootstrap_seconds = time.perf_counter() - started - cv_seconds - refit_seconds
        forward = context_ridge.forward_validate_context_ridge(
            x, context, names, y, groups, LEARNED_BLOCKS, 42, say)
        unseen = context_ridge.unseen_generator_context_ridge(
            x, context, names, y, groups, LEARNED_BLOCKS, 42, say)
        forward_seconds = (time.perf_counter() - started - cv_seconds - refit_seconds
                           - bootstrap_seconds)
        predictions = cv.predictions
        extra = {"cv_seconds": round(cv_seconds, 1), "refit_seconds": round(refit_seconds, 1),
                 "bootstrap_seconds": round(bootstrap_seconds, 1),
                 "forward_seconds": round(forward_seconds, 1),
                 "forward_spearman": round(forward["pooled"]["spearman"], 4),
                 "unseen_generator_spearman": round(unseen["pooled"]["spearman"], 4),
                 "contributions": {c["block"]: round(c["delta_spearman"], 4)
                                   for c in grouped["contributions"]},
                 "params": [c["params"] for c in cv.folds]}
    else:
        from neurostock.learn.search import cross_validate, fit_search

        predictions, _, chosen = cross_validate(x, y, groups, variant, 5, 42,
                                                progress=lambda m: print(m, file=sys.stderr),
                                                names=names)
        cv_seconds = time.perf_counter() - started
        fit_search(variant, x, y, groups, names, 42)
        extra = {"cv_seconds": round(cv_seconds, 1),
                 "refit_seconds": round(time.perf_counter() - started - cv_seconds, 1),
                 "params": [c["params"] for c in chosen]}
        if variant == "ridge":
            # What `neurostock train` adds for a ridge quality model: its grouped
            # interval and the same model judged forward (3 periods) and per held-out
            # generator (5), learn/context_ridge.py.
            from neurostock.learn import context_ridge

            context, *_ = make_decision_data(images, y, groups)
            before = time.perf_counter()
            context_ridge.contributions(y, predictions, {}, groups, 42)
            fit = context_ridge.plain_fit("ridge", x, names, y, groups, 42)
            for split in ("forward", "unseen generator"):
                context_ridge.held_out_figures(split, fit, context, y, groups, 42)
            extra["held_out_seconds"] = round(time.perf_counter() - before, 1)
    seconds = time.perf_counter() - started
    return {"variant": variant, "seconds": round(seconds, 1),
            "spearman_oof": round(float(spearmanr(y, predictions).statistic), 4),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), **extra}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--scores", type=int, default=20)
    parser.add_argument("--variants", default="baseline,ridge,ordinal,decision")
    parser.add_argument("--out", default=str(REPO / "bench_out" / "train.json"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_variant(args.one, args.images, args.dim, args.scores)))
        return 0
    results = []
    for variant in args.variants.split(","):
        print(f"[bench] {variant} …", file=sys.stderr, flush=True)
        completed = subprocess.run(
            [sys.executable, __file__, "--one", variant, "--images", str(args.images),
             "--dim", str(args.dim), "--scores", str(args.scores)],
            capture_output=True, text=True, cwd=REPO, check=True)
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    print(f"\ntraining: {args.images:,} images x {args.dim:,}-d embeddings + {args.scores} "
          "scores, 5-fold grouped CV; 2 cores\n")
    print("| variant | seconds | out-of-fold Spearman | peak MB | notes |")
    print("|---|---:|---:|---:|---|")
    for r in results:
        notes = r.get("note") or (f"CV {r['cv_seconds']} s + refit {r['refit_seconds']} s"
                                  + (f" + bootstrap {r['bootstrap_seconds']} s + forward "
                                     f"and unseen generator {r['forward_seconds']} s; AUC of "
                                     f"sellable {r['auc_sellable']} (forward pooled "
                                     f"{r['forward_auc']}, unseen generator "
                                     f"{r['unseen_generator_auc']}), drop-one AUC "
                                     f"{r['contributions']}" if "auc_sellable" in r else "")
                                  + (f" + bootstrap {r['bootstrap_seconds']} s + forward "
                                     f"and unseen generator {r['forward_seconds']} s; "
                                     f"Spearman forward (within periods) "
                                     f"{r['forward_spearman']}, unseen generator "
                                     f"{r['unseen_generator_spearman']}, drop-one "
                                     f"{r['contributions']}" if "forward_spearman" in r
                                     else "")
                                  + (f" + grouped interval, forward and unseen generator "
                                     f"{r['held_out_seconds']} s" if "held_out_seconds" in r
                                     else "")
                                  + f"; chosen per fold: {r['params']}")
        print(f"| {r['variant']} | {r['seconds']} | {r['spearman_oof']} | {r['peak_mb']:,} "
              f"| {notes} |")
    for r in results:
        if r["variant"] != "baseline":
            # The decision model's target (issue 25) includes its forward validation.
            limit = 180 if r["variant"] == "decision" else 120
            verdict = "PASS" if r["seconds"] < limit else "FAIL"
            print(f"{r['variant']} < {limit} s: {verdict}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
