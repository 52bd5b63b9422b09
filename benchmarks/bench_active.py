"""Benchmark: does the rating queue save ratings? The queue against random on real labels
(issue 25 item 4), with neurostock/learn/queue_simulation.py's protocol: per seed a
held-out test set of prompt groups, a seeded 10 % start, batches of 50 chosen by the
queue's rule (rpt_rating_queue, model retrained after each batch) or at random, until
the pool is rated; the AUC of sellable and the Spearman measured on the test set.

(a) the team's 2,256 labelled images (../shared/data/seed-research; rating = the class
    folder of image_list.txt, 0-3; all usable) with PIA's 21 features (predictScoreAll,
    10 attributes, 10 content features), learned by the project's ridge model with its
    inner search (learn/search.py); sellable = class 2-3. The set has no prompts, dates,
    clusters or experiment models, and one scorer: the queue's rule reduces to its
    uncertainty term there (every image its own prompt group).
(b) AGIQA-3K's 1,200 images (../shared/data/agiqa3k; the lowest MOS fifth rated 5, the
    rest 1-4 by quartile), built through the CLI with MiniLM prompt embeddings, the
    technical scorer and a learned `model: decision`; simulated by `neurostock ratings
    simulate`, whose figures are read back from rpt_queue_simulation.

Target: the queue reaches random's final AUC of sellable (whole pool rated) with at most
60 % of the ratings; the simulation under 10 minutes. Printed, and written to --out.

    .venv/bin/python benchmarks/bench_active.py [--seeds 10] [--only team|agiqa]
        [--workdir DIR] [--out bench_out/active.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.decision_figures import build_agiqa, cli, say  # noqa: E402
from neurostock.learn.queue_simulation import (  # noqa: E402
    QueueRule,
    Rated,
    rating_learner,
    ratings_saved,
    simulate,
    simulation_lines,
)
from tests.real_sources import AGIQA, SEED, team_pia_features  # noqa: E402

SHARE_TARGET = 0.6
SECONDS_TARGET = 600


def team(seeds: int, batch: int) -> dict:
    """(a): the team's labelled set, simulated in this process."""
    from threadpoolctl import threadpool_limits

    ids, classes, features, names = team_pia_features()
    n = len(ids)
    nothing = np.empty(n, dtype=object)
    prefix = np.empty(n, dtype=object)
    prefix[:] = [f"{i}.jpg" for i in ids]  # img_name as the team's rows carry it: no prefix
    rated = Rated(image_ids=ids, rating=classes + 1.0, sellable=classes >= 2,
                  unusable=np.zeros(n, dtype=bool), groups=ids.copy(), cluster=nothing,
                  experiment=nothing, prefix=prefix, disagreement=np.zeros(n))
    say(f"the team's labelled set: {n:,} images, classes {np.bincount(classes).tolist()}, "
        f"{features.shape[1]} PIA features")
    started = time.monotonic()
    with threadpool_limits(limits=1, user_api="blas"):
        points = simulate(rated, rating_learner("ridge", features, classes + 1.0, ids, names,
                                                seed=42),
                          QueueRule.from_vars(), seeds=seeds, batch=batch, progress=say)
    return {"seconds": time.monotonic() - started, "points": points}


def agiqa(work: Path, seeds: int, batch: int) -> dict:
    """(b): AGIQA-3K through `neurostock ratings simulate`, read back from the warehouse."""
    warehouse, config = build_agiqa(work / "agiqa")
    started = time.monotonic()
    cli(warehouse, config, "ratings", "simulate", "--seeds", str(seeds), "--batch", str(batch))
    seconds = time.monotonic() - started
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("""
            select arm, seed, round, n_rated, n_test, auc_sellable, spearman
            from stg_annotations__queue_simulation order by arm, seed, round""").fetchall()
    points = [dict(zip(("arm", "seed", "round", "n_rated", "n_test", "auc_sellable",
                        "spearman"), r, strict=True)) for r in rows]
    return {"seconds": seconds, "points": points}


def report(name: str, result: dict) -> dict:
    print(f"\n{name} ({result['seconds']:.0f} s):")
    for line in simulation_lines(result["points"]):
        print(f"  {line}")
    saved = {m: ratings_saved(result["points"], m) for m in ("auc_sellable", "spearman")}
    share = saved["auc_sellable"]["share_of_ratings"] if saved["auc_sellable"] else None
    passed = share is not None and share <= SHARE_TARGET
    print(f"  target: the queue reaches random's final AUC with <= {SHARE_TARGET:.0%} of the "
          f"ratings: {'PASS' if passed else 'FAIL'}; simulation "
          f"{result['seconds']:.0f} s (target {SECONDS_TARGET} s): "
          f"{'PASS' if result['seconds'] < SECONDS_TARGET else 'FAIL'}")
    return {"seconds": result["seconds"], "saved": saved, "passed": passed,
            "points": result["points"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--only", choices=["team", "agiqa"])
    parser.add_argument("--workdir", type=Path,
                        help="keep the AGIQA-3K warehouse here (reused when present)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_out" / "active.json")
    args = parser.parse_args()
    wanted = [args.only] if args.only else ["team", "agiqa"]
    present = {"team": SEED.is_dir(), "agiqa": (AGIQA / "data.csv").is_file()}
    if not all(present[name] for name in wanted):
        print(f"skipped: the shared data is absent ({SEED} or {AGIQA})")
        return 0
    os.environ["NEUROSTOCK_CONFIG"] = "none"  # no repository config leaks into the builds
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench_active_") as temp:
        work = args.workdir or Path(temp)
        if "team" in wanted:
            out["team"] = report("(a) the team's labelled set, PIA features, ridge",
                                 team(args.seeds, args.batch))
        if "agiqa" in wanted:
            out["agiqa3k"] = report("(b) AGIQA-3K, MiniLM prompts + technical scores, "
                                    "decision", agiqa(work, args.seeds, args.batch))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, default=str) + "\n")
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
