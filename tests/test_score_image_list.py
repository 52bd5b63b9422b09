"""score.image_list: PIA's image list lines matched to warehouse images by id, by path
(server img_path or the mapped resolved path) or by file name; real SQLite source, real
ingest, dbt build and image sync."""

from __future__ import annotations

import csv
import json
import zlib
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from neurostock.core.errors import NeurostockError
from neurostock.score.importers import import_scores
from tests.conftest import SHARED_DATA, copy_warehouse, query
from tests.conftest import run_cli as _cli
from tests.source_builder import make_source

pytestmark = pytest.mark.slow

SERVER = "/media/s1/dataset/neurostocker"
DAY = f"{SERVER}/core/2022/12"
# id -> (server path, img_name): 12 and 13 share a file name, 14 and 15 one file.
IMAGES = {
    11: (f"{DAY}/14/6_A_cat_on_a_roof..jpg", "6_A_cat_on_a_roof..jpg"),
    12: (f"{DAY}/14/6_A_red_dog..jpg", "6_A_red_dog..jpg"),
    13: (f"{DAY}/15/6_A_red_dog..jpg", "6_A_red_dog..jpg"),
    14: (f"{DAY}/16/6_A_house..jpg", "6_A_house..jpg"),
    15: (f"{DAY}/16/6_A_house..jpg", "6_A_house..jpg"),
    16: (f"{DAY}/16/6_A_tree..jpg", "6_A_tree..jpg"),
    17: (f"{DAY}/16/6_A_boat..jpg", "6_A_boat..jpg"),
    18: (f"{DAY}/16/6_A_lamp..jpg", "6_A_lamp..jpg"),
}


def source_row(image_id: int, path: str, name: str) -> tuple:
    return (image_id, path, name, "2022-12-14T23:01:11.924645", 1, 6, name[:-4])


def no_scorers(folder: Path) -> Path:
    """A config with no embedders and no scorers."""
    config = folder / "neurostock.yml"
    config.write_text("scorers: []\n")
    return config


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> tuple[Path, Path]:
    """A warehouse built from IMAGES, its files synced from a local copy of the server."""
    root = tmp_path_factory.mktemp("image_list")
    mount = root / "mnt"
    for image_id, (path, _) in IMAGES.items():
        local = mount / path.removeprefix(SERVER + "/")
        local.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (image_id * 10, 80, 120)).save(local, "JPEG")
    source = make_source(root / "core.download.db",
                         [source_row(i, p, n) for i, (p, n) in IMAGES.items()])
    warehouse = root / "warehouse.duckdb"
    config = no_scorers(root)
    assert _cli(warehouse, config, "ingest", str(source)) == 0
    assert _cli(warehouse, config, "build", "--skip-images") == 0
    assert _cli(warehouse, config, "images", "sync", "--map", f"{SERVER}={mount}") == 0
    assert query(warehouse, "select count(*) from files.images where resolved_path like ?",
                 [f"{mount}/%"]) == [(len(IMAGES),)]
    return warehouse, mount


@pytest.fixture
def wh(synced, tmp_path: Path) -> Path:
    return copy_warehouse(synced[0], tmp_path / "warehouse.duckdb")


def pia(tmp_path: Path, lines: list[str], scores: list[float]) -> tuple[Path, Path]:
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"predictScoreAll": scores}))
    listing = tmp_path / "big_set.txt"
    listing.write_text("\n".join(lines) + "\n")
    return res, listing


def refused(warehouse: Path, res: Path, listing: Path) -> str:
    before = query(warehouse, "select table_name from duckdb_tables() order by 1")
    with pytest.raises(NeurostockError) as caught:
        import_scores(warehouse, "pia", res, "pia_big", image_list=listing)
    assert query(warehouse, "select table_name from duckdb_tables() order by 1") == before
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_lines_match_by_id_then_path_then_file_name(wh: Path, synced, tmp_path: Path) -> None:
    mount = synced[1]
    lines = [
        IMAGES[11][0],                                   # server path
        IMAGES[12][0],                                   # its name is shared, its path is not
        f"{mount}/core/2022/12/16/6_A_tree..jpg",        # the mapped (resolved) path
        "6_A_boat..jpg",                                 # the file name alone
        "../beauty_predict/datasets/all_data/1/18.jpg",  # an id stem
        IMAGES[14][0], IMAGES[15][0],                    # one file of two images, twice
    ]
    res, listing = pia(tmp_path, lines, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6])

    [summary] = import_scores(wh, "pia", res, "pia_big", image_list=listing)

    assert (summary.rows, summary.is_valid, summary.unknown_ids) == (7, True, 0)
    assert query(wh, "select image_id, score, source_row from imported.scores__pia_big "
                     "order by source_row") == [
        (11, 0.1, 1), (12, 0.2, 2), (16, 0.3, 3), (17, 0.4, 4), (18, 0.5, 5), (14, 0.6, 6),
        (15, 0.6, 7)]
    description = query(wh, "select description from meta.scorers")[0][0]
    assert "lines matched by id 1, by path 5, by file name 1" in description
    assert "1 listed path(s) each the file of several images" in description


