"""The sell decision (issue 16): every rated image in the decision population, thresholds
cross-fitted by prompt group with bootstrap intervals, coverage bounds, the population
shift of every score, q-values, `neurostock select` and the report's Decision page.

One warehouse from the synthetic sample (no embedders) with five imported scores, each
built to catch one way a sell decision misleads:
- noise: random, on every rated and pool image;
- blind: perfect on the usable images, blind to the unusable ones (they score like
  sellable ones) - looks perfect on full_set;
- partial: the same, scoring the usable images only (as PIA was run);
- sharp: separates sellable from not on every rated image, with overlap;
- shifted: the same distribution as noise on the rated images, moved up on the pool.
Every figure is recomputed here with numpy / scipy. Real dbt, real DuckDB."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats

from neurostock.sampledata.source import write_sample
from neurostock.score.importers import import_scores
from tests.conftest import copy_warehouse, query
from tests.conftest import run_cli as _cli
from tests.prompt_reference import group_key

pytestmark = pytest.mark.slow

FOLDS = 5
TARGET = 0.8
MIN_N = 30
TOLERANCE = 1e-9
REPLICATES = 1000
SEED = 42


@pytest.fixture(scope="module")
def decided(tmp_path_factory):
    root = tmp_path_factory.mktemp("decision")
    summary = write_sample(root / "sample", rows=1500, seed=23)
    warehouse = root / "warehouse.duckdb"
    config = root / "neurostock.yml"
    config.write_text(f"images: {{dest: {root / 'all_data'}}}\n")
    assert _cli(warehouse, config, "ingest", str(summary.db_path)) == 0
    # The marts first (the ids to score), the scores, then one whole build.
    assert _cli(warehouse, config, "build", "--skip-images", "-s", "+path:models/marts") == 0
    rated = dict(query(warehouse, "select image_id, rating from image_ratings"))
    pool = [r[0] for r in query(warehouse, "select image_id from big_set order by image_id")]
    rng = np.random.default_rng(5)
    ids = sorted(rated)
    rating = np.array([rated[i] for i in ids])
    sellable = (rating >= 3) & (rating <= 4)
    usable = rating <= 4
    # Unusable images score like sellable ones: the score cannot tell them apart.
    blind = rating + 0.1 * rng.random(len(ids))
    blind[~usable] = rng.choice(blind[sellable], (~usable).sum())
    scores = {
        "noise": (ids, rng.random(len(ids)), pool, rng.random(len(pool))),
        "blind": (ids, blind, pool, rng.choice(blind, len(pool))),
        "partial": ([i for i, u in zip(ids, usable, strict=True) if u], blind[usable],
                    pool, rng.choice(blind[usable], len(pool))),
        "sharp": (ids, sellable + 1.3 * rng.random(len(ids)), pool,
                  (rng.random(len(pool)) < 0.3) + 1.3 * rng.random(len(pool))),
        "shifted": (ids, rng.normal(size=len(ids)), pool, rng.normal(1.5, 1, len(pool))),
    }
    for name, (rated_ids, rated_scores, pool_ids, pool_scores) in scores.items():
        path = root / f"{name}.csv"
        lines = [f"{i},{float(s)!r}" for i, s in zip(rated_ids, rated_scores, strict=True)]
        lines += [f"{i},{float(s)!r}" for i, s in zip(pool_ids, pool_scores, strict=True)]
        path.write_text("id,score\n" + "\n".join(lines) + "\n")
        assert import_scores(warehouse, "csv", path, name)[0].is_valid
    assert _cli(warehouse, config, "build", "--skip-images") == 0
    return warehouse, root, config


# -- reference computations ----------------------------------------------------------


def _population(warehouse: Path, scorer_id: str) -> dict[str, np.ndarray]:
    """Every rated image: score (NaN unscored), sellable, prompt group, fold - from the
    raw tables, not from the models under test."""
    rows = query(warehouse, """
        with prompts as (
            select image_id, prompt from stg_core__img_info
            qualify row_number() over (partition by image_id order by source_rowid) = 1)
        select r.image_id, r.rating, p.prompt, s.score
        from image_ratings r
        left join prompts p using (image_id)
        left join image_signals s on s.image_id = r.image_id and s.scorer_id = ?
        order by r.image_id""", [scorer_id])
    # An image without a prompt is a group of its own (int_decision_pairs).
    groups = np.array([group_key(r[2]) or f"#{r[0]}" for r in rows], dtype=object)
    return {
        "image_id": np.array([r[0] for r in rows]),
        "sellable": np.array([3 <= r[1] <= 4 for r in rows]),
        "score": np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=float),
        "group": groups,
        "fold": np.array([int.from_bytes(hashlib.md5(g.encode()).digest(), "little") % FOLDS
                          for g in groups]),
    }


def _choose(score, good, rule, target=None):
    """(direction, threshold) chosen on these rows, as documented."""
    scored = ~np.isnan(score)
    s, y = score[scored], good[scored]
    auc = stats.mannwhitneyu(s[y], s[~y]).statistic / (y.sum() * (~y).sum()) \
        if 0 < y.sum() < len(y) else 0.5
    direction = "higher" if auc >= 0.5 else "lower"
    best = None
    for t in np.unique(s):
        kept = s >= t if direction == "higher" else s <= t
        if rule == "precision":
            if y[kept].mean() >= target and kept.sum() >= MIN_N and (
                    best is None or kept.sum() > best[0]):
                best = (kept.sum(), t)
        else:
            ba = (y[kept].sum() / y.sum() + (~y[~kept]).sum() / (~y).sum()) / 2
            if best is None or (ba, kept.sum()) > best[0]:
                best = ((ba, kept.sum()), t)
    return direction, None if best is None else best[1]


def _cross_fit(pop, rule, target=None):
    """Per row: kept by its held-out fold's threshold (chosen on the other folds)."""
    kept = np.zeros(len(pop["score"]), dtype=bool)
    for k in range(FOLDS):
        train, test = pop["fold"] != k, pop["fold"] == k
        direction, t = _choose(pop["score"][train], pop["sellable"][train], rule, target)
        if t is None:
            continue
        s = pop["score"][test]
        with np.errstate(invalid="ignore"):
            kept[test] = (s >= t) if direction == "higher" else (s <= t)
    return kept & ~np.isnan(pop["score"])


