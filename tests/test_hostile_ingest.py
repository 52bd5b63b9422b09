"""Bad bytes are quarantined, never fatal: text in the source that is not valid UTF-8
(SQLite stores any bytes as TEXT) is caught at ingest, kept with its bad bytes escaped,
and its row shown in `quarantine` with the reason; the build finishes, nothing is lost,
and the source file is never changed."""

from __future__ import annotations

import json
import sqlite3

import duckdb
import pytest

from neurostock.ingest.sqlite_copy import ingest
from tests.conftest import built_sample, query, run_cli, sha256_of
from tests.source_builder import image_row, make_source

pytestmark = pytest.mark.data_tests

BAD_PROMPT = bytes.fromhex("62616420fffe")  # b"bad \xff\xfe"
BAD_NAME = b"name\xff.jpg"
BAD_PATH = b"/data/core/x\xc3(.jpg"  # a broken two-byte sequence
MIXED_PROMPT = "café ".encode() + b"\xff"  # valid characters around a bad byte
BAD_DATE = b"2022-10-23\xfe"
BAD_USER = b"annotator \xff"


def _set_bytes(con: sqlite3.Connection, table: str, column: str, rowid: int,
               value: bytes) -> None:
    # Stored with storage class TEXT, as a program that does not check its input would.
    con.execute(f"update {table} set {column} = cast(? as text) where rowid = ?",
                [value, rowid])


