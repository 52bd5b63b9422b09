"""Tiny real SQLite sources in the team's schema, for tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

IMG_INFO_DDL = (
    "create table img_info (id integer primary key autoincrement, img_path text, "
    "img_name text, generation_date text, experiment_model_id integer, "
    "experiment_number integer, img_generation_promt text)"
)
METADATA_DDL = (
    "create table metadata (rating integer, rating_date text, annotator_id integer, id integer)"
)
USER_DDL = "create table user (id integer primary key autoincrement, name text)"


def image_row(image_id: int, prompt: str | None = None, name: str | None = None) -> tuple:
    """A plausible img_info row for `image_id`."""
    prompt = prompt if prompt is not None else f"6_A_picture_number_{image_id}.."
    name = name if name is not None else f"{prompt}.jpg"
    return (
        image_id,
        f"/media/s1/dataset/neurostocker/core/2022/12/14/{name}",
        name,
        "2022-12-14T23:01:11.924645",
        1,
        6,
        prompt,
    )


def make_source(
    path: Path,
    images: Iterable[Sequence] = (),
    ratings: Iterable[Sequence] = (),
    skip_tables: Sequence[str] = (),
    metadata_ddl: str = METADATA_DDL,
) -> Path:
    """Write an SQLite file with the real schema and the given rows; returns its path."""
    con = sqlite3.connect(path)
    with con:
        if "img_info" not in skip_tables:
            con.execute(IMG_INFO_DDL)
            con.executemany("insert into img_info values (?, ?, ?, ?, ?, ?, ?)", images)
        if "metadata" not in skip_tables:
            con.execute(metadata_ddl)
            n = len(metadata_ddl.split("(", 1)[1].split(","))
            con.executemany(f"insert into metadata values ({', '.join('?' * n)})", ratings)
        con.execute(USER_DDL)
        con.execute("insert into user (name) values ('annotator one'), ('annotator two')")
    con.close()
    return path