def _curve(warehouse, scorer_id, rule="precision", target=TARGET) -> dict:
    condition = "rule = 'balanced_accuracy'" if rule != "precision" else \
        f"rule = 'precision' and target_precision = {target}"
    cursor_rows = query(warehouse, f"select * from rpt_decision_curves "
                                   f"where scorer_id = ? and {condition}", [scorer_id])
    names = [r[0] for r in query(warehouse, "select column_name from "
                                 "(describe rpt_decision_curves)")]
    assert len(cursor_rows) == 1
    return dict(zip(names, cursor_rows[0], strict=True))


def _close(ours, reference) -> bool:
    if ours is None or reference is None or (isinstance(reference, float)
                                             and math.isnan(reference)):
        return ours is None and (reference is None or math.isnan(reference))
    return abs(ours - reference) <= TOLERANCE


# -- tests ---------------------------------------------------------------------------


def test_every_rated_image_is_in_the_decision_population(decided):
    warehouse, *_ = decided
    rows = query(warehouse, "select rating, is_sellable from image_ratings")
    assert rows and all(s == (3 <= r <= 4) for r, s in rows)
    assert any(r == 5 for r, _ in rows)  # the unusable ones are there
    n = len(rows)
    per_signal = dict(query(warehouse, "select scorer_id, count(*) from int_decision_pairs "
                                       "group by scorer_id"))
    assert per_signal and all(v == n for v in per_signal.values())
    # Folds: one prompt group never straddles two; the same rule as learn/features.
    pop = _population(warehouse, "noise")
    ours = dict(query(warehouse, "select image_id, fold from int_decision_pairs "
                                 "where scorer_id = 'noise'"))
    assert [ours[i] for i in pop["image_id"]] == pop["fold"].tolist()
    assert len(set(pop["fold"].tolist())) == FOLDS


