"""Copy every table of the team's SQLite file into the warehouse's `raw` schema, unchanged.

Values are read as text (`sqlite_all_varchar`): SQLite lets any value into any
column, and a scan that trusts declared types either fails on one odd value or
silently drops a time-zone offset. Typing happens in dbt staging, where a value
that does not cast becomes a quarantine row instead of an error.

Text that is not valid UTF-8 (SQLite stores whatever bytes it is given) never reaches
a DuckDB table, where it would invalidate the database at the first string operation:
the copy checks every value (`try(decode(encode(v)))`, DuckDB's own UTF-8 check) and
writes such a value with its bad bytes escaped, as Python's backslashreplace does
(`bad\\xff\\xfe`: the valid characters kept, each bad byte as `\\xHH`). The row is
kept, and named with its columns in `meta.load_invalid_text` (by `_source_rowid`), so
dbt quarantines it with the reason; `meta.load_tables.invalid_utf8_rows` counts such
rows per table.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

import neurostock
from neurostock.core.errors import NeurostockError
from neurostock.core.meta import ensure_load_invalid_text_table
from neurostock.core.warehouse import connect, resolve_warehouse, sql_string

SQLITE_MAGIC = b"SQLite format 3\x00"
SOURCE_ALIAS = "neurostock_source"
ROWID_COLUMN = "_source_rowid"
# During the copy only: the columns of a row whose text was not valid UTF-8 (dropped from
# raw.* once meta.load_invalid_text has them).
_INVALID_COLUMNS = "_neurostock_invalid_utf8"
_ESCAPE_FUNCTION = "neurostock_escape_invalid_utf8"

# What downstream models read; anything else in the file is copied but optional.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "img_info": (
        "id",
        "img_path",
        "img_name",
        "generation_date",
        "experiment_model_id",
        "experiment_number",
        "img_generation_promt",
    ),
    "metadata": ("rating", "rating_date", "annotator_id", "id"),
}

_MANIFEST_DDL = """
create schema if not exists meta;
create sequence if not exists meta.load_id_seq;
create table if not exists meta.loads (
    load_id bigint primary key,
    source_path varchar not null,
    source_bytes bigint not null,
    source_sha256 varchar not null,
    source_modified_at timestamptz,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    neurostock_version varchar,
    duckdb_version varchar
);
create table if not exists meta.load_tables (
    load_id bigint not null,
    table_name varchar not null,
    source_rows bigint not null,
    copied_rows bigint not null,
    column_names varchar[] not null,
    primary key (load_id, table_name)
);
-- Loads made before the UTF-8 check have NULL here (their raw.* is copied again).
alter table meta.load_tables add column if not exists invalid_utf8_rows bigint;
"""


@dataclass(frozen=True)
class IngestResult:
    """What one `ingest` call did: `loaded` a new copy, or found the file `unchanged`."""

    status: str
    source_path: Path
    source_sha256: str
    load_id: int
    table_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class _Sha256InBackground:
    """Hashes a file on a thread; hashlib releases the GIL, so the copy runs alongside."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            h = hashlib.sha256()
            with open(self._path, "rb") as fh:
                while chunk := fh.read(4 << 20):
                    h.update(chunk)
            self._digest = h.hexdigest()
        except BaseException as exc:  # handed to the caller in result()
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise NeurostockError(f"cannot read {self._path}: {self._error}")
        assert self._digest is not None
        return self._digest


def check_source_file(path: str | Path) -> Path:
    """The source as an absolute path, refused with one line unless it looks like SQLite."""
    source = Path(path).expanduser()
    if not source.exists():
        raise NeurostockError(f"source file {source} does not exist")
    if not source.is_file():
        raise NeurostockError(f"source {source} is not a file")
    size = source.stat().st_size
    if size == 0:
        raise NeurostockError(f"source file {source} is empty (0 bytes), not an SQLite database")
    with open(source, "rb") as fh:
        head = fh.read(100)
    if not head.startswith(SQLITE_MAGIC):
        raise NeurostockError(
            f"source file {source} is not an SQLite database (its first bytes are "
            f"{head[:16]!r}, expected {SQLITE_MAGIC!r})"
        )
    if len(head) < 100 or size < 512:
        raise NeurostockError(f"source file {source} is truncated ({size} bytes)")
    return source.resolve()


