"""dbt build end to end on a real sample: marts, quarantine, reconciliation, the rating rule."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from neurostock.build.dbt_runner import run_dbt
from neurostock.core.errors import NeurostockError
from neurostock.core.paths import dbt_work_dir
from neurostock.ingest.sqlite_copy import ingest
from neurostock.sampledata.source import write_sample
from tests.conftest import copy_warehouse, query
from tests.prompt_reference import team_clean_prompt

pytestmark = [pytest.mark.slow, pytest.mark.data_tests]


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> tuple[Path, object]:
    """A sample source (1,500 rows) ingested and built with `dbt build` (models + all tests)."""
    root = tmp_path_factory.mktemp("built")
    summary = write_sample(root / "sample", rows=1500, seed=3)
    warehouse = root / "warehouse.duckdb"
    ingest(summary.db_path, warehouse)
    run_dbt(["build"], warehouse)
    return warehouse, summary


def _copy_of(warehouse: Path, tmp_path: Path) -> Path:
    """A copy to change freely. Same file name: dbt's views name their catalog after it."""
    copy = tmp_path / "copy" / warehouse.name
    return copy_warehouse(warehouse, copy)


def test_nothing_is_lost_between_raw_and_marts(built):
    warehouse, _ = built
    for table, usable_model in (("img_info", "int_images_checked"),
                                ("metadata", "int_ratings_checked")):
        raw = query(warehouse, f"select count(*) from raw.{table}")[0][0]
        usable = query(warehouse, f"select count(*) from {usable_model} where is_valid")[0][0]
        quarantined = query(
            warehouse, "select count(*) from quarantine where source_table = ?", [table]
        )[0][0]
        assert raw == usable + quarantined, table
        assert quarantined > 0, f"the sample's defects in {table} should be quarantined"


def test_every_sample_defect_is_quarantined_with_its_reason(built):
    warehouse, summary = built
    reasons = [r[0] for r in query(warehouse, "select reason from quarantine")]
    expected_fragments = [
        "rating is not an integer: x",
        "rating 0 is outside 1-5",
        "rating 7 is outside 1-5",
        "rating is NULL",
        "rating of an image that does not exist",
        "rating_date is not a timestamp: yesterday",
        "generation_date is not a timestamp: not a date",
        "experiment_model_id is not an integer: abc",
    ]
    for fragment in expected_fragments:
        assert any(fragment in r for r in reasons), fragment
    assert len(reasons) == sum(summary.defect_rows.values())


def test_rated_at_honours_the_offset(built):
    warehouse, _ = built
    rows = query(
        warehouse,
        "select rating_date_text, epoch(rated_at) from stg_core__ratings "
        "where rated_at is not null",
    )
    assert rows
    for text, epoch in rows:
        assert epoch == pytest.approx(datetime.fromisoformat(text).timestamp(), abs=1e-6), text


