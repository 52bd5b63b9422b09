"""score.importers: the team's score files (PIA, TANet, Hugging Face, CSV) into `imported.*`.

Every test writes real files in tmp_path and imports them into a real DuckDB
warehouse that holds only what the importer reads: dbt's int_images_checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from neurostock.core.errors import NeurostockError
from neurostock.core.scorers import ScorerInfo, upsert_scorer, validate_scores
from neurostock.score.import_formats import PIA_ATTRIBUTES
from neurostock.score.importers import import_scores
from tests.conftest import copy_warehouse

SEED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "seed-research"
VALID_IDS = range(1, 3001)
INVALID_ID = 3001  # checked by dbt, but its file is unusable


@pytest.fixture(scope="session")
def template_wh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_warehouse(tmp_path_factory.mktemp("template") / "warehouse.duckdb", VALID_IDS)


@pytest.fixture
def wh(tmp_path: Path, template_wh: Path) -> Path:
    """A warehouse whose int_images_checked has ids 1..3000 valid and 3001 invalid."""
    # A copy of one file made once: creating a DuckDB file per test costs more.
    return copy_warehouse(template_wh, tmp_path / "warehouse.duckdb")


def make_warehouse(path: Path, valid_ids) -> Path:
    con = duckdb.connect(str(path))
    con.execute("create table int_images_checked (image_id bigint, is_valid boolean)")
    con.execute("insert into int_images_checked select unnest(?), true", [list(valid_ids)])
    con.execute("insert into int_images_checked values (?, false)", [INVALID_ID])
    con.close()
    return path


def rows_of(warehouse: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def scorer(warehouse: Path, scorer_id: str) -> dict:
    """The meta.scorers row of `scorer_id` as a dict."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.execute("select * from meta.scorers where scorer_id = ?", [scorer_id])
        row = cursor.fetchone()
        return dict(zip([d[0] for d in cursor.description], row, strict=True))
    finally:
        con.close()


def tables(warehouse: Path) -> list[tuple]:
    return rows_of(warehouse, "select schema_name, table_name, estimated_size from duckdb_tables()"
                              " order by all")