def _source_error(source: Path, exc: BaseException) -> NeurostockError:
    text = str(exc).strip().splitlines()
    detail = text[0] if text else type(exc).__name__
    return NeurostockError(f"cannot read source file {source} as SQLite: {detail}")


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _source_tables(con: duckdb.DuckDBPyConnection, source: Path) -> dict[str, list[str]]:
    """Table name -> column names of the attached source, in the file's order."""
    try:
        rows = con.execute(
            "select table_name, column_name from duckdb_columns() "
            "where database_name = ? order by table_name, column_index",
            [SOURCE_ALIAS],
        ).fetchall()
    except duckdb.Error as exc:
        raise _source_error(source, exc) from exc
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def _check_required(tables: dict[str, list[str]], source: Path) -> None:
    for table, required in REQUIRED_COLUMNS.items():
        if table not in tables:
            found = ", ".join(sorted(tables)) or "none"
            raise NeurostockError(
                f"source file {source} has no table {table!r} (tables found: {found})"
            )
        missing = [c for c in required if c not in tables[table]]
        if missing:
            raise NeurostockError(
                f"source file {source}: table {table!r} lacks required column(s) "
                f"{', '.join(missing)} (has: {', '.join(tables[table])})"
            )


def _escape_invalid_utf8(data: bytes) -> str:
    """Bytes that are not valid UTF-8 as text: valid characters kept, bad bytes `\\xHH`."""
    return data.decode("utf-8", "backslashreplace")


def _copy_query(table: str, columns: list[str], with_rowid: bool) -> str:
    """The select that copies `table` with every value that is not valid UTF-8 escaped and
    its columns listed in _INVALID_COLUMNS (empty on a clean row). Values are text
    (sqlite_all_varchar); the check reads their bytes (encode) and decodes them back
    (decode fails on bad UTF-8), so a bad value is only ever handled as a BLOB."""
    values, flags = [], []
    for column in columns:
        quoted = _q(column)
        bad = f"({quoted} is not null and try(decode(encode({quoted}))) is null)"
        values.append(f"case when {bad} then {_ESCAPE_FUNCTION}(encode({quoted})) "
                      f"else {quoted} end as {quoted}")
        flags.append(f"case when {bad} then {sql_string(column)} end")
    rowid = [f"rowid as {ROWID_COLUMN}"] if with_rowid else []
    flag = f"list_filter([{', '.join(flags)}]::varchar[], c -> c is not null)"
    return (f"select {', '.join([*rowid, *values])}, {flag} as {_INVALID_COLUMNS} "
            f"from {SOURCE_ALIAS}.{_q(table)}")


def _has_rowid(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    try:
        con.execute(f"select rowid from {SOURCE_ALIAS}.{_q(table)} limit 0")
        return True
    except duckdb.Error:  # WITHOUT ROWID tables
        return False


def _last_load(con: duckdb.DuckDBPyConnection) -> tuple[int, str, int] | None:
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'meta' and table_name = 'loads'"
    ).fetchone()[0]
    if not exists:
        return None
    return con.execute(
        "select load_id, source_sha256, source_bytes from meta.loads "
        "order by load_id desc limit 1"
    ).fetchone()


def _raw_is_whole(con: duckdb.DuckDBPyConnection, load_id: int) -> bool:
    """True when every table recorded for the load is still in `raw`."""
    expected = {
        r[0]
        for r in con.execute(
            "select table_name from meta.load_tables where load_id = ?", [load_id]
        ).fetchall()
    }
    present = {
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw' "
            "and database_name = current_database()"
        ).fetchall()
    }
    # A load copied before the UTF-8 check (invalid_utf8_rows NULL or absent) is copied
    # again: its raw.* may hold text that is not valid UTF-8.
    try:
        checked = con.execute(
            "select count(*) = 0 from meta.load_tables where load_id = ? "
            "and invalid_utf8_rows is null", [load_id]).fetchone()[0]
    except duckdb.BinderException:
        checked = False
    return bool(expected) and expected <= present and checked


