"""The pool: every rated image (unusable ones too) plus the unrated images neurostock.yml
chooses is checked, embedded and scored; new generations in a re-ingested source are the
only images a second build reads, embeds and scores. Real SQLite, real dbt, real DuckDB,
a tiny real open_clip model, real JPEG files."""

from __future__ import annotations

import os
import sqlite3

import duckdb
import numpy as np
import pytest
from PIL import Image

from neurostock.core.config import PoolConfig, UnratedNewest, UnratedSince, load_config
from neurostock.core.errors import NeurostockError
from tests.conftest import built_sample, last_runs, query
from tests.conftest import run_cli as _cli
from tests.tiny_clip import tiny_checkpoint, tiny_embedder

pytestmark = pytest.mark.slow

N_NEW = 3  # new generations with a file, plus one without


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    """A 300-row sample built with `pool: {unrated: all}`, a tiny open_clip model and the
    technical scorer."""
    root = tmp_path_factory.mktemp("pool")
    model_config, checkpoint = tiny_checkpoint(root)
    warehouse, config, summary, _ = built_sample(
        root,
        "embedders:\n"
        + tiny_embedder(model_config, checkpoint, batch_size=16, kinds=["image", "prompt"])
        + "scorers: [technical]\npool: {unrated: all}\ndecode_workers: 2\n",
        rows=300, seed=23)
    return warehouse, config, summary


def test_pool_all_holds_every_rated_and_unrated_image(pooled):
    warehouse, *_ = pooled
    by_set = dict(query(warehouse, "select image_set, count(*) from pool group by all"))
    n_rated = query(warehouse, "select count(*) from image_ratings r "
                               "semi join int_images_checked i on i.image_id = r.image_id "
                               "and i.is_valid")[0][0]
    n_unrated = query(warehouse, """
        select count(*) from int_images_checked i
        where is_valid and not starts_with(coalesce(img_name, ''), '7')
          and image_id not in (select image_id from image_ratings)""")[0][0]
    assert by_set["unusable"] > 0 and by_set["unrated"] > query(
        warehouse, "select count(*) from big_set")[0][0] - 1
    assert by_set["full_set"] + by_set["unusable"] == n_rated
    assert by_set["unrated"] == n_unrated
    assert "big_set" not in by_set


def test_every_pool_image_with_a_file_is_checked_embedded_and_scored(pooled):
    warehouse, *_ = pooled
    pool = {r[0] for r in query(warehouse, "select image_id from pool")}
    checked = dict(query(warehouse, "select image_id, status from files.images"))
    assert set(checked) == pool
    ok = {i for i, status in checked.items() if status == "ok"}
    unusable = {r[0] for r in query(warehouse, "select image_id from pool "
                                               "where image_set = 'unusable'")}
    assert ok & unusable and len(ok) > 250
    embedded = {r[0] for r in query(warehouse, "select image_id from emb_image__tiny "
                                               "where embed_error is null")}
    scored = {r[0] for r in query(warehouse, "select image_id from score__technical "
                                             "where score_error is null")}
    assert embedded == ok and scored == ok
    prompts = query(warehouse, "select count(distinct content_sha256) from int_prompts_hashed "
                               "where prompt != ''")[0][0]
    assert query(warehouse, "select count(*) from emb_prompt__tiny")[0][0] == prompts


def _add_generations(summary, n_with_files: int) -> list[int]:
    """Append new img_info rows to the sample's SQLite file: `n_with_files` with a new JPEG
    each, one whose file was never written. Returns the new ids."""
    con = sqlite3.connect(summary.db_path)
    try:
        top = con.execute("select max(id) from img_info").fetchone()[0]
        ids = list(range(top + 1, top + n_with_files + 2))
        folder = summary.db_path.parent / "core" / "2031" / "1" / "2"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for n, image_id in enumerate(ids):
            name = f"1_a_new_generation_number_{image_id}.jpg"
            if n < n_with_files:
                pixels = np.random.default_rng(image_id).integers(0, 256, (80, 96, 3), np.uint8)
                Image.fromarray(pixels).save(folder / name, quality=90)
            rows.append((image_id, str(folder / name), name, "2031-01-02T10:00:00", 1, 1,
                         f"1_a_new_generation_number_{image_id}"))
        with con:
            con.executemany("insert into img_info values (?, ?, ?, ?, ?, ?, ?)", rows)
    finally:
        con.close()
    return ids