def refused(warehouse: Path, *args, **kwargs) -> str:
    """An import that must be refused: its one-line message; the warehouse is left as it was."""
    before = tables(warehouse)
    with pytest.raises(NeurostockError) as caught:
        import_scores(warehouse, *args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    assert tables(warehouse) == before
    return message


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def scores_csv(path: Path, ids, preds, header: str = ",id,preds") -> Path:
    """A TANet-style file: pandas index, id, prediction."""
    lines = [header] + [f"{i},{image_id},{p}" for i, (image_id, p) in
                        enumerate(zip(ids, preds, strict=True))]
    return write(path, "\n".join(lines) + "\n")


def spread(n: int, low: float = 0.2, high: float = 0.8) -> list[float]:
    return np.linspace(low, high, n).round(6).tolist()


def pia_files(tmp_path: Path, ids, scores=None, nested: bool = False) -> tuple[Path, Path]:
    """PIA's res.json (no ids) and the image list it ran on, in the team's path style."""
    n = len(ids)
    scores = spread(n) if scores is None else scores
    rng = np.random.default_rng(0)
    res = {
        "attributesFeature": rng.uniform(-0.1, 0.6, (n, 10)).round(6).tolist(),
        "predictScoreAll": [[[s]] if nested else s for s in scores],
        "contentFeature": rng.uniform(0, 1, (n, 10)).round(6).tolist(),
    }
    listing = "".join(f"../beauty_predict/datasets/all_data/{i % 4}/{i}.jpg\n" for i in ids)
    return (write(tmp_path / "res.json", json.dumps(res)),
            write(tmp_path / "image_list.txt", listing))


def hf_predictions(aesthetic: float) -> list[dict]:
    """A classifier's output for one image, best label first (as the pipeline sorts it)."""
    pair = [{"label": "aesthetic", "score": aesthetic},
            {"label": "not_aesthetic", "score": round(1 - aesthetic, 6)}]
    return sorted(pair, key=lambda p: -p["score"])


# ---------------------------------------------------------------- PIA


def test_pia_rows_are_matched_to_the_image_list_by_position(wh: Path, tmp_path: Path) -> None:
    res, listing = pia_files(tmp_path, [23, 5, 1000, 7], scores=[0.7, 0.4, 0.9, 0.55],
                             nested=True)

    [summary] = import_scores(wh, "pia", res, "pia_team", image_list=listing)

    assert (summary.scorer_id, summary.rows, summary.status) == ("pia_team", 4, "imported")
    assert (summary.is_valid, summary.invalid_reason, summary.unknown_ids) == (True, None, 0)
    stored = rows_of(wh, "select image_id, score, source_row, cardinality(components), "
                         "components['Symmetry'], components['content_9'] "
                         "from imported.scores__pia_team order by source_row")
    assert [(r[0], r[1], r[2], r[3]) for r in stored] == [
        (23, 0.7, 1, 20), (5, 0.4, 2, 20), (1000, 0.9, 3, 20), (7, 0.55, 4, 20)]
    features = json.loads(res.read_text())
    assert stored[2][4] == features["attributesFeature"][2][PIA_ATTRIBUTES.index("Symmetry")]
    assert stored[2][5] == features["contentFeature"][2][9]
    row = scorer(wh, "pia_team")
    assert (row["kind"], row["higher_is"], row["expected_min"], row["expected_max"]) == (
        "imported", "more aesthetic (PIA)", None, None)
    assert (row["is_valid"], row["n_scored"], row["source_file"]) == (True, 4, str(res))
    assert "image_list.txt" in row["description"] and "sha256" in row["description"]


def test_pia_without_feature_arrays_has_null_components(wh: Path, tmp_path: Path) -> None:
    res = write(tmp_path / "res.json", json.dumps({"predictScoreAll": [0.5, 0.6]}))
    listing = write(tmp_path / "list.txt", "a/1.jpg\na/2.png\n\n")

    [summary] = import_scores(wh, "pia", res, "pia_bare", image_list=listing)

    assert summary.rows == 2
    assert rows_of(wh, "select count(*) from imported.scores__pia_bare "
                       "where components is null") == [(2,)]


def test_pia_refuses_lists_of_another_length_naming_both(wh: Path, tmp_path: Path) -> None:
    res, _ = pia_files(tmp_path, [1, 2, 3])
    shorter = write(tmp_path / "short.txt", "x/1.jpg\nx/2.jpg\n")

    message = refused(wh, "pia", res, "pia_team", image_list=shorter)

    assert "has 3 scores" in message and "has 2 images" in message and "short.txt" in message


def test_pia_refuses_a_list_line_without_an_integer_id(wh: Path, tmp_path: Path) -> None:
    res, _ = pia_files(tmp_path, [1, 2, 3])
    listing = write(tmp_path / "list.txt", "x/1.jpg\nx/cat.jpg\nx/3.jpg\n")

    message = refused(wh, "pia", res, "pia_team", image_list=listing)

    assert "line 2" in message and "x/cat.jpg" in message


def test_pia_refuses_a_blank_line_inside_the_list(wh: Path, tmp_path: Path) -> None:
    res, _ = pia_files(tmp_path, [1, 2, 3])
    listing = write(tmp_path / "list.txt", "x/1.jpg\n\nx/3.jpg\n")

    assert "line 2 is blank" in refused(wh, "pia", res, "pia_team", image_list=listing)


@pytest.mark.parametrize(("document", "expected"), [
    ("{not json", "is not valid JSON"),
    (json.dumps({"scores": [1]}), "has no key 'predictScoreAll' (found: scores)"),
    (json.dumps({"predictScoreAll": [0.1, "high", 0.3]}), "predictScoreAll row 2: 'high'"),
    (json.dumps({"predictScoreAll": [0.1, [0.2, 0.3], 0.3]}), "row 2: [0.2, 0.3] is not one"),
    (json.dumps({"predictScoreAll": [0.1, 0.2, 0.3], "contentFeature": [[0.0] * 10] * 2}),
     "contentFeature has 2 rows but predictScoreAll has 3"),
    (json.dumps({"predictScoreAll": [0.1, 0.2, 0.3],
                 "attributesFeature": [[0.0] * 10, [0.0] * 9, [0.0] * 10]}),
     "attributesFeature row 2 is not a list of 10 numbers"),
])
def test_pia_refuses_malformed_output(wh: Path, tmp_path: Path, document: str,
                                      expected: str) -> None:
    res = write(tmp_path / "res.json", document)
    listing = write(tmp_path / "list.txt", "x/1.jpg\nx/2.jpg\nx/3.jpg\n")

    message = refused(wh, "pia", res, "pia_team", image_list=listing)

    assert expected in message and str(res) in message


def test_pia_needs_its_image_list(wh: Path, tmp_path: Path) -> None:
    res, _ = pia_files(tmp_path, [1, 2])

    assert "needs --image-list" in refused(wh, "pia", res, "pia_team")
    assert "image list" in refused(wh, "pia", res, "pia_team", image_list=tmp_path / "nope.txt")


# ---------------------------------------------------------------- TANet


def test_tanet_file_with_pandas_index(wh: Path, tmp_path: Path) -> None:
    source = scores_csv(tmp_path / "my_res.csv", [4, 2, 9], [0.51, 0.62, 0.47])

    [summary] = import_scores(wh, "tanet", source, "tanet_tad")

    assert (summary.rows, summary.is_valid, summary.status) == (3, True, "imported")
    assert rows_of(wh, "select image_id, score, source_row, components "
                       "from imported.scores__tanet_tad") == [
        (4, 0.51, 1, None), (2, 0.62, 2, None), (9, 0.47, 3, None)]
    row = scorer(wh, "tanet_tad")
    assert (row["expected_min"], row["expected_max"], row["higher_is"]) == (
        0.0, 1.0, "more aesthetic (TANet)")


def test_tanet_scores_on_a_ten_point_scale_are_out_of_the_default_range(wh: Path,
                                                                        tmp_path: Path) -> None:
    source = scores_csv(tmp_path / "my_res.csv", [1, 2, 3], [5.2, 0.6, 6.1])

    [summary] = import_scores(wh, "tanet", source, "tanet_ava")
    assert summary.invalid_reason == "2 values outside the declared range [0, 1]"

    [again] = import_scores(wh, "tanet", source, "tanet_ava", expected_range=(1, 10))
    assert (again.status, again.is_valid) == ("imported", False)
    assert again.invalid_reason == "1 value outside the declared range [1, 10]"


@pytest.mark.parametrize(("text", "expected"), [
    (",id,score\n0,1,0.5\n", "has no column 'preds' (columns: Unnamed: 0, id, score)"),
    (",image,preds\n0,1,0.5\n", "has no column 'id'"),
    (",id,preds\n0,1,0.5\n1,12a,0.4\n", "line 3 column 'id': id '12a' is not an integer"),
    (",id,preds\n0,1,0.5\n1,2.0,0.4\n", "line 3 column 'id': id '2.0' is not an integer"),
    (",id,preds\n0,1,0.5\n1,2,high\n", "line 3 column 'preds': 'high' is not a number"),
    (",id,preds\n0,1,0.5\n1,2,0.4,9\n", "cannot read it as CSV"),
    (",id,preds\n", "has a header but no data rows"),
    ("\n", "is empty"),
])
def test_tanet_refusals_name_the_line_and_column(wh: Path, tmp_path: Path, text: str,
                                                 expected: str) -> None:
    source = write(tmp_path / "my_res.csv", text)

    message = refused(wh, "tanet", source, "tanet_tad")

    assert expected in message and str(source) in message


def test_missing_file_is_refused(wh: Path, tmp_path: Path) -> None:
    assert refused(wh, "tanet", tmp_path / "nope.csv", "tanet_tad") == (
        f"tanet file {tmp_path / 'nope.csv'} does not exist")


# ---------------------------------------------------------------- Hugging Face


def test_hf_keeps_the_named_label_never_the_top_one(wh: Path, tmp_path: Path) -> None:
    # Image 2's best label is not_aesthetic: its score must be 0.2, not 0.8.
    records = [{"id": 1, "predictions": hf_predictions(0.9)},
               {"id": 2, "predictions": hf_predictions(0.2)},
               {"id": 3, "predictions": hf_predictions(0.6)}]
    source = write(tmp_path / "hf.json", json.dumps(records))

    [summary] = import_scores(wh, "hf", source, "hf_aesthetic", label="aesthetic")

    assert (summary.rows, summary.is_valid) == (3, True)
    assert rows_of(wh, "select image_id, score, components['not_aesthetic'] "
                       "from imported.scores__hf_aesthetic") == [
        (1, 0.9, 0.1), (2, 0.2, 0.8), (3, 0.6, 0.4)]
    row = scorer(wh, "hf_aesthetic")
    assert row["higher_is"] == "more likely 'aesthetic' (Hugging Face classifier)"
    assert "not the top-1 label" in row["description"]
    assert (row["expected_min"], row["expected_max"]) == (0.0, 1.0)


def test_hf_dict_keyed_by_path_or_id(wh: Path, tmp_path: Path) -> None:
    keyed = {"/data/all_data/2/17.jpg": hf_predictions(0.3), "18": hf_predictions(0.7),
             "19": {"predictions": hf_predictions(0.5)}}
    source = write(tmp_path / "hf.json", json.dumps(keyed))

    import_scores(wh, "hf", source, "hf_aesthetic", label="aesthetic")

    assert rows_of(wh, "select image_id, score from imported.scores__hf_aesthetic") == [
        (17, 0.3), (18, 0.7), (19, 0.5)]


def test_hf_json_lines_with_path_and_output(wh: Path, tmp_path: Path) -> None:
    lines = [json.dumps({"path": f"all_data/1/{i}.jpg", "output": hf_predictions(s)})
             for i, s in ((40, 0.1), (41, 0.4), (42, 0.35))]
    source = write(tmp_path / "hf.jsonl", "\n".join(lines) + "\n\n")

    [summary] = import_scores(wh, "hf", source, "hf_aesthetic", label="not_aesthetic")

    assert summary.rows == 3
    assert rows_of(wh, "select image_id, score from imported.scores__hf_aesthetic") == [
        (40, 0.9), (41, 0.6), (42, 0.65)]


def test_hf_list_without_ids_is_matched_to_the_image_list(wh: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "hf.json", json.dumps([hf_predictions(0.3), hf_predictions(0.8)]))
    listing = write(tmp_path / "list.txt", "a/7.jpg\na/8.jpg\n")

    import_scores(wh, "hf", source, "hf_aesthetic", label="aesthetic", image_list=listing)

    assert rows_of(wh, "select image_id, score from imported.scores__hf_aesthetic") == [
        (7, 0.3), (8, 0.8)]
    assert "list.txt" in scorer(wh, "hf_aesthetic")["description"]
    assert "without ids" in refused(wh, "hf", source, "hf_other", label="aesthetic")


def test_hf_refuses_without_a_label_listing_those_present(wh: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "hf.json", json.dumps({"1": hf_predictions(0.4)}))

    message = refused(wh, "hf", source, "hf_aesthetic")

    assert "--label" in message and "labels present: aesthetic, not_aesthetic" in message
    assert "no image has label 'nice'" in refused(wh, "hf", source, "hf_aesthetic", label="nice")


def test_hf_refuses_an_image_missing_the_label(wh: Path, tmp_path: Path) -> None:
    # The pipeline's default top_k cut the label off image 2.
    records = {"1": hf_predictions(0.4), "2": [{"label": "not_aesthetic", "score": 0.9}]}
    source = write(tmp_path / "hf.json", json.dumps(records))

    message = refused(wh, "hf", source, "hf_aesthetic", label="aesthetic")

    assert "(image 2) has no 'aesthetic' score" in message and "top_k=None" in message


def test_hf_refuses_an_image_list_for_output_that_names_its_images(wh: Path,
                                                                  tmp_path: Path) -> None:
    source = write(tmp_path / "hf.json", json.dumps({"1": hf_predictions(0.4)}))
    listing = write(tmp_path / "list.txt", "a/1.jpg\n")

    assert "names its images itself" in refused(wh, "hf", source, "hf_aesthetic",
                                                label="aesthetic", image_list=listing)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"id": 1, "output": []}\n{"id": 2, "output": [}\n', "line 2 is not valid JSON"),
    ("0.5", "must hold a JSON list, a dict keyed by image id or path"),
    (json.dumps([hf_predictions(0.5), {"id": 2, "output": hf_predictions(0.1)}]),
     "item 2 mixes images with and without ids"),
    ('{"id": 1, "output": []}\n[1, 2]\n', "line 2 is not a record"),
    (json.dumps([{"id": "x1", "predictions": hf_predictions(0.5)}]), "id 'x1' is not an integer"),
    (json.dumps(hf_predictions(0.5)), "the output for one image without its id"),
    (json.dumps({"1": [{"label": "aesthetic"}]}), "is not a {label, score} object"),
    (json.dumps({"1": [{"label": "a", "score": "high"}]}), "label 'a': 'high' is not a number"),
    (json.dumps({"1": [{"label": "a", "score": 0.1}, {"label": "a", "score": 0.2}]}),
     "label 'a' appears twice"),
])
def test_hf_refuses_malformed_output(wh: Path, tmp_path: Path, text: str, expected: str) -> None:
    source = write(tmp_path / "hf.json", text)

    assert expected in refused(wh, "hf", source, "hf_aesthetic", label="aesthetic")


