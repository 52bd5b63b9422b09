"""Image lists: the text file a positional model output (PIA's res.json, a Hugging Face
list without ids) was computed on, one image per line, and the image each line is.

A line is matched to an image of the warehouse, first rule that applies:

1. by id: its file name's stem is digits (`all_data/1/23.jpg` is image 23);
2. by path: a valid image of int_images_checked has it as `img_path` (the server path,
   e.g. `/media/s1/dataset/neurostocker/core/2022/12/14/6_a_cat..jpg`), or files.images
   has it as `img_path` or `resolved_path` (after the `images.map` prefix mapping);
3. by file name: a valid image has the line's last path component as `img_name`.

A file name shared by several images is refused, naming the images. A path that is the
file of several images (the team's server overwrote a file: 66 of big_set's paths name
two ids each) scores each of them when the list names it once per image: the images
get the lines in id order, and the lines must carry the same score, since they are one
file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from neurostock.core.errors import NeurostockError
from neurostock.score import import_checks as checks

_LINES = "_neurostock_image_list_lines"


@dataclass(frozen=True)
class ImageList:
    """The lines of an image list, stripped, in order (line k + 1 is lines[k])."""

    path: Path
    lines: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"image list {self.path}"


@dataclass(frozen=True)
class ListMatch:
    """The image id of each line; `same_file` holds (path, line indices) of each path that is
    the file of several images and is listed once per image; `note` says how lines matched."""

    ids: np.ndarray
    same_file: tuple[tuple[str, tuple[int, ...]], ...]
    note: str


def read_image_list(path: Path) -> ImageList:
    """The list's lines; blank lines are allowed only at the end (NeurostockError otherwise)."""
    where = f"image list {path}"
    lines = checks.read_text(path, where).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise NeurostockError(f"{where} line {number} is blank: a blank line would shift "
                                  "every later image by one position")
    if not lines:
        raise NeurostockError(f"{where} has no images")
    return ImageList(path, tuple(line.strip() for line in lines))


def match_image_list(con: duckdb.DuckDBPyConnection, image_list: ImageList) -> ListMatch:
    """The image each line is (see the module docstring); NeurostockError naming the line
    for a line that matches no image, or a file name or path whose image is ambiguous."""
    ids = np.zeros(len(image_list.lines), dtype=np.int64)
    rest = []
    for index, line in enumerate(image_list.lines):
        number = checks.stem_id(line)
        if number is None:
            rest.append(index)
        else:
            ids[index] = number
    counts = {"id": len(image_list.lines) - len(rest), "path": 0, "file name": 0}
    same_file: list[tuple[str, tuple[int, ...]]] = []
    if rest:
        matches = _match_paths_and_names(con, image_list, rest)
        shared: dict[str, tuple[list[int], list[int]]] = {}
        for index in rest:
            line = image_list.lines[index]
            how, found = matches.get(index, (None, []))
            where = f"{image_list.where} line {index + 1}"
            if not found:
                raise NeurostockError(
                    f"{where}: {line!r} matches no image of the warehouse: its file name is not "
                    "an image id, and no valid image has it as img_path, resolved path or "
                    "img_name")
            if how == "file name" and len(found) > 1:
                raise NeurostockError(
                    f"{where}: file name {checks.file_name(line)!r} is the img_name of "
                    f"{len(found)} images (ids {checks.listing(found)}): list them by path "
                    "or by id")
            counts[how] += 1
            if len(found) == 1:
                ids[index] = found[0]
            else:
                shared.setdefault(line, (found, []))[1].append(index)
        for line, (found, indices) in shared.items():
            if len(indices) != len(found):
                raise NeurostockError(
                    f"{image_list.where} line {indices[0] + 1}: path {line!r} is the file of "
                    f"{len(found)} images (ids {checks.listing(found)}) but the list names it "
                    f"{len(indices)} time(s) (lines {checks.listing(i + 1 for i in indices)}): "
                    "which line is which image cannot be told")
            ids[indices] = found
            same_file.append((line, tuple(indices)))
    note = ("lines matched by id " + str(counts["id"]) + ", by path " + str(counts["path"])
            + ", by file name " + str(counts["file name"]))
    if same_file:
        note += (f"; {len(same_file)} listed path(s) each the file of several images, "
                 "listed once per image")
    return ListMatch(ids, tuple(same_file), note)


def check_same_file_scores(match: ListMatch, scores: np.ndarray, where: str) -> None:
    """Refuse rows of one file (several images, see ListMatch.same_file) whose scores differ:
    then the output was not computed on this list."""
    for line, indices in match.same_file:
        values = scores[list(indices)]
        if not np.allclose(values, values[0], rtol=1e-6, atol=0.0, equal_nan=True):
            raise NeurostockError(
                f"{where} rows {checks.listing(i + 1 for i in indices)} are one file, {line!r} "
                f"(the image list names it once per image), but have different scores "
                f"{checks.listing(f'{v:g}' for v in values)}: the output is not of this list")


def _match_paths_and_names(con: duckdb.DuckDBPyConnection, image_list: ImageList,
                           indices: list[int]) -> dict[int, tuple[str, list[int]]]:
    """line index -> ("path" or "file name", the sorted ids it names) for lines that name
    images; NeurostockError when the warehouse has nothing to match them against."""
    table = checks.checked_images_table(con)
    columns = _columns(con, table) if table else set()
    if not {"img_path", "img_name"} <= columns:
        first = image_list.lines[indices[0]]
        raise NeurostockError(
            f"{image_list.where} line {indices[0] + 1}: {first!r} does not name an integer image "
            f"id (file name {checks.file_name(first)!r}), and the warehouse has no "
            "int_images_checked with img_path and img_name to match paths and file names "
            "against: run `neurostock build` first")
    valid = f"select * from {table} where is_valid and image_id is not null"
    paths = f"select image_id, img_path as path from ({valid})"
    if {"image_id", "img_path", "resolved_path"} <= _columns(con, '"files".images'):
        paths += (" union select image_id, img_path from files.images"
                  " union select image_id, resolved_path from files.images")
    lines = pa.table({
        "line": pa.array(indices, pa.int64()),
        "text": pa.array([image_list.lines[i] for i in indices], pa.string()),
        "name": pa.array([checks.file_name(image_list.lines[i]) for i in indices], pa.string()),
    })
    con.register(_LINES, lines)
    try:
        rows = con.execute(f"""
            with paths as ({paths}),
            by_path as (
                select lines.line, list_sort(list(distinct paths.image_id)) as ids
                from {_LINES} as lines inner join paths on paths.path = lines.text
                group by lines.line
            ),
            by_name as (
                select lines.line, list_sort(list(distinct images.image_id)) as ids
                from {_LINES} as lines inner join ({valid}) as images
                    on images.img_name = lines.name
                where lines.line not in (select line from by_path)
                group by lines.line
            )
            select line, 'path', ids from by_path
            union all
            select line, 'file name', ids from by_name
        """).fetchall()
    finally:
        con.unregister(_LINES)
    return {line: (how, ids) for line, how, ids in rows}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The column names of `table` ("schema".name), or none when it does not exist."""
    schema, name = table.replace('"', "").split(".")
    return {row[0] for row in con.execute(
        "select column_name from information_schema.columns where table_catalog = "
        "current_database() and table_schema = ? and table_name = ?", [schema, name]
    ).fetchall()}