def ingest(
    source_db: str | Path,
    warehouse: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestResult:
    """Copy every table of `source_db` into `raw`, replacing the previous load atomically.

    Does nothing when the file's sha256 equals the last load's. Any fatal problem
    raises NeurostockError before the warehouse is changed.
    """
    say = progress or (lambda _msg: None)
    started = datetime.now(UTC)
    source = check_source_file(source_db)
    stat = source.stat()
    hasher = _Sha256InBackground(source)
    target = resolve_warehouse(warehouse)
    # A fatal problem must leave no trace, not even an empty warehouse file.
    created = not target.exists()
    try:
        return _ingest_into(target, source, stat, hasher, started, say)
    except BaseException:
        if created:
            for leftover in (target, target.with_name(target.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise


def _ingest_into(target, source, stat, hasher, started, say) -> IngestResult:
    with connect(target) as con:
        try:
            con.create_function(_ESCAPE_FUNCTION, _escape_invalid_utf8, ["BLOB"], "VARCHAR")
            con.execute("set sqlite_all_varchar = true")
            con.execute(f"attach {sql_string(source)} as {SOURCE_ALIAS} (type sqlite, read_only)")
        except duckdb.Error as exc:
            raise _source_error(source, exc) from exc
        try:
            tables = _source_tables(con, source)
            _check_required(tables, source)

            previous = _last_load(con)
            # A different size means a different file; only an equal size needs the hash first.
            if previous is not None and previous[2] == stat.st_size:
                digest = hasher.result()
                if digest == previous[1] and _raw_is_whole(con, previous[0]):
                    say(f"{source} is unchanged since load {previous[0]} (sha256 {digest[:12]}…)")
                    return IngestResult(
                        "unchanged", source, digest, previous[0],
                        _table_rows(con, previous[0]),
                        (datetime.now(UTC) - started).total_seconds(),
                    )
            return _copy(con, source, stat, tables, hasher, started, say)
        finally:
            con.execute(f"detach {SOURCE_ALIAS}")


def _table_rows(con: duckdb.DuckDBPyConnection, load_id: int) -> dict[str, int]:
    rows = con.execute(
        "select table_name, copied_rows from meta.load_tables where load_id = ? order by 1",
        [load_id],
    ).fetchall()
    return dict(rows)


def _copy(con, source, stat, tables, hasher, started, say) -> IngestResult:
    con.execute("begin transaction")
    try:
        con.execute(_MANIFEST_DDL)
        ensure_load_invalid_text_table(con)
        con.execute("delete from meta.load_invalid_text")  # it describes the newest load
        load_id = con.execute("select nextval('meta.load_id_seq')").fetchone()[0]
        con.execute("drop schema if exists raw cascade")
        con.execute("create schema raw")
        counts: dict[str, tuple[int, int, list[str], int]] = {}
        for table, columns in sorted(tables.items()):
            say(f"copying {table} ({len(columns)} columns) …")
            with_rowid = _has_rowid(con, table)
            try:
                con.execute(f"create table raw.{_q(table)} as "
                            f"{_copy_query(table, columns, with_rowid)}")
                source_rows = con.execute(
                    f"select count(*) from {SOURCE_ALIAS}.{_q(table)}"
                ).fetchone()[0]
            except duckdb.Error as exc:
                raise NeurostockError(
                    f"cannot copy table {table!r} of {source}: "
                    f"{str(exc).strip().splitlines()[0]}"
                ) from exc
            copied, invalid = con.execute(
                f"select count(*), count(*) filter (where len({_INVALID_COLUMNS}) > 0) "
                f"from raw.{_q(table)}"
            ).fetchone()
            if invalid and with_rowid:
                con.execute(
                    f"insert into meta.load_invalid_text select ?, ?, {ROWID_COLUMN}, "
                    f"{_INVALID_COLUMNS} from raw.{_q(table)} "
                    f"where len({_INVALID_COLUMNS}) > 0", [load_id, table])
            con.execute(f"alter table raw.{_q(table)} drop column {_INVALID_COLUMNS}")
            if copied != source_rows:
                raise NeurostockError(
                    f"table {table!r}: copied {copied} rows but the source has {source_rows}"
                )
            counts[table] = (source_rows, copied, columns, invalid)
            bad = (f" ({invalid:,} with text that is not valid UTF-8, kept with its bytes "
                   "escaped)" if invalid else "")
            say(f"copied {table}: {copied:,} rows{bad}")
        digest = hasher.result()
        finished = datetime.now(UTC)
        con.execute(
            "insert into meta.loads values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                load_id, str(source), stat.st_size, digest,
                datetime.fromtimestamp(stat.st_mtime, UTC), started, finished,
                neurostock.__version__, duckdb.__version__,
            ],
        )
        con.executemany(
            "insert into meta.load_tables (load_id, table_name, source_rows, copied_rows, "
            "column_names, invalid_utf8_rows) values (?, ?, ?, ?, ?, ?)",
            [[load_id, t, s, c, cols, bad] for t, (s, c, cols, bad) in counts.items()],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return IngestResult(
        "loaded", source, digest, load_id,
        {t: c for t, (_s, c, _cols, _bad) in counts.items()},
        (finished - started).total_seconds(),
    )