@pytest.mark.data_tests
def test_new_generations_are_the_only_images_read_embedded_and_scored(pooled, capsys):
    warehouse, config, summary = pooled
    n_ok = query(warehouse, "select count(*) from files.images where status = 'ok'")[0][0]
    n_cleaned = query(warehouse, "select count(*) from int_prompts_cleaned")[0][0]
    new_ids = _add_generations(summary, N_NEW)
    assert _cli(warehouse, config, "ingest", str(summary.db_path)) == 0
    capsys.readouterr()
    assert _cli(warehouse, config, "build") == 0
    err = capsys.readouterr().err
    # The sync read only the new files; the one without a file is new but unreadable.
    assert f"images: {N_NEW + 1} new in the pool, {N_NEW} files read" in err
    runs = last_runs(warehouse)
    assert runs[("embed_image", "tiny")] == (N_NEW, n_ok, 0)
    assert runs[("score", "technical")][0] == N_NEW
    # Four new, distinct prompts: a prompt is embedded whether or not its file exists.
    assert runs[("embed_prompt", "tiny")][0] == N_NEW + 1
    assert f"embed_image tiny: {N_NEW} computed, {n_ok:,} already done, 0 failed" in err
    embedded = {r[0] for r in query(warehouse, "select image_id from emb_image__tiny")}
    assert set(new_ids[:N_NEW]) <= embedded and new_ids[-1] not in embedded
    status = query(warehouse, "select status from files.images where image_id = ?",
                   [new_ids[-1]])
    assert status == [("missing",)]
    # Prompts are cleaned once: the cache grew by the new prompts, every pool prompt is
    # what the staging view's inline cleaning gives, the new ones included.
    assert query(warehouse, "select count(*), count(distinct cleaner) "
                            "from int_prompts_cleaned") == [(n_cleaned + N_NEW + 1, 1)]
    wrong = query(warehouse, """select count(*), count(*) filter (where pool.prompt is null),
                                       count(*) filter (where list_contains(?, image_id))
                                from pool inner join stg_core__img_info as staged
                                    using (image_id)
                                where pool.prompt is distinct from staged.prompt""", [new_ids])
    assert wrong == [(0, 0, 0)]
    assert query(warehouse, "select count(*) from pool where list_contains(?, image_id) "
                            "and prompt like 'a new generation number %'", [new_ids]) == [
        (N_NEW + 1,)]


def test_pool_newest_and_since_choose_the_unrated_images(pooled):
    """The dbt side of `newest` and `since` (the last test of the module's warehouse)."""
    from neurostock.build.dbt_runner import run_dbt

    warehouse, *_ = pooled
    run_dbt(["build", "--select", "pool"], warehouse, "{pool_unrated: newest, pool_newest: 5}")
    newest = query(warehouse, "select image_id from pool where image_set = 'unrated'")
    later = query(warehouse, """
        select count(*) from int_images_checked
        where is_valid and image_id not in (select image_id from image_ratings)
          and not starts_with(coalesce(img_name, ''), '7')
          and generated_at > (select min(generated_at) from pool where image_set = 'unrated')""")
    assert len(newest) == 5 and later[0][0] <= 4
    run_dbt(["build", "--select", "pool"], warehouse,
            "{pool_unrated: since, pool_since: '2031-01-01'}")
    since = {r[0] for r in query(warehouse, "select image_id from pool "
                                            "where image_set = 'unrated'")}
    dated = {r[0] for r in query(warehouse, "select image_id from int_images_checked "
                                            "where is_valid and generated_at >= '2031-01-01' "
                                            "and image_id not in (select image_id "
                                            "from image_ratings)")}
    # The generations the test above added, dated 2031 (the sample's are years earlier).
    assert since == dated and len(since) == N_NEW + 1


def test_pool_config_is_typed_and_becomes_dbt_vars(tmp_path):
    path = tmp_path / "neurostock.yml"
    for text, pool, dbt_vars in [
        ("", PoolConfig(), {"pool_unrated": "sample"}),
        ("pool: {unrated: all}\n", PoolConfig("all"), {"pool_unrated": "all"}),
        ("pool: {unrated: {since: 2024-05-01}}\n",
         PoolConfig(UnratedSince(since="2024-05-01")),
         {"pool_unrated": "since", "pool_since": "2024-05-01"}),
        ("pool: {unrated: {newest: 50000}}\n", PoolConfig(UnratedNewest(newest=50000)),
         {"pool_unrated": "newest", "pool_newest": 50000}),
    ]:
        path.write_text(text or "scorers: []\n")
        config = load_config(path)
        assert config.pool == pool and config.pool.dbt_vars() == dbt_vars
    assert load_config(path).decoders == (os.cpu_count() or 1)
    path.write_text("pool: {unrated: everything}\n")
    with pytest.raises(NeurostockError, match=r"pool\.unrated"):
        load_config(path)
    path.write_text("decode_workers: 0\n")
    with pytest.raises(NeurostockError, match="decode_workers: must be at least 1"):
        load_config(path)


def test_old_files_images_tables_get_the_new_columns():
    from neurostock.core.meta import ensure_images_table

    con = duckdb.connect()
    try:
        con.execute("create schema files")
        con.execute("create table files.images (image_id bigint primary key, set_name varchar, "
                    "img_path varchar, resolved_path varchar, status varchar not null, "
                    "status_detail varchar, bytes bigint, sha256 varchar, width integer, "
                    "height integer, format varchar, mode varchar, dataset_path varchar, "
                    "dataset_sha256 varchar, checked_at timestamptz)")
        con.execute("insert into files.images (image_id, status) values (1, 'ok')")
        ensure_images_table(con)
        ensure_images_table(con)
        columns = [r[0] for r in con.execute("describe files.images").fetchall()]
        assert columns[-2:] == ["file_size", "file_mtime_ns"]
        assert con.execute("select count(*) from files.images").fetchone()[0] == 1
    finally:
        con.close()
