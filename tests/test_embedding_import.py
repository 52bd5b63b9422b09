"""embed.embedding_import: the team's CSV embeddings into `imported.*`, on real DuckDB files."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from neurostock.core.errors import NeurostockError
from neurostock.embed.embedding_import import import_embeddings
from neurostock.embed.registry import EmbedderInfo, upsert

REPO = Path(__file__).resolve().parents[1]
TEAM_KEYWORDS = REPO.parent / "shared" / "data" / "seed-research" / (
    "open_clip_ViT-G-14_key_word_embs.csv")
VALID_IDS = range(1, 11)
INVALID_ID = 11


@pytest.fixture
def wh(tmp_path: Path) -> Path:
    """A warehouse holding only what the importer reads: dbt's int_images_checked."""
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table int_images_checked (image_id bigint, is_valid boolean)")
    con.executemany("insert into int_images_checked values (?, ?)",
                    [(i, True) for i in VALID_IDS] + [(INVALID_ID, False)])
    con.close()
    return path


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Unnormalised vectors of float16-like precision whose CSV text parses back exactly."""
    return np.round(np.random.default_rng(seed).normal(size=(n, dim)) * 3, 4)


def id_file(path: Path, ids: list[int], values: np.ndarray, prefix: str = "emb") -> Path:
    header = ["id"] + [f"{prefix}{i}" for i in range(values.shape[1])]
    return write_csv(path, header, [[i, *row.tolist()] for i, row in zip(ids, values, strict=True)])


def rows_of(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def has_table(warehouse: Path, schema: str, name: str) -> bool:
    return bool(rows_of(warehouse, f"select count(*) from duckdb_tables() where "
                                   f"schema_name = '{schema}' and table_name = '{name}'")[0][0])


def refused(warehouse: Path, *args, **kwargs) -> str:
    """Run an import that must fail; return its one-line message after checking nothing changed."""
    before = rows_of(warehouse, "select schema_name, table_name, estimated_size "
                                "from duckdb_tables() order by all")
    with pytest.raises(NeurostockError) as info:
        import_embeddings(warehouse, *args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    after = rows_of(warehouse, "select schema_name, table_name, estimated_size "
                               "from duckdb_tables() order by all")
    assert after == before
    return message


def test_image_file_is_normalised_into_a_fixed_size_float_array(wh: Path, tmp_path: Path) -> None:
    values = vectors(3, 8)
    source = id_file(tmp_path / "img.csv", [3, 1, 2], values)

    [summary] = import_embeddings(wh, source, "team_clip", "image", dim=8)

    assert (summary.kind, summary.table, summary.rows, summary.dim) == (
        "image", "imported.emb_image__team_clip", 3, 8)
    assert (summary.unknown_ids, summary.status) == (0, "imported")
    types = dict(rows_of(wh, "select column_name, data_type from duckdb_columns() "
                             "where table_name = 'emb_image__team_clip'"))
    assert types == {"image_id": "BIGINT", "embedder_id": "VARCHAR", "embedding": "FLOAT[8]",
                     "source_norm": "DOUBLE", "source_file": "VARCHAR",
                     "source_sha256": "VARCHAR", "imported_at": "TIMESTAMP WITH TIME ZONE"}
    stored = rows_of(wh, "select image_id, embedding, source_norm, source_file, embedder_id "
                         "from imported.emb_image__team_clip")
    assert [r[0] for r in stored] == [3, 1, 2]
    for row, vector in zip(stored, values, strict=True):
        assert np.linalg.norm(row[1]) == pytest.approx(1.0, abs=1e-6)
        assert row[2] == pytest.approx(np.linalg.norm(vector))
        np.testing.assert_allclose(row[1], vector / np.linalg.norm(vector), rtol=1e-6, atol=1e-7)
        assert row[3] == str(source.resolve())
        assert row[4] == "team_clip"


def test_prompt_file_with_underscored_columns_takes_dim_from_file(wh: Path,
                                                                  tmp_path: Path) -> None:
    source = id_file(tmp_path / "txt.csv", [1, 2], vectors(2, 5), prefix="emb_")

    [summary] = import_embeddings(wh, source, "team_clip", "prompt")

    assert (summary.table, summary.rows, summary.dim) == ("imported.emb_prompt__team_clip", 2, 5)
    assert rows_of(wh, "select list(image_id order by image_id) "
                       "from imported.emb_prompt__team_clip") == [([1, 2],)]


def test_pandas_index_before_id_is_ignored(wh: Path, tmp_path: Path) -> None:
    frame = pd.DataFrame(vectors(3, 4), columns=[f"emb_{i}" for i in range(4)])
    frame.insert(0, "id", [7, 8, 9])
    source = tmp_path / "indexed.csv"
    frame.to_csv(source)  # index=True: header ",id,emb_0,..."
    assert source.read_text().startswith(",id,emb_0")

    import_embeddings(wh, source, "team_clip", "image", dim=4)

    assert rows_of(wh, "select list(image_id) from imported.emb_image__team_clip") == [([7, 8, 9],)]


@pytest.mark.parametrize("repeated_names", [True, False])
def test_both_splits_image_then_prompt_columns(wh: Path, tmp_path: Path,
                                               repeated_names: bool) -> None:
    img, txt = vectors(4, 6, seed=1), vectors(4, 6, seed=2)
    names = ([f"emb_{i}" for i in range(6)] * 2 if repeated_names
             else [f"emb_{i}" for i in range(12)])
    # The team's pd.concat([img, txt], axis=1): image columns first.
    frame = pd.concat([pd.DataFrame(img), pd.DataFrame(txt)], axis=1)
    frame.columns = names
    frame.insert(0, "id", [1, 2, 3, 4])
    source = tmp_path / "both.csv"
    frame.to_csv(source, index=False)

    summaries = import_embeddings(wh, source, "team_clip", "both", dim=6)

    assert [(s.kind, s.rows, s.dim) for s in summaries] == [("image", 4, 6), ("prompt", 4, 6)]
    for kind, expected in (("image", img[0]), ("prompt", txt[0])):
        [(stored, norm)] = rows_of(wh, f"select embedding, source_norm from "
                                       f"imported.emb_{kind}__team_clip where image_id = 1")
        assert norm == pytest.approx(np.linalg.norm(expected))
        np.testing.assert_allclose(stored, expected / np.linalg.norm(expected), rtol=1e-6,
                                   atol=1e-7)


def test_keyword_file_with_empty_first_header(wh: Path, tmp_path: Path) -> None:
    values = vectors(3, 4)
    keywords = ["beautiful", "Logical fallacy", "written, text"]
    header = [""] + [f"emb_{i}" for i in range(4)]
    source = write_csv(tmp_path / "kw.csv", header,
                       [[k, *v.tolist()] for k, v in zip(keywords, values, strict=True)])

    [summary] = import_embeddings(wh, source, "team_clip", "keyword")

    assert (summary.table, summary.rows, summary.unknown_ids) == (
        "imported.emb_keyword__team_clip", 3, 0)
    stored = rows_of(wh, "select keyword, embedding from imported.emb_keyword__team_clip")
    assert [r[0] for r in stored] == keywords
    assert all(np.linalg.norm(r[1]) == pytest.approx(1.0, abs=1e-6) for r in stored)


def test_unknown_ids_are_counted_and_kept(wh: Path, tmp_path: Path) -> None:
    source = id_file(tmp_path / "img.csv", [1, 2, 99, INVALID_ID], vectors(4, 3))

    [summary] = import_embeddings(wh, source, "team_clip", "image")

    assert (summary.rows, summary.unknown_ids) == (4, 2)
    assert rows_of(wh, "select count(*) from imported.emb_image__team_clip") == [(4,)]


def test_every_id_is_unknown_before_dbt_has_built(tmp_path: Path) -> None:
    source = id_file(tmp_path / "img.csv", [1, 2], vectors(2, 3))

    [summary] = import_embeddings(tmp_path / "bare.duckdb", source, "team_clip", "image")

    assert (summary.rows, summary.unknown_ids) == (2, 2)


def test_reimporting_the_same_file_changes_nothing(wh: Path, tmp_path: Path) -> None:
    source = id_file(tmp_path / "img.csv", [1, 2], vectors(2, 3))
    import_embeddings(wh, source, "team_clip", "image", model="ViT-B-32")
    first = rows_of(wh, "select max(imported_at) from imported.emb_image__team_clip")
    registered = rows_of(wh, "select registered_at, model from meta.embedding_models")

    [summary] = import_embeddings(wh, source, "team_clip", "image")

    assert (summary.status, summary.rows, summary.dim) == ("unchanged", 2, 3)
    assert rows_of(wh, "select max(imported_at) from imported.emb_image__team_clip") == first
    assert rows_of(wh, "select registered_at, model from meta.embedding_models") == registered


def test_a_changed_file_replaces_the_table(wh: Path, tmp_path: Path) -> None:
    source = id_file(tmp_path / "img.csv", [1, 2], vectors(2, 3))
    import_embeddings(wh, source, "team_clip", "image")
    old_fingerprint = rows_of(wh, "select fingerprint from meta.embedding_models")

    id_file(source, [4, 5, 6], vectors(3, 3, seed=9))
    [summary] = import_embeddings(wh, source, "team_clip", "image")

    assert (summary.status, summary.rows) == ("imported", 3)
    assert rows_of(wh, "select list(image_id) from imported.emb_image__team_clip") == [([4, 5, 6],)]
    assert rows_of(wh, "select fingerprint from meta.embedding_models") != old_fingerprint


def test_a_bad_replacement_leaves_the_old_table(wh: Path, tmp_path: Path) -> None:
    source = id_file(tmp_path / "img.csv", [1, 2], vectors(2, 3))
    import_embeddings(wh, source, "team_clip", "image")

    id_file(source, [4, 4], vectors(2, 3, seed=9))
    assert "duplicate ids: 4" in refused(wh, source, "team_clip", "image")

    assert rows_of(wh, "select list(image_id) from imported.emb_image__team_clip") == [([1, 2],)]


def test_registry_row_marks_the_import_and_merges_kinds(wh: Path, tmp_path: Path) -> None:
    import_embeddings(wh, id_file(tmp_path / "img.csv", [1], vectors(1, 4)), "team_clip",
                      "image", model="ViT-B-32 (team notebook)")
    keywords = write_csv(tmp_path / "kw.csv", ["keyword", "emb0", "emb1", "emb2", "emb3"],
                         [["cat", 1, 2, 3, 4]])
    con = duckdb.connect(str(wh))
    try:  # an open connection is accepted as well as a path
        import_embeddings(con, keywords, "team_clip", "keyword")
    finally:
        con.close()

    [row] = rows_of(wh, "select library, model, dim, kinds, is_imported, is_random_init "
                        "from meta.embedding_models where embedder_id = 'team_clip'")
    assert row == ("imported", "ViT-B-32 (team notebook)", 4, ["image", "keyword"], True, False)


@pytest.mark.skipif(not TEAM_KEYWORDS.parent.parent.parent.is_dir(),
                    reason="../shared is not present next to the repository")
def test_the_teams_keyword_file(wh: Path) -> None:
    if not TEAM_KEYWORDS.is_file():
        pytest.skip(f"{TEAM_KEYWORDS} is not present")

    [summary] = import_embeddings(wh, TEAM_KEYWORDS, "vit_g_14_team", "keyword", dim=1280)

    # The file has 103 lines: a header and 102 keyword rows (pandas reads 102 too).
    data_lines = len(TEAM_KEYWORDS.read_text().splitlines()) - 1
    assert (summary.rows, summary.dim, summary.status) == (data_lines, 1280, "imported")
    assert summary.rows == 102
    # The glued keyword is imported as the team wrote it; the keywords seed's test flags it.
    assert rows_of(wh, "select count(*) from imported.emb_keyword__vit_g_14_team "
                       "where keyword = 'heavenlyhorrible'") == [(1,)]


# ---- refusals: one line naming the thing at fault, and nothing written ----


@pytest.mark.parametrize(("header", "named"), [
    (["id", "emb0", "emb2"], "emb1 is missing"),
    (["id", "emb_0", "emb_1", "emb_1"], "'emb_1' is a duplicate"),
    (["id", "emb0", "emb1", "rating"], "'rating' is not an embedding column"),
    (["id", "emb0", "emb_1"], "'emb_1' mixes"),
    (["image", "emb0", "emb1"], "first column is 'image'"),
    (["", "emb0", "emb1"], "first column is ''"),
    (["id"], "no embedding columns"),
])
def test_bad_headers_are_refused(wh: Path, tmp_path: Path, header: list[str], named: str) -> None:
    source = write_csv(tmp_path / "bad.csv", header, [[1] + [0.5] * (len(header) - 1)])

    message = refused(wh, source, "team_clip", "image")

    assert named in message and "bad.csv" in message


def test_declared_dim_must_match(wh: Path, tmp_path: Path) -> None:
    source = id_file(tmp_path / "img.csv", [1], vectors(1, 6))

    message = refused(wh, source, "team_clip", "image", dim=512)

    assert "img.csv" in message and "declared dim 512" in message and "6 embedding" in message
    odd = id_file(tmp_path / "odd.csv", [1], vectors(1, 5))
    assert "odd.csv" in (message := refused(wh, odd, "team_clip", "both"))
    assert "an even number, but it has 5 embedding columns" in message


@pytest.mark.parametrize(("rows", "named"), [
    ([[1, 1, 2], ["7a", 1, 2]], "data row 2 (line 3) id '7a' is not an integer"),
    ([[1, 1, 2], ["2.0", 1, 2]], "id '2.0' is not an integer"),
    ([[1, 1, 2], [2, 1, 2], [1, 3, 4], [2, 5, 6]], "2 duplicate ids: 1, 2"),
    ([[1, 1, 2], [5, "nan", 2]], "id '5' has an empty, NaN or infinite value"),
    ([[1, 1, 2], [6, 1, "inf"]], "id '6' has an empty, NaN or infinite value"),
    ([[1, 1, 2], [8, "", 2]], "id '8' has an empty, NaN or infinite value"),
    ([[1, 1, 2], [9, 0, 0]], "id '9' has an all-zero vector"),
    ([[1, 1, 2], [3, "abc", 2]], "line 3: column 'emb0' value 'abc' is not a number"),
    ([[1, 1, 2], [3, 1]], "line 3: expected 3 columns, found 2"),
])
def test_bad_rows_are_refused(wh: Path, tmp_path: Path, rows: list[list[object]],
                              named: str) -> None:
    source = write_csv(tmp_path / "rows.csv", ["id", "emb0", "emb1"], rows)

    message = refused(wh, source, "team_clip", "image")

    assert named in message and "rows.csv" in message


def test_a_broken_quote_names_the_line(wh: Path, tmp_path: Path) -> None:
    source = tmp_path / "quote.csv"
    source.write_text('id,emb0,emb1\n1,1,2\n2,"3,4\n')

    message = refused(wh, source, "team_clip", "image")

    assert "quote.csv line 3: cannot read it as CSV: Value with unterminated quote" in message


def test_duplicate_keywords_are_named(wh: Path, tmp_path: Path) -> None:
    rows = [[k, 1, 2] for k in ["a", "b", "a", "c", "b"]]
    source = write_csv(tmp_path / "kw.csv", ["", "emb_0", "emb_1"], rows)

    assert "2 duplicate keywords: 'a', 'b'" in refused(wh, source, "team_clip", "keyword")


def test_a_both_file_names_the_half_at_fault(wh: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "both.csv", ["id", "emb0", "emb1", "emb2", "emb3"],
                       [[1, 1, 2, 0, 0]])

    assert "id '1' has an all-zero prompt vector" in refused(wh, source, "team_clip", "both")


def test_empty_and_missing_files_are_refused(wh: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("id,emb0,emb1\n")

    assert "empty.csv is empty" in refused(wh, empty, "team_clip", "image")
    assert "header.csv has a header but no data rows" in refused(wh, header_only, "team_clip",
                                                                 "image")
    assert "gone.csv does not exist" in refused(wh, tmp_path / "gone.csv", "team_clip", "image")


def test_bad_arguments_are_refused(wh: Path, tmp_path: Path) -> None:
    source = id_file(tmp_path / "img.csv", [1], vectors(1, 3))

    assert "'Team-Clip'" in refused(wh, source, "Team-Clip", "image")
    assert "kind 'video'" in refused(wh, source, "team_clip", "video")
    assert "dim 0" in refused(wh, source, "team_clip", "image", dim=0)


def _register(warehouse: Path, embedder_id: str, *, imported: bool, dim: int) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        upsert(con, EmbedderInfo(
            embedder_id=embedder_id, library="open_clip" if not imported else "imported",
            library_version=None, model="ViT-B-32", pretrained=None, weights_path=None,
            weights_sha256=None, quick_gelu=None, preprocessing=None, dim=dim, kinds=("image",),
            is_random_init=False, is_imported=imported, fingerprint="f"))
    finally:
        con.close()


def test_a_configured_embedders_id_is_refused(wh: Path, tmp_path: Path) -> None:
    _register(wh, "clip_b32", imported=False, dim=3)
    source = id_file(tmp_path / "img.csv", [1], vectors(1, 3))

    message = refused(wh, source, "clip_b32", "image")

    assert "clip_b32 is a configured embedder (open_clip ViT-B-32)" in message


def test_another_dim_under_the_same_id_is_refused(wh: Path, tmp_path: Path) -> None:
    _register(wh, "team_clip", imported=True, dim=512)
    source = id_file(tmp_path / "img.csv", [1], vectors(1, 3))

    message = refused(wh, source, "team_clip", "image")

    assert "team_clip is registered with dim 512, the file has dim 3" in message
