"""The team's own files, exactly: ann.csv, full_set.csv (from ann.csv by their
notebook's steps), nessesary_files.csv; their glued keyword imported; per-keyword
zero-shot signals; Benjamini-Hochberg q-values; clusters on image+prompt vectors
and up to k = 40. Real dbt, real DuckDB, a real sample source."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neurostock.build.dbt_runner import run_dbt
from neurostock.core.paths import dbt_work_dir
from neurostock.deliver.export import export
from neurostock.embed.embedding_import import import_embeddings
from neurostock.ingest.sqlite_copy import ingest
from neurostock.sampledata.source import write_sample
from tests.conftest import SHARED_DATA, query
from tests.prompt_reference import team_clean_prompt

pytestmark = [pytest.mark.slow, pytest.mark.data_tests]

TEAM_KEYWORDS = SHARED_DATA / "seed-research" / "open_clip_ViT-G-14_key_word_embs.csv"
TOLERANCE = 1e-9
DIM = 1280  # the team's keyword file: open_clip ViT-bigG-14


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """A 600-row sample, built with dbt (models + tests) and exported."""
    root = tmp_path_factory.mktemp("team_files")
    summary = write_sample(root / "sample", rows=600, seed=11)
    warehouse = root / "warehouse.duckdb"
    ingest(summary.db_path, warehouse)
    run_dbt(["build"], warehouse)
    out = root / "export"
    export(out, warehouse)
    return warehouse, out


def test_ann_csv_is_the_teams_file_one_row_per_usable_rated_image(exported):
    warehouse, out = exported
    lines = (out / "ann.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",id,img_name,img_generation_promt,rating"
    ann = pd.read_csv(out / "ann.csv")
    assert list(ann.columns) == ["Unnamed: 0", "id", "img_name", "img_generation_promt",
                                 "rating"]
    assert ann["Unnamed: 0"].tolist() == list(range(len(ann)))
    usable = dict(query(warehouse, "select image_id, rating from image_ratings "
                                   "where rating between 1 and 4"))
    assert dict(zip(ann["id"], ann["rating"], strict=True)) == usable
    assert ann["id"].is_unique
    assert set(ann["rating"]) <= {1, 2, 3, 4}
    # The sample has images resolved to 5: they are rated, but not in ann.
    unusable = {r[0] for r in query(warehouse, "select image_id from image_ratings "
                                               "where rating = 5")}
    assert unusable and not unusable & set(ann["id"])


def test_ann_csv_carries_the_prompt_as_the_source_stores_it(exported):
    """ann.csv's img_generation_promt is img_info's, byte for byte (the `<digits>_`
    prefix and the underscores kept); full_set.csv's is the cleaned prompt."""
    warehouse, out = exported
    raw = dict(query(warehouse, "select image_id, prompt_raw from int_images_checked "
                                "where is_valid"))
    with (out / "ann.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["img_generation_promt"] == (raw[int(r["id"])] or "")
                        for r in rows)
    assert sum(r["img_generation_promt"][:1].isdigit() and "_" in r["img_generation_promt"]
               for r in rows) > len(rows) / 2
    with (out / "full_set.csv").open(encoding="utf-8", newline="") as handle:
        cleaned = {int(r["id"]): r["img_generation_promt"] for r in csv.DictReader(handle)}
    assert all(cleaned[int(r["id"])] == (team_clean_prompt(raw[int(r["id"])]) or "")
               for r in rows)


def test_the_teams_notebook_turns_ann_csv_into_full_set_csv(exported):
    _, out = exported
    # create_full_set, as the team wrote it: ann.csv holds the source's prompts, cleaned
    # on the way (their cleaning, tests/prompt_reference.py) and written with pandas.
    full_set = pd.read_csv(out / "ann.csv").drop(["Unnamed: 0", "img_name"], axis=1)
    full_set["img_generation_promt"] = full_set["img_generation_promt"].map(
        lambda p: team_clean_prompt(p) if isinstance(p, str) else p)
    full_set["label"] = full_set["rating"] - 1
    full_set["img_path"] = ("all_data/" + full_set["label"].astype(str) + "/"
                            + full_set["id"].astype(str) + ".jpg")
    full_set = full_set.drop("rating", axis=1).rename(columns={"label": "rating"})
    full_set = full_set[["id", "img_generation_promt", "rating", "img_path"]]
    written = io.StringIO()
    full_set.to_csv(written, index=False)
    written.seek(0)

    exported_full_set = pd.read_csv(out / "full_set.csv")
    assert len(exported_full_set) > 100
    pd.testing.assert_frame_equal(pd.read_csv(written), exported_full_set)