def _python_rule(rows: list[tuple]) -> int:
    """The documented rule, in Python: latest per annotator; 5 if >= half; lower median."""
    latest: dict = {}
    for rating_id, rating, rated_at, annotator in rows:
        key = (rated_at is not None, rated_at or datetime.min, rating_id)
        if annotator not in latest or key > latest[annotator][0]:
            latest[annotator] = (key, rating)
    votes = [v for _, v in latest.values()]
    if 2 * sum(v == 5 for v in votes) >= len(votes):
        return 5
    usable = sorted(v for v in votes if v != 5)
    return usable[(len(usable) - 1) // 2]


def test_resolved_rating_follows_the_documented_rule(built):
    warehouse, _ = built
    per_image = defaultdict(list)
    for image_id, *rest in query(
        warehouse,
        "select image_id, rating_id, rating, rated_at, annotator_id "
        "from int_ratings_checked where is_valid",
    ):
        per_image[image_id].append(tuple(rest))
    resolved = dict(query(warehouse, "select image_id, rating from image_ratings"))

    assert resolved.keys() == per_image.keys()
    assert {i: _python_rule(r) for i, r in per_image.items()} == resolved
    # The sample has repeated, duplicated and conflicting ratings: the rule was exercised.
    facts = query(warehouse, "select max(n_ratings), max(n_exact_duplicates), "
                             "count(*) filter (where is_conflicting) from image_ratings")[0]
    assert facts[0] > 1 and facts[1] > 0 and facts[2] > 0


def test_full_set_is_ann_without_unusable_remapped_and_cleaned(built):
    warehouse, _ = built
    ann = dict(query(warehouse, "select image_id, rating from ann"))
    full = {i: (r, p, raw) for i, r, p, raw in
            query(warehouse, "select image_id, rating, prompt, prompt_raw from full_set")}
    assert full.keys() == {i for i, r in ann.items() if r != 5}
    assert all(full[i][0] == ann[i] - 1 for i in full)
    assert all(p == team_clean_prompt(raw) for _, p, raw in full.values())
    assert {r for r, _, _ in full.values()} <= {0, 1, 2, 3}


def test_nessesary_files_has_one_row_per_usable_rating(built):
    warehouse, _ = built
    n_files = query(warehouse, "select count(*), count(distinct rating_id) from nessesary_files")
    n_ratings = query(warehouse, "select count(*) from int_ratings_checked where is_valid")
    assert n_files[0][0] == n_files[0][1] == n_ratings[0][0]
    assert query(warehouse, "select min(rating), max(rating) from nessesary_files") == [(1, 5)]


def test_big_set_is_reproducible_and_seeded(built, tmp_path):
    warehouse, _ = built
    copy = _copy_of(warehouse, tmp_path)

    def sample(seed: int, size: int = 40) -> list[int]:
        run_dbt(["run", "--select", "big_set", "--vars",
                 json.dumps({"big_set_seed": seed, "big_set_size": size})], copy)
        return [r[0] for r in query(copy, "select image_id from big_set order by sample_rank")]

    first, again, other = sample(1), sample(1), sample(2)
    assert len(first) == 40 and first == again and first != other
    rated = {r[0] for r in query(copy, "select image_id from image_ratings")}
    sevens = {r[0] for r in query(copy, "select image_id from int_images_checked "
                                        "where starts_with(img_name, '7')")}
    assert not (set(first) | set(other)) & (rated | sevens)


@pytest.mark.data_tests
def test_a_failing_data_test_fails_the_build_with_one_line(built, tmp_path):
    warehouse, _ = built
    copy = _copy_of(warehouse, tmp_path)
    import duckdb

    con = duckdb.connect(str(copy))
    con.execute("create or replace table full_set as select * from full_set union all "
                "(select * from full_set limit 1)")
    con.close()
    with pytest.raises(NeurostockError, match="unique_full_set_image_id"):
        run_dbt(["test", "--select", "full_set"], copy)


def test_only_staging_models_depend_on_sources(built):
    """Read from the build's manifest, so a source() inside a macro counts too."""
    warehouse, _ = built
    manifest = json.loads((dbt_work_dir(warehouse) / "target" / "manifest.json").read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    with_sources = {n["name"]: n["original_file_path"] for n in models
                    if any(d.startswith("source.") for d in n["depends_on"]["nodes"])}
    outside = {k: v for k, v in with_sources.items() if not v.startswith("models/staging/")}
    assert outside == {}
    assert {"stg_files__images", "stg_meta__loads", "stg_meta__scorers"} <= with_sources.keys()
    # The per-import tables go through staging too: `scores` reads the staging model.
    scores = next(n for n in models if n["name"] == "scores")
    assert "model.neurostock.stg_imported__scores" in scores["depends_on"]["nodes"]


def test_staging_views_show_what_python_wrote(built):
    warehouse, _ = built
    loads = query(warehouse, "select load_id, source_sha256 from stg_meta__loads")
    assert loads == query(warehouse, "select load_id, source_sha256 from meta.loads")
    assert len(loads) == 1
    copied = dict(query(warehouse, "select table_name, copied_rows from stg_meta__load_tables"))
    assert copied["img_info"] == query(warehouse, "select count(*) from raw.img_info")[0][0]
    prompts = query(warehouse, "select count(*), count(distinct image_id), "
                               "count(*) filter (where content_sha256 = sha256(prompt)) "
                               "from int_prompts_hashed")[0]
    # The pool: full_set, the images rated unusable, and (by default) big_set.
    n_sets = query(warehouse, "select (select count(*) from full_set) "
                              "+ (select count(*) from big_set) "
                              "+ (select count(*) from pool where image_set = 'unusable')")[0][0]
    assert prompts[0] == prompts[1] == n_sets
    assert prompts[2] == query(warehouse, "select count(*) from int_prompts_hashed "
                                          "where prompt is not null")[0][0] > 0


@pytest.mark.data_tests
def test_a_new_import_reaches_scorer_summary_when_scores_rebuild(built, tmp_path):
    """imported.scores__<id> is found when `scores` builds (stg_imported__scores is
    ephemeral), so `build -s scores+` after an import needs no other selection."""
    warehouse, _ = built
    copy = _copy_of(warehouse, tmp_path)
    import duckdb

    con = duckdb.connect(str(copy))
    con.execute("create schema if not exists imported")
    for scorer_id, score in (("team_mod7", "(image_id % 7)::double"), ("team_flat", "1.5")):
        con.execute(f"""create table imported.scores__{scorer_id} as
            select image_id, {score} as score, null::map(varchar, double) as components,
                   row_number() over (order by image_id) as source_row,
                   'team.csv' as source_file, 'abc' as source_sha256, now() as imported_at,
            from full_set""")
    con.close()
    run_dbt(["build", "--select", "scores+"], copy)
    n_full = query(copy, "select count(*) from full_set")[0][0]
    summary = {r[0]: r[1:] for r in query(
        copy, "select scorer_id, n, is_valid, invalid_reason from scorer_summary")}
    assert summary["team_mod7"] == (n_full, True, None)
    assert summary["team_flat"] == (n_full, False, f"constant: every one of {n_full} values is 1.5")
    # signal_summary judges by the same rules, once: the scores' verdict is scorer_summary's.
    signals = {r[0]: r[1:] for r in query(
        copy, "select scorer_id, is_valid, invalid_reason from signal_summary")}
    assert signals["team_flat"] == summary["team_flat"][1:]