@pytest.mark.parametrize("scorer_id", ["noise", "blind", "sharp"])
def test_cross_fitted_figures_match_a_numpy_recomputation(decided, scorer_id):
    warehouse, *_ = decided
    pop = _population(warehouse, scorer_id)
    y = pop["sellable"]
    for rule in ("precision", "balanced_accuracy"):
        row = _curve(warehouse, scorer_id, rule)
        kept = _cross_fit(pop, rule, TARGET)
        assert row["oos_n_kept"] == kept.sum()
        assert row["oos_n_sellable_kept"] == (kept & y).sum()
        assert row["n"] == len(y) and row["n_sellable"] == y.sum() and row["coverage"] == 1.0
        assert _close(row["oos_precision"], (kept & y).sum() / kept.sum()
                      if kept.sum() else float("nan"))
        assert _close(row["oos_keep_rate"], kept.mean())
        assert _close(row["oos_recall"], (kept & y).sum() / y.sum())
        assert _close(row["oos_balanced_accuracy"],
                      ((kept & y).sum() / y.sum() + (~kept & ~y).sum() / (~y).sum()) / 2)
        # The in-sample threshold is the one chosen on every rated image.
        direction, threshold = _choose(pop["score"], y, rule, TARGET)
        assert row["threshold"] == threshold
        if threshold is not None:
            assert row["direction"] == direction


def test_the_bootstrap_interval_is_the_documented_resampling(decided):
    warehouse, *_ = decided
    pop = _population(warehouse, "sharp")
    kept = _cross_fit(pop, "precision", TARGET)
    y = pop["sellable"]
    names, group = np.unique(pop["group"].astype(str), return_inverse=True)
    # Every valid signal scores the same rated images' groups: the same resamples.
    all_groups = sorted({r[0] for r in query(warehouse, "select distinct prompt_group "
                                                        "from int_decision_pairs")})
    assert list(names) == all_groups
    rng = np.random.default_rng([SEED, 16])
    precision = []
    for _ in range(REPLICATES):
        weight = np.bincount(rng.integers(0, len(names), size=len(names)),
                             minlength=len(names))[group]
        precision.append((weight * (kept & y)).sum() / (weight * kept).sum())
    row = _curve(warehouse, "sharp")
    low, high = np.percentile(precision, [2.5, 97.5])
    assert abs(row["oos_precision_ci_low"] - low) < 1e-9
    assert abs(row["oos_precision_ci_high"] - high) < 1e-9
    assert row["oos_precision_ci_low"] <= row["oos_precision"] <= row["oos_precision_ci_high"]


def test_a_noise_score_shows_no_good_precision_out_of_sample(decided):
    warehouse, *_ = decided
    rows = query(warehouse, """
        select operating_point, base_rate, oos_precision_ci_low, oos_precision_ci_high
        from rpt_decision_curves where scorer_id = 'noise' and oos_n_kept > 0""")
    assert rows
    for point, base, low, high in rows:
        # Never significantly better than keeping everything.
        assert low <= base, (point, base, low, high)
    ba = _curve(warehouse, "noise", "balanced_accuracy")
    assert ba["oos_balanced_accuracy_ci_low"] <= 0.5 <= ba["oos_balanced_accuracy_ci_high"]
    # In sample the best threshold flatters; out of sample it does not.
    assert ba["in_sample_balanced_accuracy"] > ba["oos_balanced_accuracy"]
    at_target = _curve(warehouse, "noise")
    assert at_target["oos_n_kept"] == 0 and at_target["reliability"].startswith("no threshold")