# ---------------------------------------------------------------- generic CSV


def test_csv_with_one_score_column_is_one_scorer(wh: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "s.csv", "image,note,musiq\n1,ok,55.5\n2,fine,61.25\n3,,40\n")

    [summary] = import_scores(wh, "csv", source, "musiq", id_column="image")

    assert (summary.scorer_id, summary.rows, summary.is_valid) == ("musiq", 3, True)
    assert rows_of(wh, "select image_id, score from imported.scores__musiq") == [
        (1, 55.5), (2, 61.25), (3, 40.0)]
    assert scorer(wh, "musiq")["higher_is"].startswith("higher 'musiq'")


def test_csv_with_several_score_columns_is_one_scorer_each(wh: Path, tmp_path: Path) -> None:
    # pandas' index column is not a score.
    source = write(tmp_path / "s.csv", ",id,Quality Score,nima\n0,1,3.5,4.1\n1,2,2.5,5.2\n")

    summaries = import_scores(wh, "csv", source, "team", higher_is="better")

    assert [(s.scorer_id, s.rows) for s in summaries] == [
        ("team__quality_score", 2), ("team__nima", 2)]
    assert rows_of(wh, "select score from imported.scores__team__nima") == [(4.1,), (5.2,)]
    assert scorer(wh, "team__nima")["higher_is"] == "better"


