"""Importing embeddings computed elsewhere (the research team's CSV files) into schema `imported`.

The team saved CLIP vectors from notebooks as CSV text: an `id` (or keyword)
column, then `emb0..embN` / `emb_0..emb_N`. Each import becomes one table
`imported.emb_<kind>__<embedder_id>` of L2-normalised FLOAT[dim] vectors, which
the union views (neurostock/build/embedding_models.py) pick up, and one registry row in
`meta.embedding_models` marked `is_imported`.

Everything is checked before anything is written, and the reading and the
arithmetic happen inside DuckDB: a file of 10,000 vectors is never a Python loop.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from neurostock.core.config import EMBEDDER_ID_RULE  # one rule for ids, configured or imported
from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import file_sha256, fingerprint
from neurostock.core.warehouse import connect, sql_string
from neurostock.embed.registry import EmbedderInfo, ensure_registry, upsert
from neurostock.embed.tables import KINDS as _TABLE_KINDS
from neurostock.embed.tables import model_name

IMPORT_KINDS = ("image", "prompt", "both", "keyword")
SCHEMA = "imported"
# Headers pandas gives an unnamed index column.
_INDEX_HEADERS = ("", "Unnamed: 0")
_EMBEDDING_COLUMN = re.compile(r"emb(_?)(0|[1-9][0-9]*)")
_INTEGER = r"^\s*[+-]?[0-9]+\s*$"
_STAGE = "_neurostock_import_stage"
_SHOWN = 5
_NAN = "'nan'::double"


@dataclass(frozen=True)
class ImportSummary:
    """What one import did to one table: `status` is "imported" or "unchanged"."""

    embedder_id: str
    kind: str
    table: str
    rows: int
    dim: int
    unknown_ids: int
    status: str


@dataclass(frozen=True)
class _Layout:
    """Where a file's key and vectors are: header positions, per table kind, in numeric order."""

    header: tuple[str, ...]
    key_position: int
    vectors: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def dim(self) -> int:
        """The vector size, the same for every kind in the file."""
        return len(self.vectors[0][1])


def import_embeddings(warehouse: str | os.PathLike | duckdb.DuckDBPyConnection | None,
                      path: str | os.PathLike, embedder_id: str, kind: str,
                      dim: int | None = None, model: str | None = None) -> list[ImportSummary]:
    """Import one CSV of embeddings; one summary per table written or found unchanged.

    `warehouse` is a warehouse path (None: the default one) or an open DuckDB
    connection that is not inside a transaction. Raises NeurostockError, with
    the warehouse untouched, on any problem with the arguments, the file or
    the registry.
    """
    _check_arguments(embedder_id, kind, dim)
    source = _existing_file(path)
    layout = _layout(path, _read_header(source, path), kind)
    _check_dim(path, layout, kind, dim)
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _import(warehouse, source, path, layout, embedder_id, model)
    with connect(warehouse) as con:
        return _import(con, source, path, layout, embedder_id, model)


def _check_arguments(embedder_id: str, kind: str, dim: int | None) -> None:
    """Refuse an unknown kind, an id that cannot name a table, or a dim that is not positive."""
    if kind not in IMPORT_KINDS:
        raise NeurostockError(f"kind {kind!r} is not one of {', '.join(IMPORT_KINDS)}")
    if not isinstance(embedder_id, str) or not EMBEDDER_ID_RULE.fullmatch(embedder_id):
        raise NeurostockError(
            f"embedder id {embedder_id!r} must be lowercase letters, digits and _ "
            "(starting with a letter, max 48)"
        )
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise NeurostockError(f"dim {dim!r} must be a positive integer")


def _existing_file(path: str | os.PathLike) -> Path:
    """The resolved file; NeurostockError if it is missing, not a file, or empty."""
    source = Path(path).expanduser().resolve()
    if not source.exists():
        raise NeurostockError(f"embeddings file {path} does not exist")
    if not source.is_file():
        raise NeurostockError(f"embeddings file {path} is not a file")
    if source.stat().st_size == 0:
        raise NeurostockError(f"embeddings file {path} is empty")
    return source


