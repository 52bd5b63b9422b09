"""Benchmark: training the learned quality model (learn/model.py) on 12,000 images x
1,024-d embedding features (+ 20 scores), 5-fold grouped cross-validation with the
inner grid search, plus the final refit: what `neurostock train` computes. Target:
under 2 minutes on 2 cores. Side by side, in one run, each in its own process:

  baseline   the reference measurement of the issue: a ridge regression with a fixed
             alpha, standardised features, GroupKFold(5) by prompt, no inner search
             (sklearn cross_val_predict)
  ridge      the project's model: quantile-normalised scores, width-weighted
             embeddings, alpha x embedding weight chosen in an inner grouped 3-fold
             search inside every outer fold, then the refit on all images
  ordinal    the same with the cumulative logistic model

Data (seeded numpy): 4,000 prompts x 3 images; a 1,024-d unit "embedding" (two
512-d blocks) whose first dimensions carry the prompt's quality; 20 scores, a few
related to the rating through monotone, heavy-tailed links; ratings 0-3.

    .venv/bin/python benchmarks/bench_train.py [--images 12000] [--dim 1024]
        [--scores 20] [--variants baseline,ridge,ordinal] [--out bench_out/train.json]
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
    else:
        from learn.model import cross_validate, fit_search

        predictions, _, chosen = cross_validate(x, y, groups, variant, 5, 42,
                                                progress=lambda m: print(m, file=sys.stderr),
                                                names=names)
        cv_seconds = time.perf_counter() - started
        fit_search(variant, x, y, groups, names, 42)
        extra = {"cv_seconds": round(cv_seconds, 1),
                 "refit_seconds": round(time.perf_counter() - started - cv_seconds, 1),
                 "params": [c["params"] for c in chosen]}
    seconds = time.perf_counter() - started
    return {"variant": variant, "seconds": round(seconds, 1),
            "spearman_oof": round(float(spearmanr(y, predictions).statistic), 4),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), **extra}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--scores", type=int, default=20)
    parser.add_argument("--variants", default="baseline,ridge,ordinal")
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
        notes = r.get("note") or (f"CV {r['cv_seconds']} s + refit {r['refit_seconds']} s; "
                                  f"chosen per fold: {r['params']}")
        print(f"| {r['variant']} | {r['seconds']} | {r['spearman_oof']} | {r['peak_mb']:,} "
              f"| {notes} |")
    for r in results:
        if r["variant"] != "baseline":
            verdict = "PASS" if r["seconds"] < 120 else "FAIL"
            print(f"{r['variant']} < 120 s: {verdict}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