def test_csv_named_score_columns(wh: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "s.csv", "id,a,b\n1,0.1,0.9\n2,0.2,0.8\n")

    [summary] = import_scores(wh, "csv", source, "only_b", score_columns=["b"])

    assert summary.scorer_id == "only_b"
    assert "has no column 'c'" in refused(wh, "csv", source, "team", score_columns=["c"])
    assert "has no column 'key'" in refused(wh, "csv", source, "team", id_column="key")
    # A bad cell in the second column: the first column is not written either.
    bad = write(tmp_path / "bad.csv", "id,a,b\n1,0.1,0.9\n2,0.2,x\n")
    assert "line 3 column 'b'" in refused(wh, "csv", bad, "team", score_columns=["a", "b"])
    assert rows_of(wh, "select count(*) from meta.scorers where scorer_id like 'team%'") == [(0,)]


def test_csv_without_numeric_columns_is_refused(wh: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "s.csv", "id,note\n1,ok\n")

    assert "no numeric score column besides 'id'" in refused(wh, "csv", source, "team")


# ---------------------------------------------------------------- findings


def test_constant_scores_are_kept_but_invalid(wh: Path, tmp_path: Path) -> None:
    source = scores_csv(tmp_path / "my_res.csv", [1, 2, 3, 4], [0.1] * 4)

    [summary] = import_scores(wh, "tanet", source, "tanet_ava")

    assert (summary.rows, summary.is_valid) == (4, False)
    assert summary.invalid_reason == "constant: every one of 4 values is 0.1"
    row = scorer(wh, "tanet_ava")
    assert (row["is_valid"], row["invalid_reason"]) == (False, summary.invalid_reason)
    assert rows_of(wh, "select count(*) from imported.scores__tanet_ava") == [(4,)]