def _read_header(source: Path, path) -> tuple[str, ...]:
    """The first CSV record, stripped; a byte-order mark is dropped."""
    try:
        with open(source, newline="", encoding="utf-8-sig") as fh:
            first = next(csv.reader(fh), None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise NeurostockError(f"embeddings file {path}: cannot read its header: {exc}") from exc
    if not first or not any(name.strip() for name in first):
        raise NeurostockError(f"embeddings file {path} is empty (no header)")
    return tuple(name.strip() for name in first)


def _layout(path, header: Sequence[str], kind: str) -> _Layout:
    """Find the key column and the embedding columns of each table kind in `header`."""
    key_position = _key_position(path, header, kind)
    positions = list(range(key_position + 1, len(header)))
    if not positions:
        raise NeurostockError(f"embeddings file {path} has no embedding columns after "
                              f"{header[key_position]!r}")
    if kind != "both":
        return _Layout(tuple(header), key_position, ((kind, _numeric_order(path, header,
                                                                            positions)),))
    if len(positions) % 2:
        raise NeurostockError(
            f"embeddings file {path}: kind both needs image then prompt columns, an even "
            f"number, but it has {len(positions)} embedding columns"
        )
    half = len(positions) // 2
    names = [header[p] for p in positions]
    if len(set(names)) == len(names):
        # One numbering across both halves: the first `dim` numbers are the image's.
        ordered = _numeric_order(path, header, positions)
        image, prompt = ordered[:half], ordered[half:]
    else:
        # pd.concat([img, txt], axis=1) of two frames named alike repeats the names:
        # the halves are positional, each numbered from 0.
        image = _numeric_order(path, header, positions[:half])
        prompt = _numeric_order(path, header, positions[half:])
    return _Layout(tuple(header), key_position, (("image", image), ("prompt", prompt)))


def _key_position(path, header: Sequence[str], kind: str) -> int:
    """Position of the id (or keyword) column; a pandas index column before it is skipped."""
    key = "keyword" if kind == "keyword" else "id"
    if len(header) > 1 and header[0] in _INDEX_HEADERS and header[1] == key:
        return 1
    if header[0] == key or (kind == "keyword" and header[0] in _INDEX_HEADERS):
        return 0
    expected = ("`keyword`, `Unnamed: 0` or an empty header" if kind == "keyword"
                else "`id` (optionally after a pandas index column)")
    raise NeurostockError(
        f"embeddings file {path}: first column is {header[0]!r}; expected {expected}"
    )


def _numeric_order(path, header: Sequence[str], positions: Sequence[int]) -> tuple[int, ...]:
    """`positions` sorted by embedding number; refuse other names, duplicates and gaps."""
    by_number: dict[int, int] = {}
    style = None
    for position in positions:
        name = header[position]
        match = _EMBEDDING_COLUMN.fullmatch(name)
        if not match:
            raise NeurostockError(
                f"embeddings file {path}: column {position + 1} {name!r} is not an embedding "
                "column (expected emb0..embN or emb_0..emb_N)"
            )
        if style is None:
            style = match.group(1)
        elif match.group(1) != style:
            raise NeurostockError(
                f"embeddings file {path}: column {position + 1} {name!r} mixes emb_N and embN names"
            )
        number = int(match.group(2))
        if number in by_number:
            raise NeurostockError(
                f"embeddings file {path}: column {position + 1} {name!r} is a duplicate "
                f"(also column {by_number[number] + 1})"
            )
        by_number[number] = position
    missing = next(n for n in range(len(by_number) + 1) if n not in by_number)
    if missing < len(by_number):
        raise NeurostockError(
            f"embeddings file {path}: embedding column emb{style}{missing} is missing "
            f"(columns go up to emb{style}{max(by_number)})"
        )
    return tuple(by_number[n] for n in range(len(by_number)))


def _check_dim(path, layout: _Layout, kind: str, dim: int | None) -> None:
    """Refuse a file whose vectors are not of the declared dimension."""
    if dim is None or dim == layout.dim:
        return
    found = (f"{layout.dim} per half ({2 * layout.dim} embedding columns)" if kind == "both"
             else f"{layout.dim} embedding columns")
    raise NeurostockError(f"embeddings file {path}: declared dim {dim} but the file has {found}")


def _import(con: duckdb.DuckDBPyConnection, source: Path, path, layout: _Layout,
            embedder_id: str, model: str | None) -> list[ImportSummary]:
    """Check against the warehouse, stage and check the rows, then write in one transaction."""
    registered = _registered(con, embedder_id)
    _check_registered(registered, embedder_id, layout.dim)
    # Read now, never memoised: a memo keyed on mtime could miss a quick rewrite.
    sha = file_sha256(source)
    tables = {kind: f"{SCHEMA}.{model_name(kind, embedder_id)}" for kind, _ in layout.vectors}
    changed = [kind for kind, table in tables.items() if _recorded_sha(con, table) != sha]
    images = _valid_images_relation(con)
    if changed:
        _stage(con, source, path, layout)
    try:
        if changed:
            _check_rows(con, path, layout)
        info = _registry_row(con, registered, embedder_id, layout.dim, model,
                             {kind: sha for kind in changed})
        _write(con, changed, tables, info if info != _as_info(registered) else None,
               embedder_id, layout, source, sha)
        return [_summary(con, embedder_id, kind, tables[kind], layout.dim, images,
                         "imported" if kind in changed else "unchanged")
                for kind, _ in layout.vectors]
    finally:
        con.execute(f"drop table if exists temp.{_STAGE}")


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether a table or view `schema.name` exists in the connection's main database."""
    return bool(con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?", [schema, name]
    ).fetchone()[0] or con.execute(
        "select count(*) from duckdb_views() where database_name = current_database() "
        "and schema_name = ? and view_name = ?", [schema, name]
    ).fetchone()[0])


