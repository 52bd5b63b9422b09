"""Readers of the score files the research team makes elsewhere: PIA's res.json, TANet's
my_res.csv, Hugging Face image-classification output and a generic CSV. Each reader turns
one file into one `ScoresRead` per scorer, refusing (NeurostockError, one line) what it
cannot read; matching ids to the warehouse and validation come after (score.importers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import file_sha256
from neurostock.core.scorers import ScorerInfo
from neurostock.score import import_checks as checks
from neurostock.score.image_list import ImageList, read_image_list
from neurostock.score.import_checks import ImportOptions

PIA_ATTRIBUTES = ("BalancingElements", "ColorHarmony", "Content", "DoF", "Light", "Object",
                  "Repetition", "RuleOfThirds", "Symmetry", "VividColor")
PIA_CONTENT = tuple(f"content_{i}" for i in range(10))
DEFAULT_HIGHER_IS = {"pia": "more aesthetic (PIA)", "tanet": "more aesthetic (TANet)"}

_INDEX_HEADER = re.compile(r"|Unnamed: [0-9]+")  # what pandas names an unnamed index column
_NAN_TEXTS = ("nan", "+nan", "-nan")


@dataclass(frozen=True)
class ScoresRead:
    """One scorer's rows as read, in file order (row k has source_row k + 1).

    `declared` is its registry row before validation (verdict fields unset);
    `components` is one name -> value dict per row, or None for the whole file.
    `ids` is None when the rows are matched by position to `image_list`, whose lines
    are matched to images in the warehouse (score.image_list.match_image_list).
    """

    declared: ScorerInfo
    ids: np.ndarray | None
    scores: np.ndarray
    components: list[dict[str, float]] | None
    image_list: ImageList | None = None


def _load_json(options: ImportOptions) -> object:
    """The file parsed as one JSON document."""
    where = f"{options.fmt} file {options.shown}"
    try:
        return json.loads(checks.read_text(options.source, where))
    except json.JSONDecodeError as exc:
        raise NeurostockError(f"{where} is not valid JSON: {exc}") from exc


def _read_csv(options: ImportOptions) -> pd.DataFrame:
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


def _require_columns(options: ImportOptions, frame: pd.DataFrame, names: Sequence[str]) -> None:
    """Refuse a CSV that lacks one of `names`, listing the columns it has."""
    for name in names:
        if name not in frame.columns:
            raise NeurostockError(f"{options.fmt} file {options.shown} has no column {name!r} "
                                  f"(columns: {checks.listing(frame.columns)})")


def _csv_ids(options: ImportOptions, frame: pd.DataFrame, column: str) -> np.ndarray:
    """The integer ids of a CSV column; the first bad one is refused with its line."""
    text = frame[column].str.strip()
    bad = ~text.str.fullmatch(checks.INTEGER.pattern)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        checks.image_id(frame[column].iloc[row], _csv_where(options, row, column))
    ids = [int(t) for t in text]
    for row, number in enumerate(ids):
        if not checks.INT64[0] <= number <= checks.INT64[1]:
            checks.image_id(number, _csv_where(options, row, column))
    return np.array(ids, dtype=np.int64)


def _csv_floats(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, bad): empty cells and nan are NaN, inf parses; bad marks non-numbers."""
    stripped = text.str.strip()
    values = pd.to_numeric(stripped, errors="coerce").astype(np.float64).to_numpy()
    bad = (np.isnan(values) & stripped.ne("").to_numpy()
           & ~stripped.str.lower().isin(_NAN_TEXTS).to_numpy())
    return values, bad


def _csv_scores(options: ImportOptions, frame: pd.DataFrame, column: str) -> np.ndarray:
    """The float scores of a CSV column; a cell that is not a number is refused with its line."""
    values, bad = _csv_floats(frame[column])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise NeurostockError(f"{_csv_where(options, row, column)}: "
                              f"{frame[column].iloc[row]!r} is not a number")
    return values


def _csv_where(options: ImportOptions, row: int, column: str) -> str:
    """Where data row `row` (0-based) of a CSV is: the header is line 1."""
    return f"{options.fmt} file {options.shown} line {row + 2} column {column!r}"


def _declared(options: ImportOptions, scorer_id: str, higher_is: str,
              description: str) -> ScorerInfo:
    """The registry row this import declares, before validation fills in the verdict."""
    return ScorerInfo(
        scorer_id=scorer_id, kind="imported", source_file=str(options.source),
        source_sha256=options.sha, version=options.version,
        higher_is=options.higher_is or higher_is, expected_min=options.expected[0],
        expected_max=options.expected[1], is_valid=True, invalid_reason=None, n_scored=0,
        description=description,
    )


def _list_note(options: ImportOptions) -> str:
    """The description's record of the image list rows were matched to, with its sha256."""
    return (f"matched by position to image list {options.image_list.name} "
            f"(sha256 {file_sha256(options.image_list)})")


def _read_pia(options: ImportOptions) -> list[ScoresRead]:
    """PIA's res.json: predictScoreAll is the score, the 20 features its components."""
    where = f"pia file {options.shown}"
    data = _load_json(options)
    if not isinstance(data, dict) or "predictScoreAll" not in data:
        found = checks.listing(data) if isinstance(data, dict) else type(data).__name__
        raise NeurostockError(f"{where} has no key 'predictScoreAll' (found: {found})")
    raw = _json_list(data["predictScoreAll"], f"{where} predictScoreAll")
    scores = np.array([_pia_score(v, f"{where} predictScoreAll row {i + 1}")
                       for i, v in enumerate(raw)], dtype=np.float64)
    features = [(names, _pia_features(data[key], names, f"{where} {key}", len(raw)))
                for key, names in (("attributesFeature", PIA_ATTRIBUTES),
                                   ("contentFeature", PIA_CONTENT)) if key in data]
    listing = read_image_list(options.image_list)
    checks.check_same_length(options, len(scores), len(listing.lines))
    components = None
    if features:
        components = [{name: value for names, rows in features
                       for name, value in zip(names, rows[i], strict=True)}
                      for i in range(len(scores))]
    description = (f"PIA output {options.source.name}, {_list_note(options)}; components: the "
                   "10 PIA attributes and content_0..content_9")
    declared = _declared(options, options.scorer_id, DEFAULT_HIGHER_IS["pia"], description)
    return [ScoresRead(declared, None, scores, components, listing)]


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
    return checks.json_number(value, where)