def test_a_score_blind_to_unusable_images_shows_its_real_precision(decided, capsys):
    warehouse, root, config = decided
    # On full_set (usable images only) it is perfect ...
    auc = query(warehouse, "select auc from rpt_score_agreement "
                           "where scorer_id = 'blind' and subset = 'all'")[0][0]
    assert auc > 0.99
    # ... on every rated image no threshold reaches the target out of sample, and the
    # best precision it shows is what numpy finds.
    pop = _population(warehouse, "blind")
    rows = query(warehouse, """
        select target_precision, oos_precision, oos_precision_ci_high, oos_n_kept
        from rpt_decision_curves where scorer_id = 'blind' and rule = 'precision'""")
    for target, precision, _high, n_kept in rows:
        kept = _cross_fit(pop, "precision", target)
        assert n_kept == kept.sum()
        if n_kept:
            assert _close(precision, (kept & pop["sellable"]).sum() / kept.sum())
    assert max(r[2] for r in rows if r[2] is not None) < TARGET
    assert _cli(warehouse, config, "select", "--score", "blind", "--precision", "0.8",
                "--out", str(root / "blind_refused")) == 1
    err = capsys.readouterr().err.strip()
    assert "reaches precision 0.8 out of sample at no threshold" in err
    assert len(err.splitlines()) == 1 and not (root / "blind_refused").exists()


def test_a_partial_score_reports_coverage_and_bounds_never_a_point(decided):
    warehouse, *_ = decided
    pop = _population(warehouse, "partial")
    scored = ~np.isnan(pop["score"])
    y = pop["sellable"]
    for rule in ("precision", "balanced_accuracy"):
        row = _curve(warehouse, "partial", rule, 0.5)
        assert _close(row["coverage"], scored.mean()) and row["coverage"] < 1
        assert row["oos_precision"] is None and row["oos_keep_rate"] is None
        assert "BOUNDS ONLY" in row["reliability"] or "UNRELIABLE" in row["reliability"]
        kept = _cross_fit(pop, rule, 0.5)
        kg, k = (kept & y).sum(), kept.sum()
        ug, ub = (~scored & y).sum(), (~scored & ~y).sum()
        assert _close(row["oos_precision_low"], kg / (k + ub))
        assert _close(row["oos_precision_high"], (kg + ug) / (k + ug) if k + ug else None)
        assert _close(row["oos_keep_rate_low"], k / len(y))
        assert _close(row["oos_keep_rate_high"], (k + ug + ub) / len(y))
        assert row["oos_precision_ci_low"] <= row["oos_precision_low"]
    summary = query(warehouse, "select coverage, oos_precision from rpt_decision_thresholds "
                               "where scorer_id = 'partial'")[0]
    assert summary[0] < 1 and summary[1] is None


