"""neurostock ingest: an unchanged copy of every table, atomic, refusing bad files clearly."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from neurostock.cli import main
from neurostock.core.errors import NeurostockError
from neurostock.ingest.sqlite_copy import ingest
from tests.conftest import query, sha256_of
from tests.source_builder import METADATA_DDL, image_row, make_source


def test_copies_every_table_row_and_column_as_text(tiny_source, warehouse):
    result = ingest(tiny_source, warehouse)

    assert result.status == "loaded"
    assert result.table_rows == {"img_info": 5, "metadata": 6, "sqlite_sequence": 2, "user": 2}
    columns = query(
        warehouse,
        "select column_name, data_type from duckdb_columns() "
        "where schema_name = 'raw' and table_name = 'metadata' order by column_index",
    )
    assert columns == [
        ("_source_rowid", "BIGINT"),
        ("rating", "VARCHAR"),
        ("rating_date", "VARCHAR"),
        ("annotator_id", "VARCHAR"),
        ("id", "VARCHAR"),
    ]
    # The wrong-kind value and the offset survive verbatim.
    rows = query(warehouse, "select rating, rating_date from raw.metadata order by _source_rowid")
    assert rows[0] == ("3", "2022-10-23T14:11:21.750878+03:00")
    assert rows[-1][0] == "x"


def test_records_a_manifest_with_hash_and_counts(tiny_source, warehouse):
    result = ingest(tiny_source, warehouse)

    load = query(warehouse, "select load_id, source_path, source_bytes, source_sha256, "
                            "started_at <= finished_at from meta.loads")
    assert load == [(result.load_id, str(tiny_source.resolve()), tiny_source.stat().st_size,
                     sha256_of(tiny_source), True)]
    counts = dict(query(warehouse, "select table_name, source_rows from meta.load_tables"))
    assert counts["img_info"] == 5 and counts["metadata"] == 6


def test_unchanged_file_is_not_copied_again(tiny_source, warehouse, capsys):
    first = ingest(tiny_source, warehouse)
    assert main(["--warehouse", str(warehouse), "ingest", str(tiny_source)]) == 0

    assert "unchanged" in capsys.readouterr().out
    assert query(warehouse, "select count(*) from meta.loads") == [(1,)]
    assert ingest(tiny_source, warehouse).load_id == first.load_id


def test_changed_file_replaces_raw(tiny_source, warehouse):
    ingest(tiny_source, warehouse)
    con = sqlite3.connect(tiny_source)
    with con:
        con.execute("insert into img_info values (?, ?, ?, ?, ?, ?, ?)", image_row(6))
    con.close()

    result = ingest(tiny_source, warehouse)

    assert result.status == "loaded" and result.load_id == 2
    assert query(warehouse, "select count(*) from raw.img_info") == [(6,)]


def test_source_file_is_never_written(tiny_source, warehouse):
    before = (sha256_of(tiny_source), tiny_source.stat().st_mtime_ns)
    ingest(tiny_source, warehouse)
    ingest(tiny_source, warehouse)
    assert (sha256_of(tiny_source), tiny_source.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tiny_source.parent.iterdir()) == ["core.download.db", "wh"]


def test_failure_half_way_keeps_the_previous_load_whole(tiny_source, warehouse, tmp_path):
    ingest(tiny_source, warehouse)
    # A file whose last table (copied last, in name order) has corrupt pages:
    # img_info and metadata copy fine, then zz_payload fails mid-load.
    broken = tmp_path / "broken.db"
    make_source(broken, [image_row(i) for i in range(1, 50)], [(2, None, 1, 1)])
    con = sqlite3.connect(broken)
    with con:
        con.execute("create table zz_payload (blob text)")
        con.executemany("insert into zz_payload values (?)", [("x" * 3000,)] * 400)
    con.close()
    data = bytearray(broken.read_bytes())
    middle = len(data) * 3 // 4
    data[middle : middle + 8192] = b"\xff" * 8192
    broken.write_bytes(bytes(data))

    with pytest.raises(NeurostockError, match="zz_payload"):
        ingest(broken, warehouse)

    assert query(warehouse, "select count(*) from raw.img_info") == [(5,)]
    assert query(warehouse, "select count(*) from meta.loads") == [(1,)]
    assert query(warehouse, "select count(*) from duckdb_tables() where schema_name = 'raw' "
                            "and table_name = 'zz_payload'") == [(0,)]


def _png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(path, format="PNG")
    return path


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        (lambda d: d / "missing.db", "does not exist"),
        (lambda d: (d / "empty.db").write_bytes(b"") or d / "empty.db", "is empty"),
        (lambda d: _png(d / "picture.db"), "is not an SQLite database"),
        (
            lambda d: make_source(d / "no_img_info.db", skip_tables=["img_info"]),
            "has no table 'img_info'",
        ),
        (
            lambda d: make_source(d / "no_metadata.db", skip_tables=["metadata"]),
            "has no table 'metadata'",
        ),
        (
            lambda d: make_source(
                d / "no_column.db",
                metadata_ddl=METADATA_DDL.replace("rating_date text, ", ""),
            ),
            "lacks required column\\(s\\) rating_date",
        ),
    ],
    ids=["missing", "empty", "image", "no-img_info", "no-metadata", "no-rating_date"],
)
def test_fatal_problems_give_one_line_and_leave_the_warehouse(
    make_bad, message, tiny_source, warehouse, tmp_path, capsys
):
    ingest(tiny_source, warehouse)
    bad = make_bad(tmp_path)

    code = main(["--warehouse", str(warehouse), "ingest", str(bad)])

    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1, err
    assert err.startswith("neurostock: error: ")
    assert str(bad.name) in err
    import re

    assert re.search(message, err), err
    assert query(warehouse, "select count(*) from meta.loads") == [(1,)]
    assert query(warehouse, "select count(*) from raw.img_info") == [(5,)]


def test_truncated_file_is_refused(tiny_source, tmp_path, warehouse):
    big = make_source(tmp_path / "big.db", [image_row(i) for i in range(1, 400)])
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(big.read_bytes()[: big.stat().st_size // 2])

    with pytest.raises(NeurostockError, match="truncated.db"):
        ingest(truncated, warehouse)
    # No warehouse existed before, and none is left behind.
    assert not warehouse.exists()


def test_warehouse_comes_from_the_environment(tiny_source, tmp_path, monkeypatch):
    target = tmp_path / "from_env.duckdb"
    monkeypatch.setenv("NEUROSTOCK_WAREHOUSE", str(target))
    monkeypatch.chdir(tmp_path)
    os.makedirs(tmp_path / "elsewhere")

    assert main(["ingest", str(tiny_source)]) == 0
    assert query(target, "select count(*) from raw.img_info") == [(5,)]


def test_the_shipped_sample_stays_labelled_in_the_warehouse(tmp_path, warehouse, capsys):
    """The sample's label table travels with it (raw.neurostock_sample): the report and
    the demo read it to say that the sample's signals are planted."""
    from neurostock.sampledata.source import MARKER_TABLE, write_sample

    summary = write_sample(tmp_path / "sample", rows=100, seed=5)
    result = ingest(summary.db_path, warehouse)
    assert result.table_rows[MARKER_TABLE] == 1
    ((generator, rows, seed, planted),) = query(
        warehouse, f"select generator, rows, seed, planted_signals from raw.{MARKER_TABLE}")
    assert (generator, rows, seed) == ("neurostock sample", "100", "5")
    assert "by construction" in planted
    assert main(["--warehouse", str(warehouse), "status"]) == 0
    assert "synthetic sample; its signals are PLANTED" in capsys.readouterr().out


def test_status_of_a_team_source_claims_no_planted_signals(tiny_source, warehouse, capsys):
    assert main(["--warehouse", str(warehouse), "ingest", str(tiny_source)]) == 0
    assert main(["--warehouse", str(warehouse), "status"]) == 0
    out = capsys.readouterr().out
    assert "last load 1" in out and "raw.img_info" in out and "PLANTED" not in out
