"""What a warehouse holds, for `neurostock status` and `neurostock similar`: its last
load, its tables' sizes, the prompts of some images. Read-only queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb


@dataclass(frozen=True)
class LastLoad:
    load_id: int
    source_path: str
    source_sha256: str
    finished_at: datetime
    is_planted_sample: bool  # the source is neurostock's synthetic sample


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
        [schema, table]).fetchone()[0])


def last_load(con: duckdb.DuckDBPyConnection) -> LastLoad | None:
    """The latest `ingest`, or None before the first."""
    if not _has_table(con, "meta", "loads"):
        return None
    row = con.execute("select load_id, source_path, source_sha256, finished_at from meta.loads "
                      "order by load_id desc limit 1").fetchone()
    if row is None:
        return None
    # sampledata writes this table into its SQLite file; ingest copies every table.
    return LastLoad(*row, is_planted_sample=_has_table(con, "raw", "neurostock_sample"))


def table_sizes(con: duckdb.DuckDBPyConnection,
                schemas: Sequence[str] = ("raw", "main")) -> list[tuple[str, int]]:
    """(schema.table, estimated rows) of every table in `schemas`, by name."""
    return con.execute(
        "select schema_name || '.' || table_name, estimated_size from duckdb_tables() "
        "where list_contains(?, schema_name) order by 1", [list(schemas)]).fetchall()


def prompts_of(con: duckdb.DuckDBPyConnection, image_ids: Sequence[int]) -> dict[int, str]:
    """image_id -> prompt for those of `image_ids` in full_set or big_set (or the pool,
    which also holds the unusable and the other unrated images it was asked for)."""
    if not image_ids:
        return {}
    has_pool = con.execute("select count(*) from duckdb_tables() where schema_name = 'main' "
                           "and table_name = 'pool'").fetchone()[0]
    pool = ("union all select image_id, prompt from pool where list_contains($ids, image_id) "
            if has_pool else "")
    return dict(con.execute(
        "select image_id, prompt from full_set where list_contains($ids, image_id) "
        f"union all select image_id, prompt from big_set where list_contains($ids, image_id) "
        f"{pool}", {"ids": list(image_ids)}).fetchall())