def _registered(con: duckdb.DuckDBPyConnection, embedder_id: str) -> dict | None:
    """The registry row of `embedder_id` as a dict, or None (also when there is no registry)."""
    if not _table_exists(con, "meta", "embedding_models"):
        return None
    cursor = con.execute("select * exclude (registered_at) from meta.embedding_models "
                         "where embedder_id = ?", [embedder_id])
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def _as_info(row: dict | None) -> EmbedderInfo | None:
    """A registry row (from `_registered`) as an EmbedderInfo, to compare with a new one."""
    if row is None:
        return None
    return EmbedderInfo(**{**row, "kinds": tuple(row["kinds"])})


def _check_registered(row: dict | None, embedder_id: str, dim: int) -> None:
    """Refuse to overwrite a configured embedder's id, or to mix dimensions under one id."""
    if row is None:
        return
    if not row["is_imported"]:
        raise NeurostockError(
            f"embedder id {embedder_id} is a configured embedder ({row['library']} "
            f"{row['model']}), not an imported one: import under another id"
        )
    if row["dim"] != dim:
        raise NeurostockError(
            f"embedder id {embedder_id} is registered with dim {row['dim']}, the file has "
            f"dim {dim}: import under another id"
        )


def _recorded_sha(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The source_sha256 an imported table was made from, or None when there is no table."""
    schema, name = table.split(".")
    if not _table_exists(con, schema, name):
        return None
    row = con.execute(f"select any_value(source_sha256) from {table}").fetchone()
    return row[0]


def _valid_images_relation(con: duckdb.DuckDBPyConnection) -> str | None:
    """The qualified name of dbt's int_images_checked, or None before the first dbt build."""
    schemas = [r[0] for r in con.execute(
        "select schema_name from duckdb_tables() where database_name = current_database() "
        "and table_name = 'int_images_checked' union all "
        "select schema_name from duckdb_views() where database_name = current_database() "
        "and view_name = 'int_images_checked' and not internal"
    ).fetchall()]
    if not schemas:
        return None
    schema = "main" if "main" in schemas else sorted(schemas)[0]
    return f'"{schema}".int_images_checked'


def _stage(con: duckdb.DuckDBPyConnection, source: Path, path, layout: _Layout) -> None:
    """Read the file into a temp table: key text, and per kind a DOUBLE[] vector and its norm².

    Columns are named by position (c0, c1, ...) because pandas can repeat names;
    every value column is DOUBLE, the key and any index column text, so that a
    bad id can be reported with its row rather than failing the read.
    """
    columns = ", ".join(
        f"'c{i}': '{'VARCHAR' if i <= layout.key_position else 'DOUBLE'}'"
        for i in range(len(layout.header))
    )
    # An empty cell is NULL, which list_dot_product refuses outright; as NaN it
    # is reported, with its row's id, like the NaN and infinite values.
    vectors = ", ".join(
        f"[{', '.join(f'coalesce(c{p}, {_NAN})' for p in positions)}] as v_{kind}"
        for kind, positions in layout.vectors
    )
    squares = ", ".join(f"list_dot_product(v_{kind}, v_{kind}) as sq_{kind}"
                        for kind, _ in layout.vectors)
    names = [f"v_{kind}" for kind, _ in layout.vectors]
    reader = (
        f"read_csv({sql_string(source)}, columns={{{columns}}}, header=true, auto_detect=false, "
        "delim=',', quote='\"', escape='\"')"
    )
    # File order is the rowid order only when insertion order is preserved; it
    # gives each row the number an error message names.
    preserve = con.execute("select current_setting('preserve_insertion_order')").fetchone()[0]
    con.execute("set preserve_insertion_order = true")
    try:
        con.execute(
            f"create or replace temp table {_STAGE} as select key, {', '.join(names)}, {squares} "
            f"from (select c{layout.key_position} as key, {vectors} from {reader})"
        )
    except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
        raise NeurostockError(_csv_error(path, layout.header, exc)) from exc
    finally:
        con.execute(f"set preserve_insertion_order = {str(bool(preserve)).lower()}")


def _csv_error(path, header: Sequence[str], exc: Exception) -> str:
    """DuckDB's many-line CSV error as one line naming the file, the line and the column."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    where = f"embeddings file {path}" + (f" line {line.group(1)}" if line else "")
    converting = re.search(r'converting column "c(\d+)"\. Could not convert string "(.*?)"', text)
    if converting:
        position = int(converting.group(1))
        return (f"{where}: column {header[position]!r} value {converting.group(2)!r} "
                "is not a number")
    counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if counts:
        return f"{where}: expected {counts.group(1)} columns, found {counts.group(2)}"
    # Otherwise DuckDB states the reason in the paragraph after the quoted line.
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", text) if part.strip()]
    detail = (paragraphs[1] if len(paragraphs) > 1 else paragraphs[0]).splitlines()[0]
    return f"{where}: cannot read it as CSV: {detail}"


def _check_rows(con: duckdb.DuckDBPyConnection, path, layout: _Layout) -> None:
    """Refuse an empty file, bad or repeated keys, and vectors that cannot be normalised."""
    rows = con.execute(f"select count(*) from {_STAGE}").fetchone()[0]
    if rows == 0:
        raise NeurostockError(f"embeddings file {path} has a header but no data rows")
    is_keyword = layout.vectors[0][0] == "keyword"
    _check_keys(con, path, is_keyword)
    label = "keyword" if is_keyword else "id"
    for kind, _ in layout.vectors:
        which = f"{kind} " if len(layout.vectors) > 1 else ""
        bad = con.execute(
            f"select key from {_STAGE} where not isfinite(sq_{kind}) "
            f"order by rowid limit 1"
        ).fetchone()
        if bad:
            raise NeurostockError(f"embeddings file {path}: {label} {bad[0]!r} has an empty, NaN "
                                  f"or infinite value in its {which}vector")
        zero = con.execute(
            f"select key from {_STAGE} where sq_{kind} = 0 order by rowid limit 1"
        ).fetchone()
        if zero:
            raise NeurostockError(f"embeddings file {path}: {label} {zero[0]!r} has an all-zero "
                                  f"{which}vector, which cannot be normalised")


def _check_keys(con: duckdb.DuckDBPyConnection, path, is_keyword: bool) -> None:
    """Refuse ids that are not integers, empty keywords, and repeated keys (naming a few)."""
    if is_keyword:
        bad = con.execute(f"select rowid + 1, key from {_STAGE} where coalesce(trim(key), '') = '' "
                          "order by rowid limit 1").fetchone()
        if bad:
            raise NeurostockError(f"embeddings file {path}: data row {bad[0]} (line "
                                  f"{bad[0] + 1}) has an empty keyword")
        key = "key"
    else:
        bad = con.execute(
            f"select rowid + 1, key from {_STAGE} where key is null "
            f"or not regexp_matches(key, '{_INTEGER}') or try_cast(key as bigint) is null "
            "order by rowid limit 1"
        ).fetchone()
        if bad:
            raise NeurostockError(f"embeddings file {path}: data row {bad[0]} (line {bad[0] + 1})"
                                  f" id {bad[1]!r} is not an integer")
        key = "key::bigint"
    duplicates = con.execute(
        f"select {key} as k, count(*) over () from {_STAGE} group by k having count(*) > 1 "
        f"order by min(rowid) limit {_SHOWN}"
    ).fetchall()
    if duplicates:
        label = "keywords" if is_keyword else "ids"
        shown = ", ".join(repr(k) if is_keyword else str(k) for k, _ in duplicates)
        more = duplicates[0][1] - len(duplicates)
        raise NeurostockError(f"embeddings file {path}: {duplicates[0][1]} duplicate {label}: "
                              f"{shown}{f' and {more} more' if more else ''}")


def _registry_row(con: duckdb.DuckDBPyConnection, registered: dict | None, embedder_id: str,
                  dim: int, model: str | None, new_shas: dict[str, str]) -> EmbedderInfo:
    """The registry row after this import: kinds merged, fingerprint over every source file."""
    old_kinds = set(registered["kinds"]) if registered else set()
    kinds = tuple(k for k in _TABLE_KINDS
                  if k in old_kinds or k in new_shas
                  or _recorded_sha(con, f"{SCHEMA}.{model_name(k, embedder_id)}"))
    shas = [new_shas.get(k) or _recorded_sha(con, f"{SCHEMA}.{model_name(k, embedder_id)}")
            for k in kinds]
    # An unchanged re-import without a model name keeps the name given before.
    chosen = model or (registered["model"] if registered else None) or "unknown (imported)"
    return EmbedderInfo(
        embedder_id=embedder_id, library="imported", library_version=None, model=chosen,
        pretrained=None, weights_path=None, weights_sha256=None, quick_gelu=None,
        preprocessing=None, dim=dim, kinds=kinds, is_random_init=False, is_imported=True,
        fingerprint=fingerprint("imported", *shas),
    )


def _write(con: duckdb.DuckDBPyConnection, changed: Sequence[str], tables: dict[str, str],
           info: EmbedderInfo | None, embedder_id: str, layout: _Layout, source: Path,
           sha: str) -> None:
    """Replace the changed tables and the registry row in one transaction (or nothing)."""
    if not changed and info is None:
        return
    key = "key::bigint as image_id" if layout.vectors[0][0] != "keyword" else "key as keyword"
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {SCHEMA}")
        for kind in changed:
            con.execute(
                f"create or replace table {tables[kind]} as select {key}, "
                f"{sql_string(embedder_id)} as embedder_id, "
                f"[x / sqrt(sq_{kind}) for x in v_{kind}]::float[{layout.dim}] as embedding, "
                f"sqrt(sq_{kind}) as source_norm, {sql_string(source)} as source_file, "
                f"{sql_string(sha)} as source_sha256, current_timestamp as imported_at "
                f"from {_STAGE} order by rowid"
            )
        if info is not None:
            ensure_registry(con)
            upsert(con, info)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _summary(con: duckdb.DuckDBPyConnection, embedder_id: str, kind: str, table: str, dim: int,
             images: str | None, status: str) -> ImportSummary:
    """Counts read back from the written (or unchanged) table."""
    rows = con.execute(f"select count(*) from {table}").fetchone()[0]
    if kind == "keyword":
        unknown = 0
    elif images is None:
        unknown = rows
    else:
        unknown = con.execute(
            f"select count(*) from {table} anti join "
            f"(select image_id from {images} where is_valid) as valid using (image_id)"
        ).fetchone()[0]
    return ImportSummary(embedder_id=embedder_id, kind=kind, table=table, rows=rows, dim=dim,
                         unknown_ids=unknown, status=status)
