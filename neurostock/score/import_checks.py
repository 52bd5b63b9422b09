"""The checks of a score import: its arguments, ids and numbers as read from the files, and
what the warehouse already holds. Each refusal is one NeurostockError line naming the
file, line, row, id or column."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import file_sha256
from neurostock.core.scorers import get_scorer

FORMATS = ("pia", "tanet", "hf", "csv")
SCORER_ID_RULE = re.compile(r"[a-z][a-z0-9_]{0,47}")
# TANet's outputs are mean opinion scores divided by 10 (the TAD66K file spans
# 0.37-0.78); PIA's total score is unbounded (0.37-1.05 on the team's images);
# Hugging Face classifier scores are softmax probabilities.
DEFAULT_RANGES: dict[str, tuple[float | None, float | None]] = {
    "pia": (None, None), "tanet": (0.0, 1.0), "hf": (0.0, 1.0), "csv": (None, None),
}
INTEGER = re.compile(r"[+-]?[0-9]+")
INT64 = (-(2**63), 2**63 - 1)
_SHOWN = 10


@dataclass(frozen=True)
class ImportOptions:
    """The checked arguments of one import; `sha` is the score file's sha256."""

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


def import_options(fmt, path, scorer_id, image_list, label, id_column, score_columns,
                   expected_range, higher_is, version) -> ImportOptions:
    """Check every argument and the files' existence; hash the file that decides 'unchanged'."""
    if fmt not in FORMATS:
        raise NeurostockError(f"score format {fmt!r} is not one of {', '.join(FORMATS)}")
    check_scorer_id(scorer_id, "scorer id")
    _check_format_arguments(fmt, image_list, label, id_column, score_columns)
    if higher_is is not None and (not isinstance(higher_is, str) or not higher_is.strip()):
        raise NeurostockError("--higher-is must say what a higher score means, e.g. "
                              "'more aesthetic'")
    source = _existing_file(path, f"{fmt} file")
    listing = _existing_file(image_list, "image list") if image_list is not None else None
    return ImportOptions(
        fmt=fmt, scorer_id=scorer_id, source=source, shown=str(path), image_list=listing,
        label=label, id_column=id_column,
        score_columns=tuple(score_columns) if score_columns is not None else None,
        expected=_expected(fmt, expected_range), higher_is=higher_is,
        version=None if version is None else str(version), sha=file_sha256(source),
    )


def check_scorer_id(scorer_id: object, what: str) -> None:
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


def read_text(source: Path, where: str) -> str:
    """The file as UTF-8 text (a byte-order mark dropped)."""
    try:
        return source.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NeurostockError(f"{where} is not UTF-8 text: {exc}") from exc


# ---------------------------------------------------------------- ids and numbers


def image_id(value: object, where: str) -> int:
    """An image id from a JSON value or text: an int, or the text of one, within BIGINT."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise NeurostockError(f"{where}: id {value!r} is not an integer")
    if not INT64[0] <= number <= INT64[1]:
        raise NeurostockError(f"{where}: id {value!r} does not fit a BIGINT")
    return number


def file_name(text: str) -> str:
    """The last component of a path, with / or \\ as separators."""
    return re.split(r"[\\/]", text.strip())[-1]


def _digit_stem(text: str) -> str | None:
    """A path's file name stem when it is ASCII digits (`.../all_data/1/23.jpg` -> "23")."""
    name = file_name(text)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return stem if stem.isascii() and stem.isdigit() else None


def stem_id(text: str) -> int | None:
    """The image id a path's file name stem is, or None when the stem is not one."""
    stem = _digit_stem(text)
    return int(stem) if stem is not None and int(stem) <= INT64[1] else None


def id_from_path(text: object, where: str) -> int:
    """The image id a path names by its file name's stem; refused when the stem is not one."""
    if not isinstance(text, str):
        raise NeurostockError(f"{where}: path {text!r} is not text")
    stem = _digit_stem(text)
    if stem is None:
        raise NeurostockError(f"{where}: {text!r} does not name an integer image id "
                              f"(file name {file_name(text)!r})")
    return image_id(stem, where)


def json_number(value: object, where: str) -> float:
    """A JSON score as a float: null is NaN (a missing score, counted later); text is refused."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NeurostockError(f"{where}: {value!r} is not a number")
    return float(value)


def check_same_length(options: ImportOptions, n_scores: int, n_images: int) -> None:
    """Refuse positional output whose length differs from the list it is matched to."""
    if n_scores != n_images:
        raise NeurostockError(
            f"{options.fmt} file {options.shown} has {n_scores} scores but image list "
            f"{options.image_list} has {n_images} images: rows are matched by position, so "
            "this is not the list the model ran on"
        )


def listing(names) -> str:
    """Up to 10 names, comma-separated, and how many more."""
    names = [str(n) for n in names]
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


# ---------------------------------------------------------------- the warehouse


def check_not_computed(con: duckdb.DuckDBPyConnection, scorer_id: str) -> None:
    """Refuse to overwrite a scorer the warehouse computes itself."""
    registered = get_scorer(con, scorer_id)
    if registered is not None and registered.kind != "imported":
        raise NeurostockError(f"scorer id {scorer_id} is a {registered.kind} scorer, not an "
                              "imported one: import under another id")


def schemas_holding(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """The schemas of this database that have a table or view called `name`."""
    return [row[0] for row in con.execute(
        "select table_schema from information_schema.tables "
        "where table_catalog = current_database() and table_name = ? order by 1", [name]
    ).fetchall()]


def checked_images_table(con: duckdb.DuckDBPyConnection) -> str | None:
    """The qualified name of dbt's int_images_checked, or None before the first build."""
    schemas = schemas_holding(con, "int_images_checked")
    if not schemas:
        return None
    schema = "main" if "main" in schemas else schemas[0]
    return f'"{schema}".int_images_checked'


def valid_image_ids(con: duckdb.DuckDBPyConnection) -> np.ndarray | None:
    """The ids of int_images_checked where is_valid, or None before the first dbt build."""
    table = checked_images_table(con)
    if table is None:
        return None
    ids = con.execute(
        f"select distinct image_id from {table} where is_valid and image_id is not null"
    ).fetchnumpy()["image_id"]
    return np.asarray(ids, dtype=np.int64)
