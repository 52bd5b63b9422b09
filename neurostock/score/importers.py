"""Importing scores computed elsewhere (the research team's model outputs) into schema `imported`.

`neurostock scores import --format {pia,tanet,hf,csv} FILE --scorer-id ID` turns a
file into one scorer per score column: a table `imported.scores__<scorer_id>`
(image_id, score, components, source_row, source_file, source_sha256,
imported_at) and its `meta.scorers` row, which carries the validation verdict.

The team's files show how outside models get misused: an averaged softmax that
is 0.1 for every image, a classifier read at its top-1 label whatever the
label, outputs matched to their inputs only by position. So problems come in
two kinds:

- refusals (NeurostockError, one line naming the file, line or row, id or
  column; nothing written): a missing or unreadable file, missing keys or
  columns, an id that is not an integer, a PIA output and image list of
  different lengths, an image list line that names no image or an ambiguous one
  (score.image_list), a Hugging Face label that is not named or missing for an
  image;
- findings (the scorer is recorded with is_valid false and its reasons, every
  row kept): constant or near-constant values, NaN/inf/missing scores (stored
  as NULL), values outside the declared range, ids that are not valid images
  of the warehouse, duplicate ids (the first row of each id is kept).

Everything is read and checked before anything is written, and all the tables
and registry rows of one import are written in one transaction. Importing the
same file again (same sha256, for positional formats the same image list too)
with the same options is a no-op reported as "unchanged", unless the verdict
itself would change (e.g. the warehouse has since been built and the ids are
now known), in which case the scorer is written again.

The file formats are read by score.import_formats, the arguments and ids checked
by score.import_checks; this module matches, validates and writes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import duckdb
import numpy as np
import pyarrow as pa

from neurostock.core.scorers import (
    ScorerInfo,
    Validation,
    ensure_scorers_table,
    get_scorer,
    upsert_scorer,
    validate_scores,
)
from neurostock.core.warehouse import connect, sql_string
from neurostock.score import import_checks as checks
from neurostock.score.image_list import check_same_file_scores, match_image_list
from neurostock.score.import_formats import READERS, ScoresRead

SCHEMA = "imported"
TABLE_PREFIX = "scores__"

_COMPONENTS_TYPE = pa.map_(pa.string(), pa.float64())
_STAGE = "_neurostock_score_stage"


@dataclass(frozen=True)
class ScoreImportSummary:
    """What one import did to one scorer: `status` is "imported" or "unchanged"."""

    scorer_id: str
    rows: int
    status: str
    is_valid: bool
    invalid_reason: str | None
    unknown_ids: int


@dataclass(frozen=True)
class _Prepared:
    """A scorer ready to write: the rows kept (first of each id), its validated registry row."""

    info: ScorerInfo
    rows: pa.Table
    unknown_ids: int


def import_scores(warehouse: str | os.PathLike | duckdb.DuckDBPyConnection | None, fmt: str,
                  path: str | os.PathLike, scorer_id: str,
                  image_list: str | os.PathLike | None = None, label: str | None = None,
                  id_column: str = "id", score_columns: Sequence[str] | None = None,
                  expected_range: Sequence[float | None] | None = None,
                  higher_is: str | None = None,
                  version: str | None = None) -> list[ScoreImportSummary]:
    """Import one score file; one summary per scorer written or found unchanged.

    `warehouse` is a warehouse path (None: the default one) or an open DuckDB
    connection that is not inside a transaction. `expected_range` (min, max),
    either side None, replaces the format's default range. Raises
    NeurostockError, with the warehouse untouched, on any refusal (see the
    module docstring); findings make the scorer invalid instead.
    """
    options = checks.import_options(fmt, path, scorer_id, image_list, label, id_column,
                                    score_columns, expected_range, higher_is, version)
    read = READERS[fmt](options)
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _import(warehouse, read)
    with connect(warehouse) as con:
        return _import(con, read)


def _import(con: duckdb.DuckDBPyConnection, reads: list[ScoresRead]) -> list[ScoreImportSummary]:
    """Validate against the warehouse, then write the scorers that changed in one transaction."""
    for read in reads:
        checks.check_not_computed(con, read.declared.scorer_id)
    reads = [_with_ids(con, read) for read in reads]
    valid_ids = checks.valid_image_ids(con)
    prepared = [_prepare(read, valid_ids) for read in reads]
    changed = [p for p in prepared if not _unchanged(con, p.info)]
    _write(con, changed)
    return [ScoreImportSummary(
        scorer_id=p.info.scorer_id, rows=p.rows.num_rows,
        status="imported" if p in changed else "unchanged", is_valid=p.info.is_valid,
        invalid_reason=p.info.invalid_reason, unknown_ids=p.unknown_ids,
    ) for p in prepared]


def _with_ids(con: duckdb.DuckDBPyConnection, read: ScoresRead) -> ScoresRead:
    """`read` with the ids of its image list's lines, when it is matched by position."""
    if read.ids is not None:
        return read
    match = match_image_list(con, read.image_list)
    check_same_file_scores(match, read.scores, f"file {read.declared.source_file}")
    declared = replace(read.declared, description=f"{read.declared.description}; {match.note}")
    return replace(read, declared=declared, ids=match.ids)


