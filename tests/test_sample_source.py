"""Tests for sampledata.source: the synthetic core.download.db and its image files."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neurostock.sampledata.pictures import synthetic_picture
from neurostock.sampledata.source import (
    ASSETS_DIR,
    DB_NAME,
    MARKER_TABLE,
    MAX_ROWS,
    SERVER_ROOT,
    rated_image_count,
    write_sample,
)

ROWS = 1500
SEED = 3
VALID_RATING = "typeof(rating) = 'integer' AND rating BETWEEN 1 AND 5"
DEFECT_QUERIES = {
    "img_info.generation_date_not_a_date": (
        "SELECT count(*) FROM img_info WHERE generation_date = 'not a date'"
    ),
    "img_info.experiment_model_id_not_integer": (
        "SELECT count(*) FROM img_info WHERE typeof(experiment_model_id) <> 'integer'"
    ),
    "metadata.rating_not_integer": (
        "SELECT count(*) FROM metadata WHERE typeof(rating) NOT IN ('integer', 'null')"
    ),
    "metadata.rating_zero": "SELECT count(*) FROM metadata WHERE rating = 0",
    "metadata.rating_null": "SELECT count(*) FROM metadata WHERE rating IS NULL",
    "metadata.rating_out_of_range": (
        "SELECT count(*) FROM metadata WHERE typeof(rating) = 'integer' AND rating > 5"
    ),
    "metadata.rating_date_not_a_date": (
        "SELECT count(*) FROM metadata WHERE rating_date NOT LIKE '20__-__-__T%'"
    ),
    "metadata.image_id_missing": (
        "SELECT count(*) FROM metadata WHERE id NOT IN (SELECT id FROM img_info)"
    ),
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """One sample shared by the read-only tests: (summary, out_dir, connection, messages)."""
    out_dir = tmp_path_factory.mktemp("sample")
    messages: list[str] = []
    summary = write_sample(out_dir, rows=ROWS, seed=SEED, progress=messages.append)
    con = sqlite3.connect(summary.db_path)
    yield summary, out_dir, con, messages
    con.close()


def scalar(con: sqlite3.Connection, sql: str, *params) -> object:
    """First column of the first row."""
    return con.execute(sql, params).fetchone()[0]


def cc0_manifest() -> list[dict[str, str]]:
    """The bundled CC0 manifest rows."""
    with (ASSETS_DIR / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def table_dump(out_dir: Path) -> dict[str, list[tuple]]:
    """Every table's rows in storage order, with the out_dir prefix of local paths masked."""
    prefix = str(out_dir.resolve())
    con = sqlite3.connect(out_dir / DB_NAME)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master ORDER BY name")]
        dump = {
            name: [
                tuple(v.replace(prefix, "<out>") if isinstance(v, str) else v for v in row)
                for row in con.execute(f'SELECT * FROM "{name}" ORDER BY rowid')
            ]
            for name in names
        }
        dump["sqlite_master"] = con.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        return dump
    finally:
        con.close()