def test_a_shifted_pool_raises_the_warning(decided):
    warehouse, *_ = decided
    shift = {r[0]: r[1:] for r in query(warehouse, """
        select scorer_id, ks_statistic, ks_p_value, psi, shift_warning, n_rated, n_pool
        from rpt_population_shift""")}
    assert shift["shifted"][3] and "PSI" in shift["shifted"][3]
    assert shift["noise"][3] is None and shift["sharp"][3] is None
    for scorer_id in ("shifted", "noise", "partial"):
        rated = np.array([r[0] for r in query(warehouse, """
            select score from image_signals semi join image_ratings using (image_id)
            where scorer_id = ?""", [scorer_id])])
        pool = np.array([r[0] for r in query(warehouse, """
            select score from image_signals semi join big_set using (image_id)
            where scorer_id = ?""", [scorer_id])])
        ks, p, psi, _, n_rated, n_pool = shift[scorer_id]
        assert (n_rated, n_pool) == (len(rated), len(pool))
        reference = stats.ks_2samp(rated, pool, method="asymp")
        assert abs(ks - reference.statistic) < TOLERANCE
        en = len(rated) * len(pool) / (len(rated) + len(pool))
        assert abs(p - stats.kstwobign.sf(math.sqrt(en) * ks)) < 1e-9
        assert abs(p - reference.pvalue) < 0.02
        edges = np.quantile(rated, np.arange(1, 10) / 10)
        bins_r = np.bincount((rated[:, None] > edges).sum(axis=1), minlength=10) / len(rated)
        bins_p = np.bincount((pool[:, None] > edges).sum(axis=1), minlength=10) / len(pool)
        bins_r, bins_p = np.maximum(bins_r, 1e-4), np.maximum(bins_p, 1e-4)
        assert abs(psi - ((bins_p - bins_r) * np.log(bins_p / bins_r)).sum()) < 1e-9
    # Wherever the threshold is used, the warning goes with it.
    assert query(warehouse, "select shift_warning from rpt_decision_thresholds "
                            "where scorer_id = 'shifted'")[0][0] == shift["shifted"][3]
    assert {r[0] for r in query(warehouse, "select distinct shift_warning "
                                           "from rpt_decision_curves "
                                           "where scorer_id = 'shifted'")} == {shift["shifted"][3]}


def test_the_name_prefixes_and_models_of_each_population(decided):
    warehouse, *_ = decided
    rows = query(warehouse, "select population, attribute, value, n, share "
                            "from rpt_population_mix")
    for population in ("rated", "pool"):
        for attribute in ("name_prefix", "experiment_model"):
            mine = [r for r in rows if r[0] == population and r[1] == attribute]
            assert abs(sum(r[4] for r in mine) - 1) < 1e-9
    names = {r[0]: r[1] for r in query(warehouse, "select image_id, img_name from "
                                                  "int_images_checked where is_valid")}
    rated = [r[0] for r in query(warehouse, "select image_id from image_ratings")]
    counts: dict[str, int] = {}
    for image_id in rated:
        name = names.get(image_id) or ""
        head = name.split("_", 1)[0]
        key = f"{head}_" if "_" in name and head.isdigit() else "(none)"
        counts[key] = counts.get(key, 0) + 1
    ours = {r[2]: r[3] for r in rows if r[0] == "rated" and r[1] == "name_prefix"}
    assert ours == counts
    # The pool leaves the "7" names out on purpose; the rated images have them.
    pool = {r[2] for r in rows if r[0] == "pool" and r[1] == "name_prefix"}
    assert not any(v.startswith("7") for v in pool)


def test_q_values_are_benjamini_hochberg_per_subset_kind(decided):
    warehouse, *_ = decided
    rows = query(warehouse, "select subset_kind, spearman_p_value, q_value "
                            "from rpt_score_agreement where spearman_p_value is not null")
    kinds = {r[0] for r in rows}
    assert len(kinds) >= 2
    for kind in kinds:
        p = np.array([r[1] for r in rows if r[0] == kind])
        q = np.array([r[2] for r in rows if r[0] == kind])
        assert np.allclose(q, stats.false_discovery_control(p, method="bh"), atol=1e-12)


def test_select_writes_the_cross_fitted_precision_and_its_context(decided, capsys):
    warehouse, root, config = decided
    out = root / "sharp_selected"
    assert _cli(warehouse, config, "select", "--score", "sharp", "--precision", "0.8",
                "--out", str(out)) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "selection.json").read_text())
    row = query(warehouse, """
        select target_precision, threshold, oos_precision, oos_precision_ci_low,
               oos_precision_ci_high, n, coverage
        from rpt_decision_curves where scorer_id = 'sharp' and rule = 'precision'
          and oos_precision_low >= 0.8 and oos_n_kept >= 30 and threshold is not null
        order by oos_keep_rate_low desc, target_precision limit 1""")[0]
    assert manifest["threshold"] == row[1]
    assert manifest["expected_precision"] == row[2] >= 0.8
    assert manifest["expected_precision_ci"] == [row[3], row[4]]
    assert manifest["measured_on"] == row[5] == len(query(warehouse,
                                                          "select 1 from image_ratings"))
    assert manifest["coverage"] == 1.0 and manifest["shift_warning"] is None
    assert "expected precision out of sample" in printed and "95% CI" in printed
    # A shifted score's selection carries its warning.
    out = root / "shifted_selected"
    assert _cli(warehouse, config, "select", "--score", "shifted", "--threshold", "0",
                "--out", str(out)) == 0
    err = capsys.readouterr().err
    manifest = json.loads((out / "selection.json").read_text())
    assert manifest["shift_warning"] and "PSI" in manifest["shift_warning"]
    assert "PSI" in err and manifest["coverage"] == 1.0