def test_nan_inf_and_empty_scores_are_counted_and_stored_as_null(wh: Path,
                                                                 tmp_path: Path) -> None:
    source = scores_csv(tmp_path / "my_res.csv", range(1, 7), [0.1, "nan", 0.3, "", "inf", 0.6])

    [summary] = import_scores(wh, "tanet", source, "tanet_tad")

    assert summary.invalid_reason == "3 NaN/inf/missing values"
    assert rows_of(wh, "select list(score order by image_id) from imported.scores__tanet_tad") \
        == [([0.1, None, 0.3, None, None, 0.6],)]
    assert scorer(wh, "tanet_tad")["n_scored"] == 3


def test_unknown_and_duplicate_ids_are_counted_and_the_first_row_kept(wh: Path,
                                                                      tmp_path: Path) -> None:
    source = scores_csv(tmp_path / "my_res.csv", [1, 2, 2, 5000, INVALID_ID, 1],
                        [0.1, 0.2, 0.9, 0.4, 0.5, 0.8])

    [summary] = import_scores(wh, "tanet", source, "tanet_tad")

    assert (summary.rows, summary.unknown_ids) == (4, 2)
    assert summary.invalid_reason == (
        "2 ids are not images of the warehouse; 2 duplicate ids (the first row of each id "
        "was kept)")
    assert rows_of(wh, "select image_id, score, source_row from imported.scores__tanet_tad") == [
        (1, 0.1, 1), (2, 0.2, 2), (5000, 0.4, 4), (INVALID_ID, 0.5, 5)]