def _pia_features(value: object, names: Sequence[str], where: str, n: int) -> list[list[float]]:
    """An N x len(names) feature array, one row per score."""
    rows = _json_list(value, where)
    if len(rows) != n:
        raise NeurostockError(f"{where} has {len(rows)} rows but predictScoreAll has {n}")
    checked = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise NeurostockError(f"{where} row {i + 1} is not a list of {len(names)} numbers")
        checked.append([checks.json_number(v, f"{where} row {i + 1}") for v in row])
    return checked


def _read_tanet(options: ImportOptions) -> list[ScoresRead]:
    """TANet's my_res.csv (`,id,preds`): preds is the score; the pandas index is ignored."""
    frame = _read_csv(options)
    _require_columns(options, frame, ("id", "preds"))
    description = f"TANet predictions {options.source.name}: score = column 'preds'"
    declared = _declared(options, options.scorer_id, DEFAULT_HIGHER_IS["tanet"], description)
    return [ScoresRead(declared, _csv_ids(options, frame, "id"),
                       _csv_scores(options, frame, "preds"), None)]


def _read_generic_csv(options: ImportOptions) -> list[ScoresRead]:
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
        reads.append(ScoresRead(_declared(options, scorer_id, higher, description), ids,
                                _csv_scores(options, frame, column), None))
    return reads


def _score_columns(options: ImportOptions, frame: pd.DataFrame) -> list[str]:
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
                              f"{options.id_column!r} (columns: {checks.listing(frame.columns)})")
    return numeric


def _column_scorer_ids(options: ImportOptions, columns: Sequence[str]) -> list[str]:
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
        checks.check_scorer_id(candidate, f"scorer id for column {column!r}:")
        if candidate in ids:
            raise NeurostockError(f"csv columns {columns[ids.index(candidate)]!r} and {column!r} "
                                  f"would both be scorer {candidate}")
        ids.append(candidate)
    return ids


def _read_hf(options: ImportOptions) -> list[ScoresRead]:
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
    listing = None
    if options.image_list is not None:
        listing = read_image_list(options.image_list)
        checks.check_same_length(options, len(images), len(listing.lines))
    label = _hf_label(options, images)
    description = (f"Hugging Face classifier output {options.source.name}: score = label "
                   f"{label!r} (not the top-1 label); components: every label's score")
    if options.image_list is not None:
        description += f"; {_list_note(options)}"
    declared = _declared(options, options.scorer_id,
                         f"more likely {label!r} (Hugging Face classifier)", description)
    ids = (None if listing is not None
           else np.array([image_id for _, image_id, _ in images], dtype=np.int64))
    scores = np.array([labels[label] for _, _, labels in images], dtype=np.float64)
    return [ScoresRead(declared, ids, scores, [labels for _, _, labels in images], listing)]


def _hf_label(options: ImportOptions,
              images: list[tuple[str, int | None, dict[str, float]]]) -> str:
    """The label to keep: named, and present for every image (the top-1 label is never taken)."""
    where = f"hf file {options.shown}"
    present = sorted({name for _, _, labels in images for name in labels})
    if options.label is None:
        raise NeurostockError(f"{where}: name the label whose score to keep with --label "
                              f"(labels present: {checks.listing(present)})")
    if options.label not in present:
        raise NeurostockError(f"{where}: no image has label {options.label!r} "
                              f"(labels present: {checks.listing(present)})")
    for image_where, image_id, labels in images:
        if options.label not in labels:
            which = f" (image {image_id})" if image_id is not None else ""
            raise NeurostockError(
                f"{image_where}{which} has no {options.label!r} score (its labels: "
                f"{checks.listing(sorted(labels))}): the pipeline keeps only the top_k labels; run "
                "it with top_k=None"
            )
    return options.label


def _hf_images(options: ImportOptions) -> list[tuple[str, int | None, dict[str, float]]]:
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


def _hf_documents(options: ImportOptions) -> list[tuple[str, object]]:
    """The file as one JSON document, or as JSON Lines (where, record) when it has several."""
    where = f"hf file {options.shown}"
    text = checks.read_text(options.source, where)
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
    image_id = (checks.image_id(record["id"], where) if "id" in record
                else checks.id_from_path(record["path"], where))
    predictions = record["predictions"] if "predictions" in record else record["output"]
    return where, image_id, _label_scores(predictions, f"{where} (image {image_id})")


def _hf_keyed(key: str, value: object, where: str) -> tuple[str, int, dict[str, float]]:
    """One entry of a dict keyed by image id or path; its value the predictions (or a record)."""
    image_id = (checks.image_id(key, where) if checks.INTEGER.fullmatch(key.strip())
                else checks.id_from_path(key, where))
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
        scores[label] = checks.json_number(prediction["score"], f"{where} label {label!r}")
    return scores


READERS = {"pia": _read_pia, "tanet": _read_tanet, "hf": _read_hf, "csv": _read_generic_csv}