def test_the_marketplace_gate_applies_the_threshold_select_picks(decided, capsys):
    # The default policy's quality rule is the sell decision. No learned_decision here, so
    # `auto` takes the valid, non-random score keeping the most images at the target out
    # of sample; its threshold, direction and figures are `select --precision`'s, and the
    # pool images passing the rule are exactly those select lists.
    warehouse, root, config = decided
    names = [r[0] for r in query(warehouse, "select column_name from "
                                            "(describe submission_decision_rule)")]
    rows = query(warehouse, "select * from submission_decision_rule")
    assert len(rows) == 1
    rule = dict(zip(names, rows[0], strict=True))
    assert rule["quality_rule"] == "decision" and rule["is_reached"], rule
    assert rule["chosen_by"].startswith("auto: no valid learned_decision")
    best = query(warehouse, f"""
        select c.scorer_id from rpt_decision_curves c join signal_summary s using (scorer_id)
        where s.is_valid and not s.is_random_init and c.rule = 'precision'
          and c.threshold is not null and c.oos_precision_low >= {TARGET}
          and c.oos_n_kept >= {MIN_N}
        order by c.oos_keep_rate_low desc limit 1""")
    assert rule["scorer_id"] == best[0][0] == "sharp"
    out = root / "gate_select"
    assert _cli(warehouse, config, "select", "--score", rule["scorer_id"], "--precision",
                str(TARGET), "--out", str(out)) == 0
    manifest = json.loads((out / "selection.json").read_text())
    assert (manifest["threshold"], manifest["direction"]) == (rule["threshold"],
                                                               rule["direction"])
    assert manifest["expected_precision"] == rule["oos_precision"]
    assert manifest["expected_precision_ci"] == [rule["oos_precision_ci_low"],
                                                 rule["oos_precision_ci_high"]]
    assert manifest["measured_on"] == rule["measured_on"]
    listed = {int(r[0]) for r in (line.split(",") for line in
                                  (out / "selected.csv").read_text().splitlines()[1:])}
    passed = {r[0] for r in query(warehouse, "select image_id from submission_checks "
                                             "where rule_id = 'quality' and status = 'pass' "
                                             "and image_id in (select image_id from "
                                             "submission_images where image_set = 'pool')")}
    assert listed and passed == listed
    failed = query(warehouse, "select detail from submission_checks where rule_id = 'quality' "
                              "and status = 'fail' limit 1")
    assert "misses the sell threshold" in failed[0][0]
    # The pack's manifest carries the decision (this warehouse has no image files: the
    # pack is empty, its expectation says so). A copy: submit writes the ledger.
    copy = copy_warehouse(warehouse, root / "gate_copy" / warehouse.name)
    capsys.readouterr()
    assert _cli(copy, config, "submit", "--out", str(root / "gate_pack")) == 0
    printed = capsys.readouterr().out
    assert f"sell decision: sharp >= {rule['threshold']:.4g}" in printed, printed
    decision = json.loads((root / "gate_pack" / "manifest.json").read_text())["decision"]
    for key in ("scorer_id", "threshold", "oos_precision", "oos_precision_ci_low",
                "oos_precision_ci_high", "measured_on", "coverage", "shift_warning"):
        assert decision[key] == rule[key], key
    assert decision["pack"] == {"unrated_images": 0, "rated_sellable_images": 0,
                                "expected_sellable": 0.0, "expected_sellable_ci95": [0.0, 0.0]}
    # `sharp` is an outside score: no figures on unseen images to carry (a learned
    # decision model's are rpt_learned_forward's pooled rows, tests/test_learned.py).
    assert (decision["unseen"], decision["forward_warning"]) == (None, None)