def test_every_id_is_unknown_before_the_warehouse_is_built(tmp_path: Path) -> None:
    source = scores_csv(tmp_path / "my_res.csv", [1, 2], [0.3, 0.6])

    [summary] = import_scores(tmp_path / "bare.duckdb", "tanet", source, "tanet_tad")

    assert (summary.unknown_ids, summary.is_valid) == (2, False)
    assert "2 ids are not images of the warehouse" in summary.invalid_reason
    assert "no int_images_checked" in summary.invalid_reason


def test_a_reimport_after_the_build_revalidates_the_ids(tmp_path: Path) -> None:
    source = scores_csv(tmp_path / "my_res.csv", [1, 2], [0.3, 0.6])
    bare = tmp_path / "bare.duckdb"
    import_scores(bare, "tanet", source, "tanet_tad")
    make_warehouse(bare, VALID_IDS)  # what `neurostock build` would have made

    [summary] = import_scores(bare, "tanet", source, "tanet_tad")

    assert (summary.status, summary.is_valid, summary.unknown_ids) == ("imported", True, 0)
    assert scorer(bare, "tanet_tad")["is_valid"] is True
    assert import_scores(bare, "tanet", source, "tanet_tad")[0].status == "unchanged"


@pytest.mark.parametrize(("values", "expected"), [
    ([0.5, 0.5, 0.5], ("constant: every one of 3 values is 0.5",)),
    ([7.0], ("constant: the only value is 7",)),
    # TANet-AVA's averaged softmax: one number plus float32 noise.
    (0.1 + np.random.default_rng(1).normal(0, 4e-9, 500),
     ("constant: every one of 500 values is 0.1 (they differ by at most",)),
    ([0.5] * 97 + [0.1, 0.2, 0.3], ("near-constant: 97.0% of values equal 0.5",)),
    (np.arange(100) * 1e-13, ("near-constant: std 2.9e-12 relative to mean 4.95e-12",)),
    ([0.1, np.nan, np.inf, 0.4], ("2 NaN/inf/missing values",)),
    ([np.nan, np.nan], ("2 NaN/inf/missing values", "no finite values")),
    ([], ("no values",)),
])
def test_validate_scores_reasons(values, expected: tuple[str, ...]) -> None:
    verdict = validate_scores(np.asarray(values, dtype=float))

    assert not verdict.is_valid
    assert len(verdict.reasons) == len(expected)
    assert all(r.startswith(e) for r, e in zip(verdict.reasons, expected, strict=True))
    assert verdict.invalid_reason == "; ".join(verdict.reasons)


