"""The sell decision on real data (issue 16): the figures of the decision marts on
AGIQA-3K and on the team's rows, read from the warehouse, not recomputed.

(a) AGIQA-3K (../shared/data/agiqa3k) with its lowest MOS-quality fifth rated 5
    ("unusable", tests/real_sources.py), ingested and built through the CLI with MiniLM
    prompt embeddings, the technical scorer and a learned `model: decision`;
(b) the team's rows (../shared/data/seed-research: their 2,256 rated images, all usable)
    with PIA and TANet-TAD66K imported.

For the learned model and every valid score: the out-of-sample (cross-fitted) precision
at the threshold chosen for `target_precision` with its bootstrap 95% interval (bounds
where the score covers part of the decision population), keep rate, recall, AUC of
sellable (on the rated images it scores), coverage and n; then
`neurostock select --precision P` for the learned model on AGIQA-3K. Prints them and
writes them as JSON (--out). Skips with one line where ../shared/data is absent.

    .venv/bin/python benchmarks/decision_figures.py [--out decision_figures.json]
        [--workdir DIR] [--only agiqa|team] [--precision 0.8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.real_sources import (  # noqa: E402
    AGIQA,
    SEED,
    UNUSABLE_SHARE,
    agiqa_config,
    agiqa_source,
    team_source,
)

STARTED = time.monotonic()
FIGURES = """
    select scorer_id, n, n_sellable, base_rate, n_scored, coverage, auc_sellable_scored,
           target_precision, direction, precision_threshold, n_folds_chosen,
           oos_precision, oos_precision_low, oos_precision_high,
           oos_precision_ci_low, oos_precision_ci_high,
           oos_keep_rate, oos_keep_rate_low, oos_keep_rate_high,
           oos_keep_rate_ci_low, oos_keep_rate_ci_high,
           oos_recall, oos_recall_low, oos_recall_high,
           oos_recall_ci_low, oos_recall_ci_high,
           in_sample_precision, reliability, shift_warning,
           oos_balanced_accuracy, oos_balanced_accuracy_low, oos_balanced_accuracy_high,
           oos_balanced_accuracy_ci_low, oos_balanced_accuracy_ci_high,
           balanced_oos_precision, balanced_oos_keep_rate, balanced_reliability
    from rpt_decision_thresholds order by auc_sellable_scored desc nulls last, scorer_id"""
# Per score, the operating point `select --precision` would reach at best: the highest
# cross-fitted precision (low bound) kept on at least agreement_min_n (30) images.
BEST = """
    select scorer_id, target_precision, oos_precision, oos_precision_low, oos_precision_high,
           oos_precision_ci_low, oos_precision_ci_high, oos_keep_rate, oos_keep_rate_low,
           oos_keep_rate_high, oos_keep_rate_ci_low, oos_keep_rate_ci_high, oos_n_kept,
           reliability
    from rpt_decision_curves
    where rule = 'precision' and threshold is not null and oos_n_kept >= 30
    qualify row_number() over (partition by scorer_id
                               order by oos_precision_low desc, oos_keep_rate_low desc) = 1
    order by scorer_id"""
LEARNED = """
    select scorer_id, n, n_unusable, n_sellable, auc_sellable, auc_sellable_ci_low,
           auc_sellable_ci_high, keep_share, precision_sellable, precision_sellable_ci_low,
           precision_sellable_ci_high, auc_usable, spearman_rating_usable
    from rpt_learned_decision where not is_shuffled"""


def say(text: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.0f} s] {text}", flush=True)


def cli(warehouse: Path, config: Path | None, *args: str, capture: bool = False) -> str:
    """`neurostock --warehouse W [--config C] ARGS` in a child process (no config: none,
    from $NEUROSTOCK_CONFIG); its own progress lines pass through (stdout is returned
    instead with `capture`)."""
    named = ["--config", str(config)] if config else []
    command = [sys.executable, "-m", "neurostock.cli", "--warehouse", str(warehouse),
               *named, *args]
    say("neurostock " + " ".join(args))
    done = subprocess.run(command, cwd=ROOT, text=True, check=False,
                          stdout=subprocess.PIPE if capture else None)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}")
    return done.stdout or ""


def rows(warehouse: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _figure(row: dict, name: str) -> str:
    """A cross-fitted figure: the point with its interval, or its bounds (partial
    coverage) with the interval around them."""
    point, low, high = row[f"oos_{name}"], row[f"oos_{name}_low"], row[f"oos_{name}_high"]
    ci = f" [{_fmt(row[f'oos_{name}_ci_low'])}, {_fmt(row[f'oos_{name}_ci_high'])}]"
    if point is None and low is not None:
        return f"{_fmt(low)}..{_fmt(high)}{ci}"
    return f"{_fmt(point)}{ci}"


def print_table(title: str, figures: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'score':<34} {'n':>5} {'cover':>6} {'AUC':>6} {'precision [95% CI]':>26} "
          f"{'keep rate [95% CI]':>26} {'recall [95% CI]':>26}  reliability")
    for row in figures:
        print(f"{row['scorer_id']:<34} {row['n']:>5} {_fmt(row['coverage']):>6} "
              f"{_fmt(row['auc_sellable_scored']):>6} {_figure(row, 'precision'):>26} "
              f"{_figure(row, 'keep_rate'):>26} {_figure(row, 'recall'):>26}  "
              f"{row['reliability']}")
    print("at the best balanced-accuracy threshold (cross-fitted):")
    for row in figures:
        print(f"  {row['scorer_id']:<32} balanced accuracy {_figure(row, 'balanced_accuracy')}, "
              f"precision {_fmt(row['balanced_oos_precision'])}, keep rate "
              f"{_fmt(row['balanced_oos_keep_rate'])}  {row['balanced_reliability']}")


def print_best(best: list[dict]) -> None:
    print("the best cross-fitted precision a threshold reaches keeping >= 30 rated images:")
    for row in best:
        print(f"  {row['scorer_id']:<32} target {row['target_precision']:.2f}: precision "
              f"{_figure(row, 'precision')}, keep rate {_figure(row, 'keep_rate')} "
              f"({row['oos_n_kept']} kept)  {row['reliability']}")


def build_agiqa(root: Path) -> tuple[Path, Path]:
    """(warehouse, config) of AGIQA-3K under `root`: MiniLM prompt embeddings, the
    technical scorer and a learned `model: decision`, built through the CLI (reused when
    the warehouse is there)."""
    root.mkdir(parents=True, exist_ok=True)
    warehouse = root / "warehouse.duckdb"
    config = root / "neurostock.yml"
    if not warehouse.exists():
        n = agiqa_source(root / "core.download.db", unusable_band=True)
        say(f"AGIQA-3K: {n:,} images, the lowest {UNUSABLE_SHARE:.0%} of MOS quality rated 5")
        config = agiqa_config(
            root, "{name: decision, model: decision, embedders: [minilm], kinds: [prompt]}")
        cli(warehouse, config, "ingest", str(root / "core.download.db"))
        cli(warehouse, config, "build", "--vars", "{big_set_size: 0}")
    else:
        say(f"AGIQA-3K: reusing {warehouse}")
    return warehouse, config


def agiqa(work: Path, precision: float | None) -> dict:
    root = work / "agiqa"
    warehouse, _ = build_agiqa(root)
    figures = rows(warehouse, FIGURES)
    learned = rows(warehouse, LEARNED)
    best = rows(warehouse, BEST)
    print_table("AGIQA-3K (unusable = lowest MOS fifth), decision population = every rated "
                "image; precision at the threshold for target_precision, cross-fitted",
                figures)
    print_best(best)
    for row in learned:
        print(f"{row['scorer_id']} (out of fold, meta.learned_models): AUC of sellable "
              f"{_fmt(row['auc_sellable'])} [{_fmt(row['auc_sellable_ci_low'])}, "
              f"{_fmt(row['auc_sellable_ci_high'])}], precision keeping "
              f"{_fmt(row['keep_share'], 2)} {_fmt(row['precision_sellable'])} "
              f"[{_fmt(row['precision_sellable_ci_low'])}, "
              f"{_fmt(row['precision_sellable_ci_high'])}], AUC of usable "
              f"{_fmt(row['auc_usable'])}, Spearman among usable "
              f"{_fmt(row['spearman_rating_usable'])}")
    target = precision if precision is not None else figures[0]["target_precision"]
    selection: dict = {"precision": target}
    out = root / "selection"
    try:
        printed = cli(warehouse, None, "select", "--score", "learned_decision",
                      "--precision", str(target), "--out", str(out), "--force", "--link",
                      capture=True)
        print(printed.rstrip())
        manifest = json.loads((out / "selection.json").read_text())
        selection |= {key: manifest[key] for key in (
            "threshold", "direction", "expected_precision", "expected_precision_ci",
            "expected_precision_bounds", "expected_keep_rate", "measured_on", "coverage",
            "shift_warning", "n_selected")}
        print("selection.json: " + json.dumps({k: v for k, v in selection.items()
                                               if k != "precision"}))
    except SystemExit as failed:  # one clear line from select: no threshold reaches P
        selection["error"] = str(failed)
    return {"figures": figures, "best": best, "learned": learned, "select": selection}


def team(work: Path) -> dict:
    root = work / "team"
    root.mkdir(parents=True, exist_ok=True)
    warehouse = root / "warehouse.duckdb"
    if not warehouse.exists():
        source = team_source(root / "core.download.db")
        say("the team's rows: 2,256 rated images (all usable), 10,000 big_set rows")
        cli(warehouse, None, "ingest", str(source))
        cli(warehouse, None, "build", "--skip-images")
        cli(warehouse, None, "scores", "import", str(SEED / "pia_full_set_res.json"),
            "--format", "pia", "--image-list", str(SEED / "image_list.txt"),
            "--scorer-id", "pia")
        cli(warehouse, None, "scores", "import", str(SEED / "tanet_tad66k_my_res.csv"),
            "--format", "tanet", "--scorer-id", "tanet_tad66k")
        # Each import rebuilt what reads scores, the decision marts included.
    else:
        say(f"the team's rows: reusing {warehouse}")
    figures = rows(warehouse, FIGURES)
    best = rows(warehouse, BEST)
    print_table("The team's rows (usable images only), PIA and TANet-TAD66K imported; "
                "bounds (low..high) where coverage < 1", figures)
    print_best(best)
    return {"figures": figures, "best": best}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("decision_figures.json"))
    parser.add_argument("--workdir", type=Path,
                        help="keep the warehouses here (reused when present); default: a "
                             "temporary directory")
    parser.add_argument("--only", choices=["agiqa", "team"])
    parser.add_argument("--precision", type=float,
                        help="for `select --precision` (default: the build's target_precision)")
    args = parser.parse_args()
    wanted = [args.only] if args.only else ["agiqa", "team"]
    present = {"agiqa": (AGIQA / "data.csv").is_file(), "team": SEED.is_dir()}
    if not all(present[name] for name in wanted):
        print(f"skipped: the shared data is absent ({AGIQA} or {SEED})")
        return 0
    # The CLI children read no neurostock.yml but the one named (the repository's demo
    # config must not leak into these builds).
    os.environ["NEUROSTOCK_CONFIG"] = "none"
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="decision_figures_") as temp:
        work = args.workdir or Path(temp)
        if "agiqa" in wanted:
            result["agiqa3k"] = agiqa(work, args.precision)
        if "team" in wanted:
            result["team"] = team(work)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