def test_a_model_learns_the_markets_answer_from_an_imported_list(decided, tmp_path, capsys):
    # 80 pool images "sent" (the ledger's own writer), an acceptance list planted on the
    # `sharp` score and imported through `submissions import`, then `train --target
    # accepted`: its out-of-fold AUC sees the planted signal, and it scores the pool.
    from neurostock.submit.ledger import record_pack

    warehouse, root, config = decided
    copy = copy_warehouse(warehouse, tmp_path / "market" / warehouse.name)
    sent = query(copy, "select s.image_id, s.score, p.prompt_group from image_signals s "
                       "join pool p using (image_id) where s.scorer_id = 'sharp' "
                       "and p.source_rating is null order by s.image_id limit 80")
    record_pack(copy, "20261101T000000Z-abcdef", "adobe_stock", 3, [
        {"image_id": i, "file_name": f"image-{i}.jpg", "file_sha256": "0" * 64,
         "title": "t", "keywords": ["k"], "category_id": None, "motif": group}
        for i, _, group in sent], tmp_path)
    cut = float(np.median([score for _, score, _ in sent]))
    listing = tmp_path / "status.csv"
    listing.write_text("Filename,Status,Date\n" + "".join(
        f"image-{i}.jpg,{'accepted' if score > cut else 'rejected'},2026-11-20\n"
        for i, score, _ in sent), encoding="utf-8")
    assert _cli(copy, config, "submissions", "import", str(listing)) == 0
    assert "80 outcomes added" in capsys.readouterr().out
    assert _cli(copy, config, "build", "--skip-images", "-s", "stg_annotations__outcomes+",
                "stg_annotations__submissions+") == 0
    assert _cli(copy, config, "train", "--name", "market", "--target", "accepted",
                "--folds", "4") == 0
    metrics = json.loads(query(copy, "select metrics from meta.learned_models "
                                     "where scorer_id = 'learned_market'")[0][0])
    assert metrics["target"] == "accepted" and metrics["auc_oof"] > 0.8, metrics
    n_scored = query(copy, "select count(*) from image_signals "
                           "where scorer_id = 'learned_market'")[0][0]
    assert n_scored > 80
    # Too few answers: skipped with the reason, nothing written.
    assert _cli(copy, config, "train", "--name", "sales", "--target", "sold") == 0
    assert ("learned_sales not trained: of 40 answered images 0 are sold; each side needs "
            "at least 5") in capsys.readouterr().err