def test_validate_scores_accepts_ordinary_scores_and_one_sided_ranges() -> None:
    values = np.linspace(0, 1, 50)

    assert validate_scores(values, (0, 1)) == validate_scores(values)
    assert validate_scores(values).is_valid and validate_scores(values).invalid_reason is None
    assert validate_scores(values, (0.5, None)).reasons == (
        "25 values outside the declared range [0.5, inf]",)


# ---------------------------------------------------------------- re-imports


def test_reimporting_the_same_file_is_a_no_op(wh: Path, tmp_path: Path) -> None:
    res, listing = pia_files(tmp_path, [1, 2, 3])
    import_scores(wh, "pia", res, "pia_team", image_list=listing)
    before = rows_of(wh, "select (select max(imported_at) from imported.scores__pia_team), "
                         "created_at from meta.scorers")

    [summary] = import_scores(wh, "pia", res, "pia_team", image_list=listing)

    assert (summary.status, summary.rows, summary.is_valid) == ("unchanged", 3, True)
    assert rows_of(wh, "select (select max(imported_at) from imported.scores__pia_team), "
                       "created_at from meta.scorers") == before


def test_a_changed_file_or_image_list_replaces_the_scorer(wh: Path, tmp_path: Path) -> None:
    res, listing = pia_files(tmp_path, [1, 2, 3])
    import_scores(wh, "pia", res, "pia_team", image_list=listing)

    write(listing, "x/4.jpg\nx/5.jpg\nx/6.jpg\n")
    [relisted] = import_scores(wh, "pia", res, "pia_team", image_list=listing)
    assert relisted.status == "imported"
    assert rows_of(wh, "select list(image_id) from imported.scores__pia_team") == [([4, 5, 6],)]

    res, listing = pia_files(tmp_path, [7, 8, 9, 10], scores=[0.3] * 4)
    [replaced] = import_scores(wh, "pia", res, "pia_team", image_list=listing)
    assert (replaced.status, replaced.rows, replaced.is_valid) == ("imported", 4, False)
    assert rows_of(wh, "select list(image_id) from imported.scores__pia_team") == [
        ([7, 8, 9, 10],)]
    row = scorer(wh, "pia_team")
    assert (row["is_valid"], row["n_scored"]) == (False, 4)
    assert row["invalid_reason"] == "constant: every one of 4 values is 0.3"
    assert rows_of(wh, "select count(*) from meta.scorers") == [(1,)]


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"fmt": "nima"}, "score format 'nima' is not one of pia, tanet, hf, csv"),
    ({"scorer_id": "Tanet"}, "scorer id 'Tanet' must be lowercase"),
    ({"scorer_id": "t" * 49}, "at most 48"),
    ({"label": "aesthetic"}, "--label is for --format hf"),
    ({"image_list": "list.txt"}, "--image-list is for --format pia or hf"),
    ({"score_columns": ["preds"]}, "--id-column and --score-columns are for --format csv"),
    ({"expected_range": (1, 0)}, "min must be below max"),
    ({"expected_range": (0, float("nan"))}, "is not a finite number"),
    ({"expected_range": 1}, "must be (min, max)"),
    ({"higher_is": " "}, "--higher-is must say"),
])
def test_bad_arguments_are_refused(wh: Path, tmp_path: Path, kwargs: dict,
                                   expected: str) -> None:
    source = scores_csv(tmp_path / "my_res.csv", [1, 2], [0.3, 0.6])
    arguments = {"fmt": "tanet", "path": source, "scorer_id": "tanet_tad", **kwargs}

    assert expected in refused(wh, **arguments)