def test_a_file_name_of_two_images_is_refused_naming_both(wh: Path, tmp_path: Path) -> None:
    res, listing = pia(tmp_path, [IMAGES[11][0], "elsewhere/6_A_red_dog..jpg"], [0.1, 0.2])

    message = refused(wh, res, listing)

    assert "line 2" in message and "'6_A_red_dog..jpg'" in message
    assert "ids 12, 13" in message


def test_a_shared_file_must_be_listed_once_per_image_with_one_score(wh: Path,
                                                                    tmp_path: Path) -> None:
    res, listing = pia(tmp_path, [IMAGES[11][0], IMAGES[14][0]], [0.1, 0.2])
    message = refused(wh, res, listing)
    assert "is the file of 2 images (ids 14, 15)" in message and "1 time(s)" in message

    res, listing = pia(tmp_path, [IMAGES[14][0], IMAGES[11][0], IMAGES[14][0]],
                       [0.3, 0.1, 0.35])
    message = refused(wh, res, listing)
    assert "rows 1, 3 are one file" in message and "0.3, 0.35" in message


def test_a_line_that_names_no_image_is_refused(wh: Path, tmp_path: Path) -> None:
    res, listing = pia(tmp_path, [IMAGES[11][0], f"{DAY}/17/6_A_ghost..jpg"], [0.1, 0.2])

    message = refused(wh, res, listing)

    assert "line 2" in message and "6_A_ghost..jpg" in message and "matches no image" in message


@pytest.mark.skipif(not (SHARED_DATA / "seed-research").is_dir(), reason="../shared is absent")
def test_team_big_set_list_matches_big_set_csv(tmp_path: Path) -> None:
    """big_set.txt is big_set.csv's img_path column: every line gets that row's id (a path
    two ids share gets both, one per line)."""
    seed = SHARED_DATA / "seed-research"
    with open(seed / "big_set.csv", newline="") as handle:
        rows = [(int(r["id"]), r["img_path"], r["img_name"], r["generation_date"],
                 int(r["experiment_model_id"]), int(r["experiment_number"]),
                 r["img_generation_promt"]) for r in csv.DictReader(handle)]
    source = make_source(tmp_path / "core.download.db", rows)
    warehouse = tmp_path / "warehouse.duckdb"
    config = no_scorers(tmp_path)
    assert _cli(warehouse, config, "ingest", str(source)) == 0
    assert _cli(warehouse, config, "build", "--skip-images") == 0
    lines = (seed / "big_set.txt").read_text().splitlines()
    assert [r[1] for r in rows] == lines
    # A score per file (same file, same score), spread so the scorer is valid.
    scores = [zlib.crc32(line.encode()) / 2**32 for line in lines]
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"predictScoreAll": scores}))

    [summary] = import_scores(warehouse, "pia", res, "pia_big_set",
                              image_list=seed / "big_set.txt")

    assert (summary.rows, summary.is_valid, summary.unknown_ids) == (10_000, True, 0)
    con = duckdb.connect(str(warehouse), read_only=True)
    stored = dict(con.execute("select source_row, image_id from "
                              "imported.scores__pia_big_set").fetchall())
    con.close()
    ids_of_path: dict[str, list[int]] = {}
    lines_of_path: dict[str, list[int]] = {}
    for number, (image_id, path, *_) in enumerate(rows, start=1):
        ids_of_path.setdefault(path, []).append(image_id)
        lines_of_path.setdefault(path, []).append(number)
    shared = [path for path, ids in ids_of_path.items() if len(ids) > 1]
    assert len(shared) == 66
    for path, ids in ids_of_path.items():
        assert sorted(stored[n] for n in lines_of_path[path]) == sorted(ids), path