def test_the_report_has_the_decision_page(decided):
    from neurostock.reports.site import build_report

    warehouse, root, config = decided
    out = root / "report"
    build_report(warehouse, out, docs=None, progress=lambda _: None)
    page = (out / "decision.html").read_text(encoding="utf-8")
    for text in ("sharp", "partial", "out of sample", "BOUNDS ONLY", "PSI", "in sample"):
        assert text in page
    # A partial score's bounds are said in words; no interval is ever left half-open.
    assert "bounds: unscored counted bad / good" in page
    assert not re.search(r"\[[^\[\]<>]*,\s*\]|\[\s*,", page), "a half-open interval"
    assert not re.search(r"–\s*<", page), "a bound without its other end"
    assert 'href="decision.html"' in (out / "index.html").read_text(encoding="utf-8")
    scores = (out / "scores.html").read_text(encoding="utf-8")
    assert "q &lt; 0.05" in scores and "In sample" in scores
    # The Submission page leads with the decision its quality rule applies.
    gate = (out / "submission.html").read_text(encoding="utf-8")
    rule = query(warehouse, "select scorer_id, oos_precision, oos_precision_ci_low, "
                            "oos_precision_ci_high from submission_decision_rule")[0]
    assert f"<strong>{rule[0]}</strong>" in gate
    assert f"<strong>{rule[1]:,.3f}</strong>" in gate
    assert f"[{rule[2]:,.3f}, {rule[3]:,.3f}]" in gate
    # The index opens with what to do now: the pool images the decision recommends,
    # with the expected precision, and what the marketplace's rules stop of them.
    index = (out / "index.html").read_text(encoding="utf-8")
    recommended = query(warehouse, "select count(*) from submission_decisions "
                                   "where image_set = 'pool' and "
                                   "not list_contains(reason_ids, 'quality')")[0][0]
    assert 'id="what-to-do-now"' in index
    assert f"recommends <strong>{recommended:,}</strong>" in index
    assert f"<strong>{rule[1]:,.3f}</strong>" in index



@pytest.fixture(scope="module")
def edited(decided, tmp_path_factory):
    """A copy of `decided` where 400 rated images lost their prompt and a noise score
    covers the usable images only (nothing reaches precision 0.8 on it); only the
    decision models are rebuilt."""
    warehouse, _, config = decided
    root = tmp_path_factory.mktemp("decision_edited")
    copy = copy_warehouse(warehouse, root / warehouse.name)
    rated = query(copy, "select image_id, rating from image_ratings order by image_id")
    blank = [i for i, _ in rated[:400]]
    con = duckdb.connect(str(copy))
    try:
        con.execute("update raw.img_info set img_generation_promt = '' "
                    "where try_cast(id as bigint) in (select unnest(?))", [blank])
    finally:
        con.close()
    rng = np.random.default_rng(11)
    lines = [f"{i},{float(rng.random())!r}" for i, rating in rated if rating <= 4]
    path = root / "partial_noise.csv"
    path.write_text("id,score\n" + "\n".join(lines) + "\n")
    assert import_scores(copy, "csv", path, "partial_noise")[0].is_valid
    assert _cli(copy, config, "build", "--skip-images", "-s", "scores", "image_signals",
                "signal_summary", "int_images_checked", "int_prompts_cleaned", "pool",
                "int_decision_pairs",
                "int_decision_folds", "int_decision_bootstrap", "rpt_decision_curves") == 0
    return copy, blank


def test_images_without_a_prompt_are_groups_of_their_own(edited):
    """The team's rated rows outside big_set.csv have no prompt: one shared empty group
    put them all in one fold, and each threshold was chosen on the few others."""
    copy, blank = edited
    rows = query(copy, """select image_id, prompt_group, fold from int_decision_pairs
                          where scorer_id = 'noise' and list_contains(?, image_id)""", [blank])
    assert len(rows) == len(blank)
    assert all(group == f"#{image_id}" for image_id, group, _ in rows)
    per_fold = np.bincount([fold for *_, fold in rows], minlength=FOLDS)
    assert per_fold.max() < 0.4 * len(blank), per_fold


def test_a_fold_without_threshold_keeps_no_unscored_image(edited):
    """Partial coverage gives bounds, but where no training fold reaches the target
    nothing is kept, scored or not: keep rate 0, no precision, not 0 to the coverage gap."""
    copy, _ = edited
    row = _curve(copy, "partial_noise")
    assert row["coverage"] < 1 and row["n_folds_chosen"] == 0
    assert row["oos_keep_rate_low"] == row["oos_keep_rate_high"] == 0
    assert row["oos_keep_rate_ci_low"] == row["oos_keep_rate_ci_high"] == 0
    assert row["oos_precision_low"] is None and row["oos_precision_high"] is None
    assert row["reliability"].startswith("no threshold")
