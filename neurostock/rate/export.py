"""`neurostock ratings export`: the rating app's ratings as rows of the source's
`metadata` table (rating, rating_date, annotator_id, id) in a SQLite file the team
can merge into theirs, and the same rows as CSV.

The file is rewritten whole from the warehouse on every export (written beside, then
renamed), so exporting twice gives the same rows, never duplicates; the table
`neurostock_export` keys each row by its rating_id. A retracted rating (undo) is not
exported. A file that is not an earlier export (the source file, say) is never
overwritten."""

from __future__ import annotations

import csv
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from neurostock.core.csvsafe import safe_rows
from neurostock.core.errors import NeurostockError

MARKER = "neurostock_export"
# The source's own DDL (sampledata/source.py writes the same): merged rows fit it.
SCHEMA = """
CREATE TABLE metadata (rating INTEGER, rating_date TEXT, annotator_id INTEGER, id INTEGER);
CREATE TABLE user (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE neurostock_export (rating_id INTEGER PRIMARY KEY, metadata_rowid INTEGER NOT NULL,
                                annotator TEXT NOT NULL, queue TEXT NOT NULL,
                                exported_at TEXT NOT NULL);
"""
CSV_COLUMNS = ("rating_id", "rating", "rating_date", "annotator_id", "id", "annotator", "queue")


@dataclass(frozen=True)
class ExportResult:
    sqlite_path: Path
    csv_path: Path
    n_ratings: int
    n_new_annotators: int


def standing_ratings(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(rating_id, rating, rating_date, annotator_id, image_id, annotator, queue) of every
    app rating not taken back, oldest first."""
    if not con.execute("select count(*) from duckdb_tables() where schema_name = "
                       "'annotations' and table_name = 'ratings'").fetchone()[0]:
        raise NeurostockError("the warehouse has no annotations.ratings: run `neurostock "
                              "build` (and rate some images with `neurostock rate`)")
    rows = con.execute("""
        select rating_id, rating, rated_at, annotator_id, image_id, annotator, queue
        from annotations.ratings
        where retracts_rating_id is null
          and rating_id not in (select retracts_rating_id from annotations.ratings
                                where retracts_rating_id is not null)
        order by rating_id""").fetchall()
    return [(r[0], r[1], r[2].astimezone(UTC).isoformat(), *r[3:]) for r in rows]


def export_ratings(con: duckdb.DuckDBPyConnection, out: str | os.PathLike) -> ExportResult:
    """Write `out` (SQLite) and `out` with suffix .csv; see the module docstring."""
    target = Path(out).expanduser().resolve()
    csv_path = target.with_suffix(".csv")
    if target.exists() and not _is_export(target):
        raise NeurostockError(f"{target} exists and is not a ratings export (no table "
                              f"{MARKER}): choose another --out")
    rows = standing_ratings(con)
    annotators = con.execute("select annotator_id, name from annotations.annotators "
                             "where not is_source_user order by annotator_id").fetchall()
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    db = sqlite3.connect(partial)
    try:
        db.executescript(SCHEMA)
        for row in rows:
            rating_id, rating, rating_date, annotator_id, image_id, annotator, queue = row
            rowid = db.execute("INSERT INTO metadata VALUES (?, ?, ?, ?)",
                               (rating, rating_date, annotator_id, image_id)).lastrowid
            db.execute(f"INSERT INTO {MARKER} VALUES (?, ?, ?, ?, ?)",
                       (rating_id, rowid, annotator, queue, stamp))
        db.executemany("INSERT INTO user (id, name) VALUES (?, ?)", annotators)
        db.commit()
    finally:
        db.close()
    partial_csv = csv_path.with_name(f".{csv_path.name}.partial")
    with open(partial_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(safe_rows(rows))
    os.replace(partial, target)
    os.replace(partial_csv, csv_path)
    return ExportResult(target, csv_path, len(rows), len(annotators))


def _is_export(path: Path) -> bool:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        return bool(db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                               "AND name = ?", (MARKER,)).fetchone()[0])
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()