def _prepare(read: ScoresRead, valid_ids: np.ndarray | None) -> _Prepared:
    """Keep the first row of each id, count what is wrong, and fill in the verdict."""
    keep = np.zeros(len(read.ids), dtype=bool)
    keep[np.unique(read.ids, return_index=True)[1]] = True
    ids, scores = read.ids[keep], read.scores[keep]
    unknown = len(ids) if valid_ids is None else int((~np.isin(ids, valid_ids)).sum())
    validation = validate_scores(scores, (read.declared.expected_min, read.declared.expected_max),
                                 n_unknown_ids=unknown, n_duplicate_ids=int((~keep).sum()))
    if valid_ids is None and unknown:
        validation = Validation(False, validation.reasons + (
            "the warehouse has no int_images_checked: run `neurostock build`, then import "
            "again",))
    finite = np.isfinite(scores)
    components = (pa.array([c for c, k in zip(read.components, keep, strict=True) if k],
                           type=_COMPONENTS_TYPE)
                  if read.components is not None else pa.nulls(len(ids), _COMPONENTS_TYPE))
    rows = pa.table({
        "image_id": pa.array(ids, pa.int64()),
        # NaN and inf become NULL: a NaN sorts above every number and would top a ranking.
        "score": pa.array(np.where(finite, scores, 0.0), pa.float64(), mask=~finite),
        "components": components,
        "source_row": pa.array(np.flatnonzero(keep) + 1, pa.int64()),
    })
    info = replace(read.declared, is_valid=validation.is_valid,
                   invalid_reason=validation.invalid_reason, n_scored=int(finite.sum()))
    return _Prepared(info=info, rows=rows, unknown_ids=unknown)


def _table(scorer_id: str) -> str:
    """The qualified name of a scorer's imported table."""
    return f"{SCHEMA}.{TABLE_PREFIX}{scorer_id}"


def _unchanged(con: duckdb.DuckDBPyConnection, info: ScorerInfo) -> bool:
    """Whether the scorer's table came from the same file and its registry row would not change.

    The file's path is left out: the same bytes moved elsewhere are the same scores.
    """
    if SCHEMA not in checks.schemas_holding(con, TABLE_PREFIX + info.scorer_id):
        return False
    recorded = con.execute(f"select any_value(source_sha256) from {_table(info.scorer_id)}"
                           ).fetchone()[0]
    registered = get_scorer(con, info.scorer_id)
    if recorded != info.source_sha256 or registered is None:
        return False
    compared = [f.name for f in fields(ScorerInfo) if f.name != "source_file"]
    return all(getattr(registered, name) == getattr(info, name) for name in compared)


def _write(con: duckdb.DuckDBPyConnection, prepared: Sequence[_Prepared]) -> None:
    """Replace each scorer's table and registry row, all in one transaction (or nothing)."""
    if not prepared:
        return
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {SCHEMA}")
        ensure_scorers_table(con)
        for item in prepared:
            con.register(_STAGE, item.rows)
            try:
                con.execute(
                    f"create or replace table {_table(item.info.scorer_id)} as select image_id, "
                    "score, components, source_row, "
                    f"{sql_string(item.info.source_file)}::varchar as source_file, "
                    f"{sql_string(item.info.source_sha256)}::varchar as source_sha256, "
                    f"current_timestamp as imported_at from {_STAGE} order by source_row"
                )
            finally:
                con.unregister(_STAGE)
            upsert_scorer(con, item.info)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