def file_digests(out_dir: Path) -> dict[str, str]:
    """sha256 of every image file, keyed by its path under out_dir."""
    return {
        str(path.relative_to(out_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((out_dir / "core").rglob("*"))
        if path.is_file()
    }


def test_schema_matches_the_real_source(sample):
    _, _, con, _ = sample
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    # The team's tables, plus the sample's own label (see test_the_file_says_it_is_the_sample).
    assert tables == {"img_info", "metadata", "user", "sqlite_sequence", MARKER_TABLE}
    columns = {
        table: [(r[1], r[2], r[5]) for r in con.execute(f'PRAGMA table_info("{table}")')]
        for table in ("img_info", "metadata", "user")
    }
    assert columns == {
        "img_info": [
            ("id", "INTEGER", 1),
            ("img_path", "TEXT", 0),
            ("img_name", "TEXT", 0),
            ("generation_date", "TEXT", 0),
            ("experiment_model_id", "INTEGER", 0),
            ("experiment_number", "INTEGER", 0),
            ("img_generation_promt", "TEXT", 0),
        ],
        "metadata": [
            ("rating", "INTEGER", 0),
            ("rating_date", "TEXT", 0),
            ("annotator_id", "INTEGER", 0),
            ("id", "INTEGER", 0),
        ],
        "user": [("id", "INTEGER", 1), ("name", "TEXT", 0)],
    }
    for table in ("img_info", "user"):
        sql = scalar(con, "SELECT sql FROM sqlite_master WHERE name = ?", table)
        assert "AUTOINCREMENT" in sql


def test_row_counts_match_summary(sample):
    summary, _, con, _ = sample
    assert summary.rows == ROWS
    assert scalar(con, "SELECT count(*) FROM img_info") == ROWS
    assert con.execute("SELECT min(id), max(id) FROM img_info").fetchone() == (1, ROWS)
    assert scalar(con, "SELECT seq FROM sqlite_sequence WHERE name = 'img_info'") == ROWS
    assert scalar(con, "SELECT count(*) FROM metadata") == summary.rating_rows
    rated = scalar(
        con, "SELECT count(DISTINCT id) FROM metadata WHERE id IN (SELECT id FROM img_info)"
    )
    assert rated == summary.rated_images == rated_image_count(ROWS)
    assert 3 <= scalar(con, "SELECT count(*) FROM user") == summary.annotators <= 5
    assert (
        scalar(con, "SELECT count(*) FROM metadata WHERE annotator_id NOT IN (SELECT id FROM user)")
        == 0
    )


def test_rated_image_count_follows_real_share():
    assert rated_image_count(100) == 50
    assert rated_image_count(5000) == 300
    assert rated_image_count(MAX_ROWS) == 2256


def test_same_seed_gives_identical_sample_and_other_seed_differs(tmp_path):
    first, again, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_sample(first, rows=150, seed=11)
    write_sample(again, rows=150, seed=11)
    write_sample(other, rows=150, seed=12)
    assert table_dump(first) == table_dump(again)
    assert file_digests(first) == file_digests(again)
    assert table_dump(first)["img_info"] != table_dump(other)["img_info"]
    assert table_dump(first)["metadata"] != table_dump(other)["metadata"]


def test_rating_shares_mimic_the_real_data(sample):
    _, _, con, _ = sample
    counts = dict(
        con.execute(f"SELECT rating, count(*) FROM metadata WHERE {VALID_RATING} GROUP BY 1")
    )
    total = sum(counts.values())
    assert 0.4 <= counts[5] / total <= 0.6
    usable = {r: counts.get(r, 0) for r in (1, 2, 3, 4)}
    assert max(usable, key=usable.get) == 2
    assert usable[1] < usable[3] and usable[1] < usable[4]


def test_some_images_have_repeated_and_conflicting_ratings(sample):
    summary, _, con, _ = sample
    several = scalar(
        con,
        f"SELECT count(*) FROM (SELECT id FROM metadata WHERE {VALID_RATING}"
        " GROUP BY id HAVING count(*) > 1)",
    )
    assert 0.05 * summary.rated_images <= several <= 0.2 * summary.rated_images
    exact_duplicates = scalar(
        con,
        "SELECT count(*) FROM (SELECT 1 FROM metadata"
        " GROUP BY rating, rating_date, annotator_id, id HAVING count(*) > 1)",
    )
    assert exact_duplicates >= 1
    conflicting = scalar(
        con,
        f"SELECT count(*) FROM (SELECT id FROM metadata WHERE {VALID_RATING}"
        " GROUP BY id HAVING count(DISTINCT rating) > 1)",
    )
    assert conflicting >= 1
    second_opinion = scalar(
        con,
        f"SELECT count(*) FROM (SELECT id FROM metadata WHERE {VALID_RATING}"
        " GROUP BY id HAVING count(DISTINCT annotator_id) > 1)",
    )
    assert second_opinion >= 1
    re_rated = scalar(
        con,
        f"SELECT count(*) FROM (SELECT id FROM metadata WHERE {VALID_RATING}"
        " GROUP BY id, annotator_id HAVING count(DISTINCT rating_date) > 1)",
    )
    assert re_rated >= 1


def test_deliberate_defects_are_present_and_counted(sample):
    summary, _, con, _ = sample
    assert set(summary.defect_rows) == set(DEFECT_QUERIES)
    for kind, sql in DEFECT_QUERIES.items():
        assert scalar(con, sql) == summary.defect_rows[kind] >= 1, kind
    assert scalar(con, "SELECT count(*) FROM metadata WHERE rating = 'x'") == 1
    assert scalar(con, "SELECT count(*) FROM metadata WHERE rating = 7") == 1
    assert scalar(con, "SELECT count(*) FROM img_info WHERE experiment_model_id = 'abc'") == 1
    assert scalar(con, "SELECT count(*) FROM metadata WHERE rating_date = 'yesterday'") == 1
    cc0_prompts = ["6_" + r["prompt_from_filename"].replace(" ", "_") for r in cc0_manifest()]
    marks = ",".join("?" * len(cc0_prompts))
    broken_cc0 = scalar(
        con,
        f"SELECT count(*) FROM img_info i WHERE i.img_generation_promt IN ({marks}) AND ("
        " generation_date = 'not a date' OR typeof(experiment_model_id) <> 'integer'"
        f" OR EXISTS (SELECT 1 FROM metadata m WHERE m.id = i.id AND NOT ({VALID_RATING}"
        " AND m.rating_date LIKE '20%')))",
        *cc0_prompts,
    )
    assert broken_cc0 == 0


def test_real_data_quirks_are_reproduced(sample):
    _, _, con, _ = sample
    rows = con.execute(
        "SELECT img_path, img_name, generation_date, experiment_model_id, experiment_number,"
        " img_generation_promt FROM img_info WHERE generation_date <> 'not a date'"
        " AND typeof(experiment_model_id) = 'integer'"
    ).fetchall()
    folder = re.compile(r"/(2022|2023)/([1-9]|1[0-2])/([1-9]|[12]\d|3[01])/")
    for path, name, generated, model_id, experiment, prompt in rows:
        assert path.endswith("/" + name) and folder.search(path), path
        assert re.match(r"\d+_", prompt) and name.endswith(".jpg")
        assert name[:-4] == prompt.split("\n")[0][:150]
        moment = datetime.fromisoformat(generated)
        assert moment.tzinfo is None and len(generated) == 26
        assert datetime(2022, 10, 1) <= moment < datetime(2023, 3, 1)
        assert model_id in (1, 2, 3, 4) and 1 <= experiment <= 9
        assert " " not in prompt
    prompts = [r[5] for r in rows]
    assert sum(p.startswith("6_") for p in prompts) > 0.7 * len(prompts)
    assert any(len(p) > 150 for p in prompts)
    assert any(r[1].endswith("..jpg") for r in rows)
    for quirk in ("__", ",,", '"', "'", ","):
        assert any(quirk in p for p in prompts), quirk
    assert any(not p.isascii() for p in prompts)
    assert any("\n" in p for p in prompts)
    dates = [r[0] for r in con.execute("SELECT rating_date FROM metadata")]
    offset_dates = [d for d in dates if d != "yesterday"]
    assert offset_dates == sorted(offset_dates)  # stored in the order they were given
    assert all(d.endswith("+03:00") for d in offset_dates)
    assert all(
        datetime.fromisoformat(d).utcoffset().total_seconds() == 3 * 3600 for d in offset_dates
    )


def test_rated_images_and_first_unrated_ones_have_jpeg_files(sample):
    summary, out_dir, con, _ = sample
    local_root = str(out_dir.resolve() / "core") + "/"
    rated = con.execute(
        "SELECT img_path FROM img_info WHERE id IN (SELECT id FROM metadata)"
    ).fetchall()
    assert len(rated) == summary.rated_images
    for (path,) in rated:
        assert path.startswith(local_root), path
        with Image.open(path) as picture:
            assert picture.format == "JPEG" and picture.mode == "RGB"
    local = con.execute(
        "SELECT id, img_path, img_name FROM img_info WHERE img_path LIKE ? ORDER BY id",
        (local_root + "%",),
    ).fetchall()
    rated_ids = {i for (i,) in con.execute("SELECT id FROM metadata")}
    unrated_local = [img_id for img_id, _, _ in local if img_id not in rated_ids]
    first_unrated = con.execute(
        "SELECT id FROM img_info WHERE id NOT IN (SELECT id FROM metadata)"
        " AND img_name NOT LIKE '7%' ORDER BY id LIMIT 200"
    ).fetchall()
    assert unrated_local == [img_id for (img_id,) in first_unrated]
    files = [p for p in (out_dir / "core").rglob("*") if p.is_file()]
    assert len(files) == len(local) == summary.image_files
    for path in (Path(r[1]) for r in local):
        assert path.is_file()
    remote = con.execute(
        "SELECT img_path FROM img_info WHERE img_path NOT LIKE ?", (local_root + "%",)
    )
    assert all(p.startswith(SERVER_ROOT + "/") and not Path(p).exists() for (p,) in remote)


def test_cc0_images_are_rated_by_bucket(sample):
    _, _, con, _ = sample
    manifest = cc0_manifest()
    assert len(manifest) == 39
    bucket_rating = {"bad": 1, "mediocre": 2, "good": 3, "great": 4}
    for record in manifest:
        prompt = "6_" + record["prompt_from_filename"].replace(" ", "_")
        rows = con.execute(
            "SELECT i.img_path, m.rating FROM img_info i JOIN metadata m USING (id)"
            " WHERE i.img_generation_promt = ?",
            (prompt,),
        ).fetchall()
        assert len(rows) == 1, prompt
        path, rating = rows[0]
        assert rating == bucket_rating.get(record["bucket"], rating) and 1 <= rating <= 5
        with Image.open(path) as copy, Image.open(ASSETS_DIR / record["path"]) as original:
            assert copy.format == "JPEG"
            assert copy.size == original.size


def test_seven_prefix_images_exist_and_are_never_rated(sample):
    _, _, con, _ = sample
    sevens = scalar(con, "SELECT count(*) FROM img_info WHERE img_name LIKE '7%'")
    assert 0.02 * ROWS <= sevens <= 0.04 * ROWS
    rated_sevens = scalar(
        con,
        "SELECT count(*) FROM img_info"
        " WHERE img_name LIKE '7%' AND id IN (SELECT id FROM metadata)",
    )
    assert rated_sevens == 0
    assert (
        scalar(
            con,
            "SELECT count(*) FROM img_info WHERE img_name LIKE '7%' AND img_path NOT LIKE ?",
            SERVER_ROOT + "/%",
        )
        == 0
    )


def _contrast(picture: Image.Image) -> float:
    """Spread of grey levels once noise is averaged out (8x downscale)."""
    return float(np.asarray(picture.convert("L").reduce(8), dtype=float).std())


def _looks_broken(picture: Image.Image) -> bool:
    """Nearly flat, mostly noise, or half black."""
    grey = np.asarray(picture.convert("L"), dtype=float)
    half = grey.shape[0] // 2
    return (
        grey.std() < 4
        or np.abs(np.diff(grey, axis=1)).mean() > 30
        or min(grey[half:].mean(), grey[:, half:].mean()) < 3
    )


def test_synthetic_picture_quality_follows_rating(sample):
    _, _, con, _ = sample
    cc0_prompts = {"6_" + r["prompt_from_filename"].replace(" ", "_") for r in cc0_manifest()}
    # Rows are stored in rating-date order, so an image's first row is its first rating.
    first_rating = con.execute(
        "SELECT i.img_path, i.img_generation_promt, m.rating FROM img_info i JOIN metadata m"
        " ON m.rowid = (SELECT min(rowid) FROM metadata WHERE id = i.id)"
    ).fetchall()
    contrast: dict[int, list[float]] = {}
    for path, prompt, rating in first_rating:
        if prompt in cc0_prompts:
            continue
        with Image.open(path) as picture:
            assert _looks_broken(picture) == (rating == 5), (path, rating)
            contrast.setdefault(rating, []).append(_contrast(picture))
    # Rating 1 is rare (the real share is 1.3%) and may only occur among the CC0 images.
    usable = [r for r in (1, 2, 3, 4) if len(contrast.get(r, ())) >= 3]
    assert usable[-3:] == [2, 3, 4]
    means = [np.mean(contrast[r]) for r in usable]
    assert means == sorted(means)


def test_synthetic_pictures_degrade_from_rating_4_to_1():
    pictures = {q: [synthetic_picture(SEED, i, q) for i in range(20)] for q in range(1, 6)}
    means = [np.mean([_contrast(p) for p in pictures[q]]) for q in (1, 2, 3, 4)]
    assert means == sorted(means)
    assert all(_looks_broken(p) for p in pictures[5])
    assert not any(_looks_broken(p) for q in (1, 2, 3, 4) for p in pictures[q])
    assert synthetic_picture(SEED, 7, 3).tobytes() == synthetic_picture(SEED, 7, 3).tobytes()


def test_readme_manifest_and_progress(sample):
    summary, out_dir, _, messages = sample
    manifest = json.loads((out_dir / "sample_manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"] == summary.rows and manifest["defect_rows"] == summary.defect_rows
    assert manifest["db_path"] == str(summary.db_path)
    readme = (out_dir / "README.txt").read_text(encoding="utf-8")
    assert "synthetic" in readme.lower() and "CC0" in readme
    assert messages and all(isinstance(m, str) and m for m in messages)


def test_the_file_says_it_is_the_sample_and_what_it_plants(sample):
    summary, _, con, _ = sample
    rows = con.execute(f"SELECT generator, rows, seed, planted_signals FROM {MARKER_TABLE}")
    ((generator, rows_, seed, planted),) = rows.fetchall()
    assert (generator, rows_, seed) == ("neurostock sample", summary.rows, summary.seed)
    assert "by construction" in planted and "noise" in planted
    readme = (summary.db_path.parent / "README.txt").read_text(encoding="utf-8")
    assert "PLANTED SIGNALS" in readme and MARKER_TABLE in readme


def test_refuses_too_few_or_too_many_rows(tmp_path):
    with pytest.raises(ValueError, match="rows"):
        write_sample(tmp_path, rows=50)
    with pytest.raises(ValueError, match="rows"):
        write_sample(tmp_path, rows=MAX_ROWS + 1)
    assert not (tmp_path / DB_NAME).exists()


def test_never_overwrites_an_existing_database(tmp_path):
    existing = tmp_path / DB_NAME
    existing.write_bytes(b"team data")
    with pytest.raises(ValueError, match="already exists"):
        write_sample(tmp_path, rows=100)
    assert existing.read_bytes() == b"team data"


def test_interrupted_run_leaves_no_database_behind(tmp_path):
    def interrupt(message: str) -> None:
        if message.startswith("img_info"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_sample(tmp_path, rows=100, progress=interrupt)
    assert not (tmp_path / DB_NAME).exists()
    assert not list(tmp_path.glob("*.partial"))
    assert write_sample(tmp_path, rows=100).db_path.exists()