def _poison(db_path):
    """Invalid UTF-8 in a rated image's prompt, another's name and path, an unrated
    image's prompt, a rating's date and a user's name. Returns the rowids and the
    source's table counts and sha256 after the edit."""
    con = sqlite3.connect(db_path)
    try:
        rated = [r[0] for r in con.execute(
            "select distinct m.id from metadata m join img_info i on i.id = m.id "
            "where m.rating in (1, 2, 3, 4) order by m.id")]
        unrated = con.execute("select min(id) from img_info where id not in "
                              "(select id from metadata where id is not null)").fetchone()[0]
        prompt_id, path_id = rated[0], rated[1]
        rating_rowid = con.execute("select min(rowid) from metadata where id = ?",
                                   [rated[2]]).fetchone()[0]
        with con:
            _set_bytes(con, "img_info", "img_generation_promt", prompt_id, BAD_PROMPT)
            _set_bytes(con, "img_info", "img_name", path_id, BAD_NAME)
            _set_bytes(con, "img_info", "img_path", path_id, BAD_PATH)
            _set_bytes(con, "img_info", "img_generation_promt", unrated, MIXED_PROMPT)
            _set_bytes(con, "metadata", "rating_date", rating_rowid, BAD_DATE)
            _set_bytes(con, "user", "name", 1, BAD_USER)
        assert con.execute("select typeof(img_generation_promt) from img_info where id = ?",
                           [prompt_id]).fetchone()[0] == "text"
        tables = [r[0] for r in con.execute(
            "select name from sqlite_master where type = 'table'")]
        counts = {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()
    return {"prompt": prompt_id, "path": path_id, "unrated": unrated,
            "rating": rating_rowid, "counts": counts, "sha256": sha256_of(db_path)}


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    """A sample source with invalid UTF-8 in six places, ingested and built through the
    CLI (built_sample asserts that both succeed)."""
    root = tmp_path_factory.mktemp("hostile_ingest")
    warehouse, _config, summary, facts = built_sample(root, "", rows=200, seed=23,
                                                      prepare=_poison)
    return warehouse, summary.db_path, facts


def _quarantine(warehouse) -> dict[str, tuple[str, dict]]:
    return {qid: (reason, json.loads(values)) for qid, reason, values in query(
        warehouse, "select quarantine_id, reason, source_values::varchar from quarantine")}


@pytest.mark.slow
def test_the_build_finishes_and_quarantines_each_bad_row(poisoned):
    warehouse, _source, facts = poisoned
    rows = _quarantine(warehouse)

    reason, values = rows[f"img_info:{facts['prompt']}"]
    assert reason.startswith("not valid UTF-8, kept with its bad bytes escaped: "
                             "img_generation_promt")
    assert values["img_generation_promt"] == "bad \\xff\\xfe"

    reason, values = rows[f"img_info:{facts['path']}"]
    assert "not valid UTF-8" in reason and "img_path, img_name" in reason
    assert values["img_name"] == "name\\xff.jpg"
    assert values["img_path"] == "/data/core/x\\xc3(.jpg"

    reason, values = rows[f"img_info:{facts['unrated']}"]
    assert "img_generation_promt" in reason
    assert values["img_generation_promt"] == "café \\xff"

    reason, values = rows[f"metadata:{facts['rating']}"]
    assert reason.startswith("not valid UTF-8, kept with its bad bytes escaped: rating_date")
    assert values["rating_date"] == "2022-10-23\\xfe"

    # None of them reaches a mart.
    bad_ids = [facts["prompt"], facts["path"], facts["unrated"]]
    for mart in ("full_set", "pool", "big_set", "ann"):
        assert query(warehouse, f"select count(*) from {mart} where "
                                "list_contains(?, image_id)", [bad_ids]) == [(0,)], mart
    assert query(warehouse, "select count(*) from submission_prompt_texts where "
                            "list_contains(?, prompt_raw)",
                 [["bad \\xff\\xfe", "café \\xff"]]) == [(0,)]


@pytest.mark.slow
def test_nothing_is_lost_and_the_source_is_untouched(poisoned):
    warehouse, source, facts = poisoned
    assert sha256_of(source) == facts["sha256"]
    raw = {t: query(warehouse, f'select count(*) from raw."{t}"')[0][0]
           for t in facts["counts"]}
    assert raw == facts["counts"]
    recorded = dict(query(warehouse, "select table_name, invalid_utf8_rows from "
                                     "meta.load_tables"))
    assert recorded == {**{t: 0 for t in facts["counts"]},
                        "img_info": 3, "metadata": 1, "user": 1}
    # Raw keeps every row, the bad values escaped (the user table is not modelled).
    assert query(warehouse, "select name from raw.user where _source_rowid = 1") == [
        ("annotator \\xff",)]
    # raw = usable + quarantined, per table (the dbt test assert_raw_reconciles).
    for table, checked in (("img_info", "int_images_checked"),
                           ("metadata", "int_ratings_checked")):
        usable = query(warehouse, f"select count(*) from {checked} where is_valid")[0][0]
        quarantined = query(warehouse, "select count(*) from quarantine where "
                                       "source_table = ?", [table])[0][0]
        assert usable + quarantined == facts["counts"][table]


@pytest.mark.slow
def test_sql_reads_the_bad_rows(poisoned, capsys):
    """Once an INTERNAL error with a traceback: `sql` over raw.img_info now prints."""
    warehouse, _source, facts = poisoned
    rc = run_cli(warehouse, "none", "sql", "select id, img_generation_promt from "
                 f"raw.img_info where id = '{facts['prompt']}'")
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "bad \\xff\\xfe" in out.out


def test_ingest_escapes_and_records_invalid_utf8(tmp_path):
    """Ingest alone (no dbt): each bad value is written escaped, the row is named in
    meta.load_invalid_text with its columns, the counts agree, the source is unchanged;
    an unchanged file is not copied again."""
    source = make_source(tmp_path / "core.download.db",
                         [image_row(i) for i in range(1, 5)],
                         [(3, "2022-10-23T14:11:21+03:00", 1, i) for i in range(1, 5)])
    con = sqlite3.connect(source)
    with con:
        _set_bytes(con, "img_info", "img_generation_promt", 2, BAD_PROMPT)
        _set_bytes(con, "img_info", "img_name", 2, BAD_NAME)
        _set_bytes(con, "metadata", "annotator_id", 3, b"1\xff")
    con.close()
    before = sha256_of(source)
    warehouse = tmp_path / "wh" / "warehouse.duckdb"

    result = ingest(source, warehouse)

    assert result.table_rows["img_info"] == 4 and result.table_rows["metadata"] == 4
    assert query(warehouse, "select img_generation_promt, img_name from raw.img_info "
                            "where _source_rowid = 2") == [("bad \\xff\\xfe", "name\\xff.jpg")]
    assert query(warehouse, "select count(*) from raw.img_info where "
                            "img_generation_promt like '6_A_picture%'") == [(3,)]
    assert query(warehouse, "select table_name, source_rowid, column_names from "
                            "meta.load_invalid_text order by 1, 2") == [
        ("img_info", 2, ["img_name", "img_generation_promt"]),
        ("metadata", 3, ["annotator_id"])]
    # The raw tables have the source's columns and _source_rowid, nothing else.
    assert [r[0] for r in query(warehouse, "select column_name from duckdb_columns() where "
                                           "schema_name = 'raw' and table_name = 'metadata' "
                                           "order by column_index")] == [
        "_source_rowid", "rating", "rating_date", "annotator_id", "id"]
    assert sha256_of(source) == before
    assert ingest(source, warehouse).status == "unchanged"
    # A load made before the check (no invalid_utf8_rows) may hold bad bytes in raw.*:
    # the same file is copied again.
    con = duckdb.connect(str(warehouse))
    con.execute("alter table meta.load_tables drop column invalid_utf8_rows")
    con.close()
    again = ingest(source, warehouse)
    assert again.status == "loaded" and again.load_id == result.load_id + 1
    assert query(warehouse, "select count(*) from meta.load_invalid_text") == [(2,)]
    assert sha256_of(source) == before