def test_a_computed_scorer_is_not_overwritten(wh: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(wh))
    upsert_scorer(con, ScorerInfo(
        scorer_id="nsfw", kind="computed", source_file=None, source_sha256=None, version=None,
        higher_is="more likely NSFW", expected_min=0.0, expected_max=1.0, is_valid=True,
        invalid_reason=None, n_scored=0, description=None))
    con.close()
    source = scores_csv(tmp_path / "my_res.csv", [1, 2], [0.3, 0.6])

    assert "is a computed scorer" in refused(wh, "tanet", source, "nsfw")


def test_an_open_connection_can_be_passed(wh: Path, tmp_path: Path) -> None:
    source = scores_csv(tmp_path / "my_res.csv", [1, 2], [0.3, 0.6])
    con = duckdb.connect(str(wh))
    try:
        [summary] = import_scores(con, "tanet", source, "tanet_tad")
        assert con.execute("select count(*) from imported.scores__tanet_tad").fetchone() == (2,)
    finally:
        con.close()
    assert summary.status == "imported"


# ---------------------------------------------------------------- the team's real files


@pytest.fixture
def seed() -> Path:
    if not SEED.parent.parent.is_dir():
        pytest.skip("../shared (the team's files) is not on this machine")
    return SEED


@pytest.fixture
def full_set_wh(tmp_path: Path, seed: Path) -> Path:
    """A warehouse whose valid images are the labelled set PIA and TANet ran on."""
    names = (seed / "image_list.txt").read_text().split()
    return make_warehouse(tmp_path / "full_set.duckdb", [int(Path(n).stem) for n in names])


def test_team_pia_output_matches_its_image_list(full_set_wh: Path, seed: Path) -> None:
    [summary] = import_scores(full_set_wh, "pia", seed / "pia_full_set_res.json", "pia_full_set",
                              image_list=seed / "image_list.txt")

    assert (summary.rows, summary.is_valid, summary.unknown_ids) == (2256, True, 0)
    # Line 1 of image_list.txt is all_data/1/1.jpg; res.json's first score is 0.7028...
    assert rows_of(full_set_wh, "select image_id, round(score, 4), cardinality(components) "
                                "from imported.scores__pia_full_set where source_row = 1") == [
        (1, 0.7028, 20)]


def test_team_tanet_tad66k_is_valid(full_set_wh: Path, seed: Path) -> None:
    [summary] = import_scores(full_set_wh, "tanet", seed / "tanet_tad66k_my_res.csv",
                              "tanet_tad66k")

    assert (summary.rows, summary.is_valid, summary.invalid_reason) == (2256, True, None)


def test_team_tanet_ava_is_flagged_constant(full_set_wh: Path, seed: Path) -> None:
    [summary] = import_scores(full_set_wh, "tanet", seed / "tanet_ava_my_res.csv", "tanet_ava")

    assert (summary.rows, summary.is_valid, summary.unknown_ids) == (2256, False, 0)
    assert summary.invalid_reason.startswith("constant: every one of 2256 values is 0.1 ")
    assert scorer(full_set_wh, "tanet_ava")["invalid_reason"] == summary.invalid_reason
