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
  different lengths, a Hugging Face label that is not named or missing for an
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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from neurostock.core.errors import NeurostockError
from neurostock.core.warehouse import connect, sql_string
from score.registry import (
    ScorerInfo,
    Validation,
    ensure_scorers_table,
    get_scorer,
    upsert_scorer,
    validate_scores,
)

FORMATS = ("pia", "tanet", "hf", "csv")
SCHEMA = "imported"
TABLE_PREFIX = "scores__"
SCORER_ID_RULE = re.compile(r"[a-z][a-z0-9_]{0,47}")
PIA_ATTRIBUTES = ("BalancingElements", "ColorHarmony", "Content", "DoF", "Light", "Object",
                  "Repetition", "RuleOfThirds", "Symmetry", "VividColor")
PIA_CONTENT = tuple(f"content_{i}" for i in range(10))
# TANet's outputs are mean opinion scores divided by 10 (the TAD66K file spans
# 0.37-0.78); PIA's total score is unbounded (0.37-1.05 on the team's images);
# Hugging Face classifier scores are softmax probabilities.
DEFAULT_RANGES: dict[str, tuple[float | None, float | None]] = {
    "pia": (None, None), "tanet": (0.0, 1.0), "hf": (0.0, 1.0), "csv": (None, None),
}
DEFAULT_HIGHER_IS = {"pia": "more aesthetic (PIA)", "tanet": "more aesthetic (TANet)"}

_COMPONENTS_TYPE = pa.map_(pa.string(), pa.float64())
_INDEX_HEADER = re.compile(r"|Unnamed: [0-9]+")  # what pandas names an unnamed index column
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NAN_TEXTS = ("nan", "+nan", "-nan")
_INT64 = (-(2**63), 2**63 - 1)
_STAGE = "_neurostock_score_stage"
_SHOWN = 10


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
class _Read:
    """One scorer's rows as read, in file order (row k has source_row k + 1).

    `declared` is its registry row before validation (verdict fields unset);
    `components` is one name -> value dict per row, or None for the whole file.
    """

    declared: ScorerInfo
    ids: np.ndarray
    scores: np.ndarray
    components: list[dict[str, float]] | None


@dataclass(frozen=True)
class _Prepared:
    """A scorer ready to write: the rows kept (first of each id), its validated registry row."""

    info: ScorerInfo
    rows: pa.Table
    unknown_ids: int


@dataclass(frozen=True)
class _Options:
    """The checked arguments of one import."""

    fmt: str
    scorer_id: str
    source: Path
    shown: str
    image_list: Path | None
    label: str | None
    id_column: str
    score_columns: tuple[str, ...] | None
    expected: tuple[float | None, float | None]
    higher_is: str | None
    version: str | None
    sha: str


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
    options = _options(fmt, path, scorer_id, image_list, label, id_column, score_columns,
                       expected_range, higher_is, version)
    read = _READERS[fmt](options)
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _import(warehouse, read)
    with connect(warehouse) as con:
        return _import(con, read)


# ---------------------------------------------------------------- arguments


def _options(fmt, path, scorer_id, image_list, label, id_column, score_columns, expected_range,
             higher_is, version) -> _Options:
    """Check every argument and the files' existence; hash the files that decide 'unchanged'."""
    if fmt not in FORMATS:
        raise NeurostockError(f"score format {fmt!r} is not one of {', '.join(FORMATS)}")
    _check_scorer_id(scorer_id, "scorer id")
    _check_format_arguments(fmt, image_list, label, id_column, score_columns)
    if higher_is is not None and (not isinstance(higher_is, str) or not higher_is.strip()):
        raise NeurostockError("--higher-is must say what a higher score means, e.g. "
                              "'more aesthetic'")
    source = _existing_file(path, f"{fmt} file")
    listing = _existing_file(image_list, "image list") if image_list is not None else None
    return _Options(
        fmt=fmt, scorer_id=scorer_id, source=source, shown=str(path), image_list=listing,
        label=label, id_column=id_column,
        score_columns=tuple(score_columns) if score_columns is not None else None,
        expected=_expected(fmt, expected_range), higher_is=higher_is,
        version=None if version is None else str(version), sha=_sha256(source),
    )