def test_nessesary_files_csv_is_the_teams_file_one_row_per_rating_row(exported):
    warehouse, out = exported
    with (out / "nessesary_files.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["", "id", "img_path", "img_name", "rating"]
    assert [int(r[0]) for r in rows[1:]] == list(range(len(rows) - 1))
    expected = query(warehouse, "select image_id, rating from int_ratings_checked "
                                "where is_valid order by rating_id")
    assert [(int(r[1]), int(r[4])) for r in rows[1:]] == expected
    assert {int(r[4]) for r in rows[1:]} == {1, 2, 3, 4, 5}


def _write_vectors(path: Path, ids: list[int], dim: int, seed: int) -> None:
    """A `both` file of the team's shape: id, image half, prompt half (random vectors)."""
    rng = np.random.default_rng(seed)
    header = ["id", *(f"emb_{i}" for i in range(2 * dim))]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for image_id in ids:
            writer.writerow([image_id, *np.round(rng.normal(size=2 * dim), 6)])


@pytest.fixture(scope="module")
def with_team_keywords(exported, tmp_path_factory):
    """The built sample plus the team's keyword file and random image+prompt vectors of
    the same size for embedder `team`, rebuilt with per-keyword signals, the "both"
    clustering input and k up to 40."""
    if not TEAM_KEYWORDS.exists():
        pytest.skip(f"{TEAM_KEYWORDS} is not here")
    warehouse, _ = exported
    root = tmp_path_factory.mktemp("team_keywords")
    ids = [r[0] for r in query(warehouse, "select image_id from full_set order by image_id")]
    vectors = root / "team_vectors.csv"
    _write_vectors(vectors, ids, DIM, seed=5)
    import_embeddings(warehouse, TEAM_KEYWORDS, "team", "keyword")
    import_embeddings(warehouse, vectors, "team", "both")
    run_dbt(["build", "--vars",
             "{zero_shot_keyword_signals: true, cluster_both_input: true, "
             "cluster_k_values: [3, 40]}"], warehouse)
    results = json.loads((dbt_work_dir(warehouse) / "target" / "run_results.json").read_text())
    return warehouse, {r["unique_id"].split(".")[-1]: r for r in results["results"]}


def test_an_imported_glued_keyword_is_unlisted_and_stops_nothing(with_team_keywords):
    warehouse, results = with_team_keywords
    assert query(warehouse, "select keyword_group from keyword_embeddings "
                            "where keyword = 'heavenlyhorrible'") == [("unlisted",)]
    assert query(warehouse, "select count(*) from image_features where scorer_id is null") \
        == [(0,)]
    groups = {r[0] for r in query(warehouse, "select distinct scorer_id from image_features "
                                             "where scorer_id like 'zero_shot_%@team' "
                                             "and scorer_id not like 'zero_shot_kw_%'")}
    assert "zero_shot_unlisted@team" in groups and "zero_shot_horrible@team" in groups
    # The metrics are built, and the glued keyword's probability is in them.
    assert query(warehouse, "select count(*) from rpt_score_agreement "
                            "where scorer_id = 'zero_shot_kw_heavenlyhorrible@team'")[0][0] > 0
    glued = results["assert_keywords_not_glued"]
    assert glued["status"] == "warn" and glued["failures"] == 1


def test_per_keyword_signals_are_each_keywords_probability(with_team_keywords):
    warehouse, _ = with_team_keywords
    pairs = query(warehouse, """
        select f.score, z.probability
        from image_features f
        inner join keyword_zero_shot z
            on f.image_id = z.image_id and z.embedder_id = 'team'
            and f.scorer_id = 'zero_shot_kw_' || replace(z.keyword, ' ', '_') || '@team'""")
    n_keywords = query(warehouse, "select count(*) from keyword_embeddings "
                                  "where embedder_id = 'team'")[0][0]
    n_images = query(warehouse, "select count(distinct image_id) from keyword_zero_shot "
                                "where embedder_id = 'team'")[0][0]
    assert len(pairs) == n_keywords * n_images > 0
    assert all(score == probability for score, probability in pairs)
    assert query(warehouse, "select count(*) from image_features "
                            "where scorer_id = 'zero_shot_kw_Logical_fallacy@team'")[0][0] \
        == n_images


def _same(ours, reference) -> bool:
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    if missing(ours) or missing(reference):
        return missing(ours) and missing(reference)
    return abs(float(ours) - float(reference)) <= TOLERANCE


def test_spearman_p_values_are_scipys_and_q_values_are_benjamini_hochberg(
        with_team_keywords):
    warehouse, _ = with_team_keywords
    pairs = pd.DataFrame(query(warehouse, "select scorer_id, subset, score, rating "
                                          "from int_agreement_pairs"),
                         columns=["scorer_id", "subset", "score", "rating"])
    rows = pd.DataFrame(query(warehouse, "select scorer_id, subset, subset_kind, n, spearman, "
                                         "spearman_p_value, q_value from rpt_score_agreement"),
                        columns=["scorer_id", "subset", "subset_kind", "n", "spearman",
                                 "p", "q"])
    checked = 0
    for (scorer_id, subset), group in pairs.groupby(["scorer_id", "subset"]):
        row = rows[(rows.scorer_id == scorer_id) & (rows.subset == subset)].iloc[0]
        if len(group) < 3 or group.score.nunique() < 2 or group.rating.nunique() < 2:
            assert row.p is None or math.isnan(row.p), (scorer_id, subset)
            continue
        reference = stats.spearmanr(group.score, group.rating).pvalue
        assert _same(row.p, reference), (scorer_id, subset, row.p, reference)
        checked += 1
    # Small clusters (k = 40) give odd and even degrees of freedom, and tiny n.
    assert checked > 100 and set(rows.n % 2) == {0, 1} and rows.n.min() <= 5
    for kind, family in rows.groupby("subset_kind"):
        tested = family[family.p.notna()]
        expected = stats.false_discovery_control(tested.p.to_numpy(dtype=float), method="bh")
        assert all(_same(q, e) for q, e in zip(tested.q, expected, strict=True)), kind
        assert family[family.p.isna()].q.isna().all()
    assert set(rows.subset_kind) >= {"all", "cluster", "experiment_model", "generation_month"}


def test_both_input_is_clustered_beside_the_default_up_to_k_40(with_team_keywords):
    warehouse, _ = with_team_keywords
    solutions = query(warehouse, "select embedding_kind, is_default_input, k, is_chosen, "
                                 "skipped_reason from cluster_solutions "
                                 "where embedder_id = 'team' order by embedding_kind, k")
    assert [(kind, default, k) for kind, default, k, *_ in solutions] == [
        ("both", False, 3), ("both", False, 40), ("image", True, 3), ("image", True, 40)]
    assert all(reason is None for *_, reason in solutions), "k = 40 must be fitted"
    assert sum(chosen for _, _, _, chosen, _ in solutions) == 2  # one per input
    subsets = {r[0] for r in query(warehouse, "select distinct subset from image_subsets "
                                              "where subset like 'cluster:team:%'")}
    both = {s for s in subsets if s.startswith("cluster:team:both:")}
    default = subsets - both
    assert both and default
    assert all(s.split(":")[2].isdigit() for s in default)
    features = {r[0] for r in query(warehouse, "select distinct scorer_id from image_features "
                                               "where scorer_id like 'centroid_distance%@team'")}
    assert features == {"centroid_distance@team", "centroid_distance_both@team"}
    # The SQL assignment of a full_set image to "both" centroids is the fit's own label.
    ids, labels = zip(*query(warehouse, """
        select image_id, cluster_id from cluster_assignments
        where embedder_id = 'team' and embedding_kind = 'both' and is_chosen_k
          and image_set = 'full_set' order by image_id"""), strict=True)
    image = dict(query(warehouse, "select image_id, embedding from image_embeddings "
                                  "where embedder_id = 'team'"))
    prompt = dict(query(warehouse, "select image_id, embedding from prompt_embeddings "
                                   "where embedder_id = 'team'"))
    k = query(warehouse, "select k from cluster_solutions where embedder_id = 'team' "
                         "and embedding_kind = 'both' and is_chosen")[0][0]
    from sklearn.cluster import KMeans

    def unit(v):
        v = np.asarray(v, dtype=np.float64)
        return v / np.linalg.norm(v)

    matrix = np.array([unit(np.concatenate([unit(image[i]), unit(prompt[i])])) for i in ids])
    fit = KMeans(n_clusters=k, n_init=10, random_state=42).fit(matrix)
    assert list(labels) == fit.labels_.tolist()
