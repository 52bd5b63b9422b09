"""What scores and decides over unrated images reads the mart `pool`, not big_set: with
`pool: {unrated: all}` the unrated images outside big_set get the learned model's scores,
count in the sell decision's pool yield and shift check, are submission candidates and
what `neurostock select` picks from; with the default (`unrated: sample`) all of it is
big_set again. One synthetic sample warehouse, no embedders (a learned decision model on
an imported score and its context blocks), big_set cut to a few images so that the two
modes differ. Real SQLite, real dbt, real DuckDB, real scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurostock.sampledata.source import write_sample
from neurostock.score.importers import import_scores
from tests.conftest import query
from tests.conftest import run_cli as _cli

pytestmark = pytest.mark.slow

BIG_SET = 40  # big_set_size: far fewer than the sample's unrated images
VARS = f"{{big_set_size: {BIG_SET}}}"
LEARNED = "learned:\n  - {name: decision, model: decision, blocks: [prefix, month]}\n"


def _ids(warehouse, sql: str) -> set[int]:
    return {r[0] for r in query(warehouse, sql)}


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    """The sample with `pool: {unrated: all}`, an imported score `partial_pool` on the
    rated images and every fourth unrated one, and a learned decision model. Returns
    the warehouse, its config, the folder and the unrated ids `partial_pool` scores."""
    root = tmp_path_factory.mktemp("pool_consumers")
    summary = write_sample(root / "sample", rows=500, seed=31)
    config = root / "neurostock.yml"
    config.write_text(f"{LEARNED}pool: {{unrated: all}}\nimages: {{dest: {root / 'data'}}}\n")
    warehouse = root / "warehouse.duckdb"
    assert _cli(warehouse, config, "ingest", str(summary.db_path)) == 0
    # The marts first (the ids a score may name), then one whole build.
    assert _cli(warehouse, config, "build", "--skip-images", "--vars", VARS,
                "-s", "+path:models/marts") == 0
    rated = _ids(warehouse, "select image_id from image_ratings")
    valid = _ids(warehouse, "select image_id from int_images_checked where is_valid")
    partly = sorted(valid - rated)[::4]
    rng = np.random.default_rng(3)
    path = root / "partial_pool.csv"
    path.write_text("id,score\n" + "".join(
        f"{i},{rng.random()!r}\n" for i in sorted(valid & rated) + partly))
    assert import_scores(warehouse, "csv", path, "partial_pool")[0].is_valid
    assert _cli(warehouse, config, "build", "--skip-images", "--vars", VARS) == 0
    return warehouse, config, root, set(partly)


def _unrated(warehouse) -> set[int]:
    return _ids(warehouse, "select image_id from pool where source_rating is null")


def test_the_pool_reaches_beyond_big_set(pooled):
    warehouse, *_ = pooled
    unrated, big = _unrated(warehouse), _ids(warehouse, "select image_id from big_set")
    assert len(big) == BIG_SET and big < unrated and len(unrated) > 3 * BIG_SET
    assert query(warehouse, "select n_pool_unrated, n_big_set from rpt_overview")[0] == \
        (len(unrated), BIG_SET)


def test_the_learned_model_scores_every_unrated_pool_image(pooled):
    warehouse, *_ = pooled
    rows = query(warehouse, "select image_id, components['out_of_fold'] "
                            "from imported.scores__learned_decision")
    others = {i for i, oof in rows if oof == 0.0}
    # Its score feature misses most of them: the model's context blocks score them all.
    assert _unrated(warehouse) <= others
    assert others - _ids(warehouse, "select image_id from big_set")


def test_the_decision_yield_and_shift_count_the_whole_pool(pooled):
    warehouse, *_ = pooled
    n_unrated = len(_unrated(warehouse))
    # partial_pool scores some unrated images outside big_set, not all of the pool.
    n_partly = len(pooled[3] & _unrated(warehouse))
    rows = {r[0]: r[1:] for r in query(warehouse, """
        select scorer_id, n_pool, n_pool_scored from rpt_decision_curves
        where rule = 'precision' and target_precision = 0.8""")}
    assert rows["learned_decision"] == (n_unrated, n_unrated)
    assert rows["partial_pool"] == (n_unrated, n_partly)
    assert n_partly - len(pooled[3] & _ids(warehouse, "select image_id from big_set")) > 0
    shift = dict(query(warehouse, "select scorer_id, n_pool from rpt_population_shift"))
    assert shift == {"learned_decision": n_unrated, "partial_pool": n_partly}
    mix = query(warehouse, "select sum(n) from rpt_population_mix "
                           "where population = 'pool' and attribute = 'name_prefix'")
    assert mix[0][0] == n_unrated
    suggestions = dict(query(warehouse, "select scorer_id, n_pool_scored "
                                        "from rpt_threshold_suggestions"))
    assert suggestions["learned_decision"] == n_unrated


def test_every_unrated_pool_image_is_a_submission_candidate(pooled):
    warehouse, *_ = pooled
    unrated = _unrated(warehouse)
    for table in ("submission_images", "submission_decisions"):
        assert _ids(warehouse, f"select image_id from {table} where image_set = 'pool'") \
            == unrated, table
    prompts = query(warehouse, """
        select count(*) from submission_images s inner join pool p using (image_id)
        where s.image_set = 'pool' and s.prompt is not distinct from p.prompt
          and s.prompt_raw is not null""")
    assert prompts[0][0] == len(unrated)


def test_select_picks_from_the_pool_by_default(pooled):
    warehouse, config, root, _ = pooled
    unrated = _unrated(warehouse)
    out = root / "selected"
    assert _cli(warehouse, config, "select", "--score", "learned_decision", "--threshold",
                "0", "--direction", "higher", "--out", str(out)) == 0
    manifest = json.loads((out / "selection.json").read_text())
    assert manifest["image_set"] == "pool"
    assert manifest["n_scored"] == manifest["n_selected"] == len(unrated)
    listed = (out / "selected.csv").read_text().splitlines()[1:]
    assert {int(line.split(",")[0]) for line in listed} == unrated


def test_the_default_pool_is_big_set_again(pooled):
    """Last: rebuilds the module's pool and what reads it with the default `pool:`."""
    warehouse, config, root, partly = pooled
    default = root / "default.yml"
    default.write_text(f"{LEARNED}images: {{dest: {root / 'data'}}}\n")
    assert _cli(warehouse, default, "build", "--skip-images", "--vars", VARS,
                "-s", "pool+") == 0
    big = _ids(warehouse, "select image_id from big_set")
    assert _unrated(warehouse) == big and len(big) == BIG_SET
    rows = {r[0]: r[1:] for r in query(warehouse, """
        select scorer_id, n_pool, n_pool_scored from rpt_decision_curves
        where rule = 'precision' and target_precision = 0.8""")}
    assert rows == {"learned_decision": (BIG_SET, BIG_SET),
                    "partial_pool": (BIG_SET, len(partly & big))}
    assert query(warehouse, "select n_pool_unrated from rpt_overview")[0][0] == BIG_SET
    assert _ids(warehouse, "select image_id from submission_images "
                           "where image_set = 'pool'") == big