def _check_scorer_id(scorer_id: object, what: str) -> None:
    """Refuse an id that cannot be part of a table name."""
    if not isinstance(scorer_id, str) or not SCORER_ID_RULE.fullmatch(scorer_id):
        raise NeurostockError(f"{what} {scorer_id!r} must be lowercase letters, digits and _ "
                              "(starting with a letter, at most 48)")


def _check_format_arguments(fmt: str, image_list, label, id_column, score_columns) -> None:
    """Refuse options the format does not use: a silently ignored option hides a mistake."""
    if fmt == "pia" and image_list is None:
        raise NeurostockError("--format pia needs --image-list: PIA's output has no ids and "
                              "matches the list it ran on only by position")
    if image_list is not None and fmt not in ("pia", "hf"):
        raise NeurostockError(f"--image-list is for --format pia or hf, not {fmt}")
    if label is not None and fmt != "hf":
        raise NeurostockError(f"--label is for --format hf, not {fmt}")
    if fmt != "csv" and (score_columns is not None or id_column != "id"):
        raise NeurostockError(f"--id-column and --score-columns are for --format csv, not {fmt}")
    if fmt == "csv" and (not isinstance(id_column, str) or not id_column):
        raise NeurostockError("--id-column must name a column")
    if score_columns is not None and (isinstance(score_columns, str) or not score_columns):
        raise NeurostockError("--score-columns must name one or more columns")


def _expected(fmt: str, expected_range) -> tuple[float | None, float | None]:
    """The declared (min, max): the argument checked, else the format's default."""
    if expected_range is None:
        return DEFAULT_RANGES[fmt]
    if isinstance(expected_range, str) or not isinstance(expected_range, Sequence) \
            or len(expected_range) != 2:
        raise NeurostockError(f"expected range {expected_range!r} must be (min, max)")
    bounds = []
    for bound in expected_range:
        if bound is None:
            bounds.append(None)
            continue
        try:
            value = float(bound)
        except (TypeError, ValueError):
            value = math.nan
        if isinstance(bound, bool) or not math.isfinite(value):
            raise NeurostockError(f"expected range bound {bound!r} is not a finite number")
        bounds.append(value)
    low, high = bounds
    if low is not None and high is not None and low >= high:
        raise NeurostockError(f"expected range [{low:g}, {high:g}]: min must be below max")
    return low, high


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    """The resolved file; NeurostockError if it is missing, not a file, or empty."""
    source = Path(path).expanduser().resolve()
    if not source.exists():
        raise NeurostockError(f"{what} {path} does not exist")
    if not source.is_file():
        raise NeurostockError(f"{what} {path} is not a file")
    if source.stat().st_size == 0:
        raise NeurostockError(f"{what} {path} is empty")
    return source


def _sha256(source: Path) -> str:
    """sha256 of the file's bytes as they are now."""
    with open(source, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# ---------------------------------------------------------------- ids and numbers


def _image_id(value: object, where: str) -> int:
    """An image id from a JSON value or text: an int, or the text of one, within BIGINT."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise NeurostockError(f"{where}: id {value!r} is not an integer")
    if not _INT64[0] <= number <= _INT64[1]:
        raise NeurostockError(f"{where}: id {value!r} does not fit a BIGINT")
    return number


def _id_from_path(text: object, where: str) -> int:
    """The image id a path names: its file name's stem (`.../all_data/1/23.jpg` -> 23)."""
    if not isinstance(text, str):
        raise NeurostockError(f"{where}: path {text!r} is not text")
    name = re.split(r"[\\/]", text.strip())[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    if not stem.isascii() or not stem.isdigit():
        raise NeurostockError(f"{where}: {text!r} does not name an integer image id "
                              f"(file name {name!r})")
    return _image_id(stem, where)


def _json_number(value: object, where: str) -> float:
    """A JSON score as a float: null is NaN (a missing score, counted later); text is refused."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NeurostockError(f"{where}: {value!r} is not a number")
    return float(value)


def _list_ids(options: _Options) -> np.ndarray:
    """The ids of the image list, one per line in order; blank lines only at the end."""
    where = f"image list {options.image_list}"
    lines = _read_text(options.image_list, where).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    ids = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise NeurostockError(f"{where} line {number} is blank: a blank line would shift "
                                  "every later image by one position")
        ids.append(_id_from_path(line, f"{where} line {number}"))
    if not ids:
        raise NeurostockError(f"{where} has no images")
    return np.array(ids, dtype=np.int64)


def _check_same_length(options: _Options, n_scores: int, n_images: int) -> None:
    """Refuse positional output whose length differs from the list it is matched to."""
    if n_scores != n_images:
        raise NeurostockError(
            f"{options.fmt} file {options.shown} has {n_scores} scores but image list "
            f"{options.image_list} has {n_images} images: rows are matched by position, so "
            "this is not the list the model ran on"
        )


# ---------------------------------------------------------------- file readers


def _read_text(source: Path, where: str) -> str:
    """The file as UTF-8 text (a byte-order mark dropped)."""
    try:
        return source.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NeurostockError(f"{where} is not UTF-8 text: {exc}") from exc


def _load_json(options: _Options) -> object:
    """The file parsed as one JSON document."""
    where = f"{options.fmt} file {options.shown}"
    try:
        return json.loads(_read_text(options.source, where))
    except json.JSONDecodeError as exc:
        raise NeurostockError(f"{where} is not valid JSON: {exc}") from exc


def _read_csv(options: _Options) -> pd.DataFrame:
    """The CSV as text cells (no type guessing, empty cells kept as ''), with data rows."""
    where = f"{options.fmt} file {options.shown}"
    try:
        frame = pd.read_csv(options.source, dtype=str, keep_default_na=False, na_filter=False,
                            encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise NeurostockError(f"{where} is empty (no header)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0]
        raise NeurostockError(f"{where}: cannot read it as CSV: {detail}") from exc
    if frame.empty:
        raise NeurostockError(f"{where} has a header but no data rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _require_columns(options: _Options, frame: pd.DataFrame, names: Sequence[str]) -> None:
    """Refuse a CSV that lacks one of `names`, listing the columns it has."""
    for name in names:
        if name not in frame.columns:
            raise NeurostockError(f"{options.fmt} file {options.shown} has no column {name!r} "
                                  f"(columns: {_listing(frame.columns)})")


def _csv_ids(options: _Options, frame: pd.DataFrame, column: str) -> np.ndarray:
    """The integer ids of a CSV column; the first bad one is refused with its line."""
    text = frame[column].str.strip()
    bad = ~text.str.fullmatch(_INTEGER.pattern)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        _image_id(frame[column].iloc[row], _csv_where(options, row, column))
    ids = [int(t) for t in text]
    for row, number in enumerate(ids):
        if not _INT64[0] <= number <= _INT64[1]:
            _image_id(number, _csv_where(options, row, column))
    return np.array(ids, dtype=np.int64)


def _csv_floats(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, bad): empty cells and nan are NaN, inf parses; bad marks non-numbers."""
    stripped = text.str.strip()
    values = pd.to_numeric(stripped, errors="coerce").astype(np.float64).to_numpy()
    bad = (np.isnan(values) & stripped.ne("").to_numpy()
           & ~stripped.str.lower().isin(_NAN_TEXTS).to_numpy())
    return values, bad


def _csv_scores(options: _Options, frame: pd.DataFrame, column: str) -> np.ndarray:
    """The float scores of a CSV column; a cell that is not a number is refused with its line."""
    values, bad = _csv_floats(frame[column])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise NeurostockError(f"{_csv_where(options, row, column)}: "
                              f"{frame[column].iloc[row]!r} is not a number")
    return values


def _csv_where(options: _Options, row: int, column: str) -> str:
    """Where data row `row` (0-based) of a CSV is: the header is line 1."""
    return f"{options.fmt} file {options.shown} line {row + 2} column {column!r}"


def _declared(options: _Options, scorer_id: str, higher_is: str, description: str) -> ScorerInfo:
    """The registry row this import declares, before validation fills in the verdict."""
    return ScorerInfo(
        scorer_id=scorer_id, kind="imported", source_file=str(options.source),
        source_sha256=options.sha, version=options.version,
        higher_is=options.higher_is or higher_is, expected_min=options.expected[0],
        expected_max=options.expected[1], is_valid=True, invalid_reason=None, n_scored=0,
        description=description,
    )


def _list_note(options: _Options) -> str:
    """The description's record of the image list rows were matched to, with its sha256."""
    return (f"matched by position to image list {options.image_list.name} "
            f"(sha256 {_sha256(options.image_list)})")


def _read_pia(options: _Options) -> list[_Read]:
    """PIA's res.json: predictScoreAll is the score, the 20 features its components."""
    where = f"pia file {options.shown}"
    data = _load_json(options)
    if not isinstance(data, dict) or "predictScoreAll" not in data:
        found = _listing(data) if isinstance(data, dict) else type(data).__name__
        raise NeurostockError(f"{where} has no key 'predictScoreAll' (found: {found})")
    raw = _json_list(data["predictScoreAll"], f"{where} predictScoreAll")
    scores = np.array([_pia_score(v, f"{where} predictScoreAll row {i + 1}")
                       for i, v in enumerate(raw)], dtype=np.float64)
    features = [(names, _pia_features(data[key], names, f"{where} {key}", len(raw)))
                for key, names in (("attributesFeature", PIA_ATTRIBUTES),
                                   ("contentFeature", PIA_CONTENT)) if key in data]
    ids = _list_ids(options)
    _check_same_length(options, len(scores), len(ids))
    components = None
    if features:
        components = [{name: value for names, rows in features
                       for name, value in zip(names, rows[i], strict=True)}
                      for i in range(len(scores))]
    description = (f"PIA output {options.source.name}, {_list_note(options)}; components: the "
                   "10 PIA attributes and content_0..content_9")
    declared = _declared(options, options.scorer_id, DEFAULT_HIGHER_IS["pia"], description)
    return [_Read(declared, ids, scores, components)]


def _json_list(value: object, where: str) -> list:
    """`value`, which must be a non-empty JSON array."""
    if not isinstance(value, list) or not value:
        raise NeurostockError(f"{where} must be a non-empty list")
    return value


def _pia_score(value: object, where: str) -> float:
    """One predictScoreAll entry: a number, or a number wrapped in one-element lists ([[x]])."""
    while isinstance(value, list):
        if len(value) != 1:
            raise NeurostockError(f"{where}: {value!r} is not one number")
        value = value[0]
    return _json_number(value, where)


def _pia_features(value: object, names: Sequence[str], where: str, n: int) -> list[list[float]]:
    """An N x len(names) feature array, one row per score."""
    rows = _json_list(value, where)
    if len(rows) != n:
        raise NeurostockError(f"{where} has {len(rows)} rows but predictScoreAll has {n}")
    checked = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise NeurostockError(f"{where} row {i + 1} is not a list of {len(names)} numbers")
        checked.append([_json_number(v, f"{where} row {i + 1}") for v in row])
    return checked


def _read_tanet(options: _Options) -> list[_Read]:
    """TANet's my_res.csv (`,id,preds`): preds is the score; the pandas index is ignored."""
    frame = _read_csv(options)
    _require_columns(options, frame, ("id", "preds"))
    description = f"TANet predictions {options.source.name}: score = column 'preds'"
    declared = _declared(options, options.scorer_id, DEFAULT_HIGHER_IS["tanet"], description)
    return [_Read(declared, _csv_ids(options, frame, "id"), _csv_scores(options, frame, "preds"),
                  None)]


def _read_generic_csv(options: _Options) -> list[_Read]:
    """An id column and score columns; one scorer per score column (`<id>__<column>`)."""
    frame = _read_csv(options)
    _require_columns(options, frame, (options.id_column,))
    columns = _score_columns(options, frame)
    ids = _csv_ids(options, frame, options.id_column)
    scorer_ids = _column_scorer_ids(options, columns)
    reads = []
    for column, scorer_id in zip(columns, scorer_ids, strict=True):
        description = (f"CSV {options.source.name}: score = column {column!r}, "
                       f"id = column {options.id_column!r}")
        higher = f"higher {column!r} (meaning not declared: pass --higher-is)"
        reads.append(_Read(_declared(options, scorer_id, higher, description), ids,
                           _csv_scores(options, frame, column), None))
    return reads


def _score_columns(options: _Options, frame: pd.DataFrame) -> list[str]:
    """The named score columns (checked to exist), else every other numeric column."""
    if options.score_columns is not None:
        _require_columns(options, frame, options.score_columns)
        if options.id_column in options.score_columns:
            raise NeurostockError(f"column {options.id_column!r} is the id column, not a score")
        if len(set(options.score_columns)) != len(options.score_columns):
            raise NeurostockError(f"--score-columns names a column twice: "
                                  f"{', '.join(options.score_columns)}")
        return list(options.score_columns)
    numeric = []
    for column in frame.columns:
        if column == options.id_column or _INDEX_HEADER.fullmatch(column):
            continue
        values, bad = _csv_floats(frame[column])
        if not bad.any() and not np.isnan(values).all():
            numeric.append(column)
    if not numeric:
        raise NeurostockError(f"csv file {options.shown} has no numeric score column besides "
                              f"{options.id_column!r} (columns: {_listing(frame.columns)})")
    return numeric


def _column_scorer_ids(options: _Options, columns: Sequence[str]) -> list[str]:
    """The scorer id itself for one column; `<id>__<column as an id>` for each of several."""
    if len(columns) == 1:
        return [options.scorer_id]
    ids = []
    for column in columns:
        slug = re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")
        candidate = f"{options.scorer_id}__{slug}"
        if not slug:
            raise NeurostockError(f"csv column {column!r} cannot be part of a scorer id: name "
                                  "the columns to import with --score-columns")
        _check_scorer_id(candidate, f"scorer id for column {column!r}:")
        if candidate in ids:
            raise NeurostockError(f"csv columns {columns[ids.index(candidate)]!r} and {column!r} "
                                  f"would both be scorer {candidate}")
        ids.append(candidate)
    return ids


def _read_hf(options: _Options) -> list[_Read]:
    """Hugging Face image-classification output: the score is the named label's, for every image."""
    where = f"hf file {options.shown}"
    images = _hf_images(options)
    positional = [image_id is None for _, image_id, _ in images]
    if any(positional) and not all(positional):
        first = positional.index(not positional[0])
        raise NeurostockError(f"{images[first][0]} mixes images with and without ids")
    if all(positional) and options.image_list is None:
        raise NeurostockError(f"{where} is a list of predictions without ids: pass the image "
                              "list it ran on with --image-list")
    if not all(positional) and options.image_list is not None:
        raise NeurostockError(f"{where} names its images itself: --image-list is only for "
                              "output without ids")
    if options.image_list is not None:
        ids = _list_ids(options)
        _check_same_length(options, len(images), len(ids))
        images = [(w, image_id, labels) for (w, _, labels), image_id in zip(images, ids.tolist(),
                                                                            strict=True)]
    label = _hf_label(options, images)
    description = (f"Hugging Face classifier output {options.source.name}: score = label "
                   f"{label!r} (not the top-1 label); components: every label's score")
    if options.image_list is not None:
        description += f"; {_list_note(options)}"
    declared = _declared(options, options.scorer_id,
                         f"more likely {label!r} (Hugging Face classifier)", description)
    ids = np.array([image_id for _, image_id, _ in images], dtype=np.int64)
    scores = np.array([labels[label] for _, _, labels in images], dtype=np.float64)
    return [_Read(declared, ids, scores, [labels for _, _, labels in images])]


def _hf_label(options: _Options, images: list[tuple[str, int, dict[str, float]]]) -> str:
    """The label to keep: named, and present for every image (the top-1 label is never taken)."""
    where = f"hf file {options.shown}"
    present = sorted({name for _, _, labels in images for name in labels})
    if options.label is None:
        raise NeurostockError(f"{where}: name the label whose score to keep with --label "
                              f"(labels present: {_listing(present)})")
    if options.label not in present:
        raise NeurostockError(f"{where}: no image has label {options.label!r} "
                              f"(labels present: {_listing(present)})")
    for image_where, image_id, labels in images:
        if options.label not in labels:
            raise NeurostockError(
                f"{image_where} (image {image_id}) has no {options.label!r} score (its labels: "
                f"{_listing(sorted(labels))}): the pipeline keeps only the top_k labels; run "
                "it with top_k=None"
            )
    return options.label


def _hf_images(options: _Options) -> list[tuple[str, int | None, dict[str, float]]]:
    """(where, image id or None when positional, label -> score) per image, in file order."""
    where = f"hf file {options.shown}"
    documents = _hf_documents(options)
    if len(documents) > 1:  # JSON Lines: one record per line
        return [_hf_record(record, line_where) for line_where, record in documents]
    data = documents[0][1]
    if isinstance(data, dict) and _is_record(data):
        return [_hf_record(data, where)]
    if isinstance(data, dict):
        return [_hf_keyed(key, value, f"{where} key {key!r}") for key, value in data.items()]
    if not isinstance(data, list):
        raise NeurostockError(f"{where} must hold a JSON list, a dict keyed by image id or "
                              "path, or JSON Lines records")
    items = _json_list(data, where)
    if all(isinstance(item, dict) and "label" in item for item in items):
        raise NeurostockError(f"{where} is the output for one image without its id: write it as "
                              "{\"<id>\": [...]} or pass a list of per-image lists")
    images = []
    for number, item in enumerate(items, start=1):
        item_where = f"{where} item {number}"
        if isinstance(item, list):
            images.append((item_where, None, _label_scores(item, item_where)))
        elif isinstance(item, dict) and _is_record(item):
            images.append(_hf_record(item, item_where))
        else:
            raise NeurostockError(f"{item_where} is neither a list of {{label, score}} nor a "
                                  "record with 'id' or 'path' and 'predictions' or 'output'")
    return images


def _hf_documents(options: _Options) -> list[tuple[str, object]]:
    """The file as one JSON document, or as JSON Lines (where, record) when it has several."""
    where = f"hf file {options.shown}"
    text = _read_text(options.source, where)
    try:
        return [(where, json.loads(text))]
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise NeurostockError(f"{where} is not valid JSON: {exc}") from exc
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        line_where = f"{where} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise NeurostockError(f"{line_where} is not valid JSON: {exc}") from exc
        if not isinstance(record, dict) or not _is_record(record):
            raise NeurostockError(f"{line_where} is not a record with 'id' or 'path' and "
                                  "'predictions' or 'output'")
        documents.append((line_where, record))
    return documents


def _is_record(value: dict) -> bool:
    """Whether a JSON object is one image's record: an id or path and its predictions."""
    return ("id" in value or "path" in value) and ("predictions" in value or "output" in value)


def _hf_record(record: dict, where: str) -> tuple[str, int, dict[str, float]]:
    """One record: its id (`id`, else the stem of `path`) and its label scores."""
    image_id = (_image_id(record["id"], where) if "id" in record
                else _id_from_path(record["path"], where))
    predictions = record["predictions"] if "predictions" in record else record["output"]
    return where, image_id, _label_scores(predictions, f"{where} (image {image_id})")


def _hf_keyed(key: str, value: object, where: str) -> tuple[str, int, dict[str, float]]:
    """One entry of a dict keyed by image id or path; its value the predictions (or a record)."""
    image_id = (_image_id(key, where) if _INTEGER.fullmatch(key.strip())
                else _id_from_path(key, where))
    if isinstance(value, dict):
        value = value.get("predictions", value.get("output"))
    return where, image_id, _label_scores(value, f"{where} (image {image_id})")


def _label_scores(predictions: object, where: str) -> dict[str, float]:
    """label -> score from a list of {"label", "score"}; a label given twice is refused."""
    if not isinstance(predictions, list) or not predictions:
        raise NeurostockError(f"{where}: predictions must be a non-empty list of "
                              "{label, score}")
    scores: dict[str, float] = {}
    for prediction in predictions:
        if not isinstance(prediction, dict) or "label" not in prediction \
                or "score" not in prediction:
            raise NeurostockError(f"{where}: {prediction!r} is not a {{label, score}} object")
        label = str(prediction["label"])
        if label in scores:
            raise NeurostockError(f"{where}: label {label!r} appears twice")
        scores[label] = _json_number(prediction["score"], f"{where} label {label!r}")
    return scores


_READERS = {"pia": _read_pia, "tanet": _read_tanet, "hf": _read_hf, "csv": _read_generic_csv}


def _listing(names) -> str:
    """Up to 10 names, comma-separated, and how many more."""
    names = [str(n) for n in names]
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


# ---------------------------------------------------------------- warehouse


def _import(con: duckdb.DuckDBPyConnection, reads: list[_Read]) -> list[ScoreImportSummary]:
    """Validate against the warehouse, then write the scorers that changed in one transaction."""
    for read in reads:
        _check_not_computed(con, read.declared.scorer_id)
    valid_ids = _valid_image_ids(con)
    prepared = [_prepare(read, valid_ids) for read in reads]
    changed = [p for p in prepared if not _unchanged(con, p.info)]
    _write(con, changed)
    return [ScoreImportSummary(
        scorer_id=p.info.scorer_id, rows=p.rows.num_rows,
        status="imported" if p in changed else "unchanged", is_valid=p.info.is_valid,
        invalid_reason=p.info.invalid_reason, unknown_ids=p.unknown_ids,
    ) for p in prepared]


def _check_not_computed(con: duckdb.DuckDBPyConnection, scorer_id: str) -> None:
    """Refuse to overwrite a scorer the warehouse computes itself."""
    registered = get_scorer(con, scorer_id)
    if registered is not None and registered.kind != "imported":
        raise NeurostockError(f"scorer id {scorer_id} is a {registered.kind} scorer, not an "
                              "imported one: import under another id")


def _schemas_holding(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """The schemas of this database that have a table or view called `name`."""
    return [row[0] for row in con.execute(
        "select table_schema from information_schema.tables "
        "where table_catalog = current_database() and table_name = ? order by 1", [name]
    ).fetchall()]


def _valid_image_ids(con: duckdb.DuckDBPyConnection) -> np.ndarray | None:
    """The ids of int_images_checked where is_valid, or None before the first dbt build."""
    schemas = _schemas_holding(con, "int_images_checked")
    if not schemas:
        return None
    schema = "main" if "main" in schemas else schemas[0]
    ids = con.execute(
        f'select distinct image_id from "{schema}".int_images_checked '
        "where is_valid and image_id is not null"
    ).fetchnumpy()["image_id"]
    return np.asarray(ids, dtype=np.int64)


def _prepare(read: _Read, valid_ids: np.ndarray | None) -> _Prepared:
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
    if SCHEMA not in _schemas_holding(con, TABLE_PREFIX + info.scorer_id):
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
