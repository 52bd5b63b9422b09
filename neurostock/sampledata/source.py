"""Deterministic synthetic copy of the team's SQLite source ``core.download.db``.

``write_sample(out_dir, rows, seed)`` writes, under ``out_dir``:

* ``core.download.db`` with the real schema (``img_info``, ``metadata``, ``user`` and
  SQLite's own ``sqlite_sequence``) and the real data's quirks: ``<digits>_`` prompt
  prefixes, ``_`` for spaces, punctuation runs, quotes, non-ASCII, the odd line break,
  names truncated to 150 characters, unpadded ``YYYY/M/D`` folders, rating dates with a
  ``+03:00`` offset, re-ratings, second opinions and exact duplicate rating rows;
* a handful of deliberately broken rows (counted in ``SampleSummary.defect_rows``) so
  the warehouse's quarantine has something to show;
* ``core/YYYY/M/D/<img_name>`` JPEG files for every rated image and for the first 200
  unrated images that are not ``7_`` images; 39 rated ones are the real CC0 AI images
  shipped in ``assets/sac_cc0``, the rest are synthetic pictures whose quality follows
  their rating (a planted signal, labelled as such: see ``pictures.py``);
* a table ``neurostock_sample`` (not in the real schema) with one row saying that the
  file is this synthetic sample and which signals it plants;
* ``README.txt`` and ``sample_manifest.json``.

The prompts' word lists are in ``prompts.py``, the synthetic pictures in ``pictures.py``.

Everything is a pure function of ``(rows, seed)``: numpy Generators derived from one
``SeedSequence``, no ``hash()``, no set iteration order, no clock. Only the absolute
``img_path`` of rows that have a file depends on where ``out_dir`` lives.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import functools
import json
import operator
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurostock.sampledata.pictures import write_pictures
from neurostock.sampledata.prompts import AFTER_LINE_BREAK, build_prompts, image_name

MIN_ROWS = 100
MAX_ROWS = 2_111_057  # rows in the team's real file
REAL_RATED_IMAGES = 2_256  # rated images in the team's real file
UNRATED_WITH_FILES = 200
DB_NAME = "core.download.db"
SERVER_ROOT = "/media/s1/dataset/neurostocker/core"
ASSETS_DIR = Path(__file__).parent / "assets" / "sac_cc0"
CHUNK_ROWS = 250_000

# Generation days 2022-10-01 .. 2023-02-27; ratings may trail until the end of February.
START = np.datetime64("2022-10-01T00:00:00", "us")
GENERATION_DAYS = 150
US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
RATING_END_US = (GENERATION_DAYS + 1) * US_PER_DAY  # exclusive: 2023-03-01T00:00
RATING_OFFSET = "+03:00"

UNREADABLE_PREFIX = 7  # the team could not read the files of experiment 7_
UNREADABLE_SHARE = 0.03
PREFIX_VALUES = (6, 3, 5, 2, 4, 8, 11)  # none may start with "7"
PREFIX_P = (0.85, 0.05, 0.04, 0.02, 0.02, 0.01, 0.01)
MODEL_IDS = (1, 2, 3, 4)
MODEL_P = (0.72, 0.14, 0.09, 0.05)
EXPERIMENT_NUMBERS = (1, 2, 3, 4, 5)
EXPERIMENT_P = (0.78, 0.12, 0.05, 0.03, 0.02)

# Real shares of the usable ratings 1..4 (higher is better); 5 means unusable and is
# about half of all rating rows.
USABLE_SHARE = np.array([1.3, 52.0, 22.5, 24.0])
UNUSABLE_SHARE = 0.5
QUALITY_P = np.append(USABLE_SHARE / USABLE_SHARE.sum() * (1 - UNUSABLE_SHARE), UNUSABLE_SHARE)
CC0_BUCKET_RATING = {"bad": 1, "mediocre": 2, "good": 3, "great": 4}  # "survey": drawn
MULTI_RATED_SHARE = 0.10
ANNOTATOR_NAMES = ("anna", "dmitry", "olga", "sergey", "maria")
ANNOTATOR_WEIGHTS = (6.0, 3.0, 2.0, 1.5, 1.0)

DEFECT_KINDS = (
    "img_info.generation_date_not_a_date",
    "img_info.experiment_model_id_not_integer",
    "metadata.rating_not_integer",
    "metadata.rating_zero",
    "metadata.rating_null",
    "metadata.rating_out_of_range",
    "metadata.rating_date_not_a_date",
    "metadata.image_id_missing",
)

SCHEMA = """
CREATE TABLE img_info (id INTEGER PRIMARY KEY AUTOINCREMENT, img_path TEXT, img_name TEXT,
    generation_date TEXT, experiment_model_id INTEGER, experiment_number INTEGER,
    img_generation_promt TEXT);
CREATE TABLE metadata (rating INTEGER, rating_date TEXT, annotator_id INTEGER, id INTEGER);
CREATE TABLE user (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
"""
INSERT_IMG_INFO = (
    "INSERT INTO img_info (id, img_path, img_name, generation_date, experiment_model_id,"
    " experiment_number, img_generation_promt) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INSERT_METADATA = "INSERT INTO metadata (rating, rating_date, annotator_id, id) VALUES (?, ?, ?, ?)"
INSERT_USER = "INSERT INTO user (id, name) VALUES (?, ?)"

# Not in the team's schema: the file says itself that it is this synthetic sample, and
# ingest copies every table, so the warehouse knows it too (raw.neurostock_sample) and
# the report and the demo can label the planted signals next to their figures.
MARKER_TABLE = "neurostock_sample"
MARKER_DDL = (
    f"CREATE TABLE {MARKER_TABLE} (generator TEXT, rows INTEGER, seed INTEGER, "
    "planted_signals TEXT)"
)
PLANTED_SIGNALS = (
    "the pictures are synthetic and their blur, noise, contrast and exposure follow the "
    "rating by construction (sampledata/pictures.py): scores that measure them agree with "
    "the ratings because the sample was made that way, not because they find anything"
)


@dataclass(frozen=True)
class SampleSummary:
    """What ``write_sample`` wrote; also saved as ``sample_manifest.json``."""

    db_path: Path
    rows: int  # img_info rows
    rating_rows: int  # metadata rows, defective ones included
    rated_images: int  # distinct existing img_info ids with at least one metadata row
    image_files: int  # JPEG files written under out_dir/core
    defect_rows: dict[str, int]  # deliberately broken rows, by kind
    seed: int
    annotators: int
    cc0_images: int
    multi_rated_images: int  # images with more than one valid rating row
    unreadable_prefix_rows: int  # rows whose img_name starts with "7"


@dataclass(frozen=True)
class _Cc0Asset:
    """One real CC0 image from the bundled manifest."""

    png: Path
    bucket: str
    prompt: str  # as stored in img_generation_promt


@dataclass
class _Plan:
    """Every per-row decision except the prompt strings; arrays are indexed by id - 1."""

    rows: int
    seed: int
    gen_us: np.ndarray  # microseconds after START, non-decreasing with id
    day: np.ndarray  # day index after START
    prefix: np.ndarray  # experiment prefix of the prompt
    model_id: np.ndarray
    experiment_number: np.ndarray
    quality: np.ndarray  # 1..5; the first rating of rated images, hidden otherwise
    rated_ids: np.ndarray  # sorted
    cc0: dict[int, _Cc0Asset]  # id -> asset, ascending ids
    file_ids: np.ndarray  # sorted ids that get a JPEG
    bad_generation_date_id: int
    bad_model_id_id: int
    line_break_id: int  # a non-CC0 row whose prompt surely carries a line break


def write_sample(
    out_dir: Path | str,
    rows: int = 5000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> SampleSummary:
    """Write a synthetic ``core.download.db`` plus image files under ``out_dir``.

    The same ``(rows, seed)`` always gives the same tables and images. Raises
    ``ValueError`` if ``rows`` is outside 100..2,111,057, ``seed`` is negative, or
    ``out_dir/core.download.db`` already exists (it is never overwritten).
    """
    out_dir, rows, seed = _checked_request(out_dir, rows, seed)
    say = progress or (lambda _message: None)
    db_path = out_dir / DB_NAME
    out_dir.mkdir(parents=True, exist_ok=True)

    streams = _streams(seed)
    plan = _make_plan(rows, seed, streams, _load_cc0_assets())
    n_annotators = int(streams["annotators"].integers(3, len(ANNOTATOR_NAMES) + 1))
    ratings, multi_rated = _rating_rows(plan, n_annotators, streams["ratings"])
    say(f"planned {rows:,} images, {len(ratings):,} rating rows")

    image_root = out_dir / "core"
    # Everything is written next to a scratch database that only becomes
    # core.download.db at the very end: an existing file means a complete sample.
    scratch = db_path.with_name(db_path.name + ".partial")
    scratch.unlink(missing_ok=True)
    try:
        file_names = _write_database(
            scratch, plan, ratings, n_annotators, streams["prompts"], image_root, say
        )
        summary = SampleSummary(
            db_path=db_path,
            rows=rows,
            rating_rows=len(ratings),
            rated_images=len(plan.rated_ids),
            image_files=_write_images(plan, file_names, image_root, say),
            defect_rows=_count_defects(ratings, rows),
            seed=seed,
            annotators=n_annotators,
            cc0_images=len(plan.cc0),
            multi_rated_images=multi_rated,
            unreadable_prefix_rows=int(np.count_nonzero(plan.prefix == UNREADABLE_PREFIX)),
        )
        _write_readme(out_dir, summary)
        _write_manifest(out_dir, summary)
        _publish(scratch, db_path)
    finally:
        scratch.unlink(missing_ok=True)
    say(f"done: {db_path}")
    return summary


def _checked_request(out_dir: Path | str, rows: int, seed: int) -> tuple[Path, int, int]:
    """Normalised arguments; ValueError for anything write_sample refuses to do."""
    rows = operator.index(rows)
    seed = operator.index(seed)
    if not MIN_ROWS <= rows <= MAX_ROWS:
        raise ValueError(f"rows must be between {MIN_ROWS} and {MAX_ROWS:,}, got {rows:,}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    out_dir = Path(out_dir).resolve()
    if (out_dir / DB_NAME).exists():
        raise ValueError(f"{out_dir / DB_NAME} already exists; remove it or pick another out_dir")
    return out_dir, rows, seed


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators per concern, so changing one part never shifts another."""
    names = ("times", "experiments", "quality", "selection", "ratings", "prompts", "annotators")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children, strict=True)}


def _load_cc0_assets() -> list[_Cc0Asset]:
    """The bundled CC0 images in manifest order, with the prompt they get in img_info."""
    with (ASSETS_DIR / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        return [
            _Cc0Asset(
                png=ASSETS_DIR / record["path"],
                bucket=record["bucket"],
                prompt="6_" + record["prompt_from_filename"].replace(" ", "_"),
            )
            for record in csv.DictReader(handle)
        ]


def rated_image_count(rows: int) -> int:
    """How many images get ratings: the real share, at least 300, at most half the rows."""
    return min(rows // 2, max(300, round(rows * REAL_RATED_IMAGES / MAX_ROWS)))


def _make_plan(
    rows: int, seed: int, streams: dict[str, np.random.Generator], assets: list[_Cc0Asset]
) -> _Plan:
    """Decide dates, experiments, which ids are rated / CC0 / have files / are defective."""
    gen_us, day = _generation_times(streams["times"], rows)
    rng = streams["experiments"]
    prefix = _experiment_prefixes(rng, rows)
    model_id = np.asarray(MODEL_IDS)[rng.choice(len(MODEL_IDS), rows, p=MODEL_P)]
    experiment_number = np.asarray(EXPERIMENT_NUMBERS)[
        rng.choice(len(EXPERIMENT_NUMBERS), rows, p=EXPERIMENT_P)
    ]
    quality = (streams["quality"].choice(5, rows, p=QUALITY_P) + 1).astype(np.int8)

    pick = streams["selection"]
    readable = prefix != UNREADABLE_PREFIX
    rated_ids = np.sort(
        pick.choice(np.flatnonzero(readable) + 1, rated_image_count(rows), replace=False)
    )
    cc0_ids = np.sort(pick.choice(rated_ids, len(assets), replace=False))
    cc0 = {int(i): assets[k] for i, k in zip(cc0_ids, pick.permutation(len(assets)), strict=True)}
    quality[rated_ids - 1] = _rated_qualities(pick, rated_ids, cc0)

    unrated = readable.copy()
    unrated[rated_ids - 1] = False
    unrated_ids = np.flatnonzero(unrated) + 1
    file_ids = np.sort(np.concatenate([rated_ids, unrated_ids[:UNRATED_WITH_FILES]]))
    bad_date_id, bad_model_id = _img_info_defect_ids(pick, unrated_ids, rated_ids, cc0)
    not_cc0 = np.ones(rows, dtype=bool)
    not_cc0[cc0_ids - 1] = False
    line_break_id = int(pick.choice(np.flatnonzero(not_cc0))) + 1
    return _Plan(
        rows=rows,
        seed=seed,
        gen_us=gen_us,
        day=day,
        prefix=prefix,
        model_id=model_id,
        experiment_number=experiment_number,
        quality=quality,
        rated_ids=rated_ids,
        cc0=cc0,
        file_ids=file_ids,
        bad_generation_date_id=bad_date_id,
        bad_model_id_id=bad_model_id,
        line_break_id=line_break_id,
    )


def _generation_times(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted generation instants (µs after START) and their day index; ids follow time."""
    weights = rng.gamma(2.0, 1.0, GENERATION_DAYS)
    weights[rng.random(GENERATION_DAYS) < 0.08] *= 0.05  # the GPU box was idle some days
    per_day = rng.multinomial(rows, weights / weights.sum())
    day = np.repeat(np.arange(GENERATION_DAYS, dtype=np.int64), per_day)
    gen_us = np.sort(day * US_PER_DAY + rng.integers(0, US_PER_DAY, rows))
    return gen_us, gen_us // US_PER_DAY


def _experiment_prefixes(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Prompt prefixes; exactly ~3% are 7_, all in the last quarter of ids (one late run)."""
    prefix = np.asarray(PREFIX_VALUES)[rng.choice(len(PREFIX_VALUES), rows, p=PREFIX_P)]
    late = np.arange(rows * 3 // 4, rows)
    unreadable = max(1, round(rows * UNREADABLE_SHARE))
    prefix[rng.choice(late, unreadable, replace=False)] = UNREADABLE_PREFIX
    return prefix


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Non-negative integer counts proportional to ``weights`` that sum exactly to ``total``."""
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    by_remainder = np.argsort(-(exact - counts), kind="stable")
    counts[by_remainder[: total - counts.sum()]] += 1
    return counts


def _rated_qualities(
    rng: np.random.Generator, rated_ids: np.ndarray, cc0: dict[int, _Cc0Asset]
) -> np.ndarray:
    """First rating per rated image: CC0 buckets fixed, the rest filled to the real shares.

    Quotas instead of independent draws keep small samples at the real proportions.
    """
    target = QUALITY_P * len(rated_ids)
    fixed = np.zeros(len(rated_ids), dtype=bool)
    result = np.zeros(len(rated_ids), dtype=np.int8)
    for pos, img_id in enumerate(rated_ids.tolist()):
        rating = CC0_BUCKET_RATING.get(cc0[img_id].bucket) if img_id in cc0 else None
        if rating is not None:
            fixed[pos] = True
            result[pos] = rating
            target[rating - 1] -= 1
    free = np.flatnonzero(~fixed)
    counts = _largest_remainder(np.clip(target, 0, None), len(free))
    result[free] = rng.permutation(np.repeat(np.arange(1, 6, dtype=np.int8), counts))
    return result


def _img_info_defect_ids(
    rng: np.random.Generator,
    unrated_ids: np.ndarray,
    rated_ids: np.ndarray,
    cc0: dict[int, _Cc0Asset],
) -> tuple[int, int]:
    """Two distinct non-CC0, non-7_ ids to break, preferring unrated rows without a file.

    ``unrated_ids`` are the readable unrated ids in order; the first ones get files.
    """
    candidates = unrated_ids[UNRATED_WITH_FILES:]
    if len(candidates) < 2:
        candidates = unrated_ids
    if len(candidates) < 2:
        candidates = np.asarray([i for i in rated_ids.tolist() if i not in cc0])
    first, second = rng.choice(candidates, 2, replace=False).tolist()
    return first, second


def _rating_rows(
    plan: _Plan, n_annotators: int, rng: np.random.Generator
) -> tuple[list[tuple], int]:
    """All metadata rows in rating-date order, and how many images have several valid rows.

    Each rated image gets one first rating (its planned quality); about 10% of the
    non-CC0 ones get a re-rating, a second opinion or an exact duplicate row, and five
    others carry the deliberately broken rows.
    """
    rated = plan.rated_ids
    weights = np.asarray(ANNOTATOR_WEIGHTS[:n_annotators])
    annotator = rng.choice(n_annotators, len(rated), p=weights / weights.sum()) + 1
    gen = plan.gen_us[rated - 1]
    # Most images are rated within days of generation, a few weeks later.
    delay = (RATING_END_US - US_PER_DAY - gen) * rng.beta(1.2, 6.0, len(rated))
    first_us = gen + 600 * US_PER_SECOND + delay.astype(np.int64)
    first = {
        img_id: (rating, when, who)
        for img_id, rating, when, who in zip(
            rated.tolist(),
            plan.quality[rated - 1].tolist(),
            first_us.tolist(),
            annotator.tolist(),
            strict=True,
        )
    }

    events: list[tuple[int, tuple]] = [(t, (q, t, a, i)) for i, (q, t, a) in first.items()]
    eligible = np.asarray([i for i in rated.tolist() if i not in plan.cc0])
    n_multi = min(len(eligible), max(3, round(MULTI_RATED_SHARE * len(rated))))
    multi = rng.choice(eligible, n_multi, replace=False).tolist()
    events += _repeat_events(rng, multi, first, n_annotators)
    repeated = set(multi)
    hosts = [i for i in eligible.tolist() if i not in repeated]
    hosts = hosts if len(hosts) >= 5 else eligible.tolist()
    events += _defect_events(rng, hosts, first, plan.rows)

    order = sorted(range(len(events)), key=lambda k: (events[k][0], k))
    rows = [_format_rating(events[k][1]) for k in order]
    return rows, n_multi


def _repeat_events(
    rng: np.random.Generator, multi: list[int], first: dict[int, tuple], n_annotators: int
) -> list[tuple[int, tuple]]:
    """Re-ratings, second opinions and exact duplicates; the first of each kind differs."""
    n_dup = max(1, round(0.2 * len(multi)))
    n_second = max(1, round(0.4 * len(multi)))
    events = []
    for pos, img_id in enumerate(multi):
        rating, t, annotator = first[img_id]
        if pos < len(multi) - n_dup - n_second:  # same annotator looks again later
            kind_pos, who, change_p = pos, annotator, 0.4
        elif pos < len(multi) - n_dup:  # a second annotator, agreeing or not
            kind_pos = pos - (len(multi) - n_dup - n_second)
            who = (annotator + int(rng.integers(0, n_annotators - 1))) % n_annotators + 1
            change_p = 0.5
        else:  # the same row stored twice
            events.append((t, (rating, t, annotator, img_id)))
            continue
        later = _later(rng, t)
        changed = kind_pos == 0 or rng.random() < change_p
        new_rating = _other_rating(rng, rating) if changed else rating
        events.append((later, (new_rating, later, who, img_id)))
    return events


def _defect_events(
    rng: np.random.Generator, hosts: list[int], first: dict[int, tuple], rows: int
) -> list[tuple[int, tuple]]:
    """One metadata row per defect kind, each an extra row on a non-CC0 rated image."""
    chosen = rng.choice(hosts, 5, replace=len(hosts) < 5).tolist()
    events = []
    for bad_rating, img_id in zip(("x", 0, None, 7), chosen[:4], strict=True):
        rating, t, annotator = first[img_id]
        later = _later(rng, t)
        events.append((later, (bad_rating, later, annotator, img_id)))
    rating, t, annotator = first[chosen[4]]
    later = _later(rng, t)
    events.append((later, (_other_rating(rng, rating), "yesterday", annotator, chosen[4])))
    missing_id = rows + 1 + int(rng.integers(0, 1000))
    events.append((later, (3, later, annotator, missing_id)))
    return events


def _count_defects(ratings: list[tuple], rows: int) -> dict[str, int]:
    """How many rows of each deliberate defect kind the sample holds."""
    counts = dict.fromkeys(DEFECT_KINDS, 0)
    # The plan always breaks exactly one img_info row of each kind.
    counts["img_info.generation_date_not_a_date"] = 1
    counts["img_info.experiment_model_id_not_integer"] = 1
    for rating, when, _annotator, img_id in ratings:
        is_int = isinstance(rating, int)
        counts["metadata.rating_not_integer"] += not is_int and rating is not None
        counts["metadata.rating_zero"] += is_int and rating == 0
        counts["metadata.rating_null"] += rating is None
        counts["metadata.rating_out_of_range"] += is_int and rating > 5
        counts["metadata.rating_date_not_a_date"] += not when[:1].isdigit()
        counts["metadata.image_id_missing"] += not 1 <= img_id <= rows
    return counts


def _later(rng: np.random.Generator, t: int) -> int:
    """An instant after ``t`` that is still before the end of the rating period."""
    span = max(RATING_END_US - t - 2 * US_PER_SECOND, 0)
    return t + US_PER_SECOND + int(span * rng.uniform(0.01, 0.6))


def _other_rating(rng: np.random.Generator, rating: int) -> int:
    """A plausible different rating: usable <-> unusable, or a neighbouring usable grade."""
    if rating == 5:
        return int(rng.choice((2, 3, 4)))
    if rng.random() < 0.5:
        return 5
    return rating + 1 if rating == 1 or (rating < 4 and rng.random() < 0.5) else rating - 1


def _format_rating(row: tuple) -> tuple:
    """Metadata row with the instant rendered like the real rating_date (with +03:00)."""
    rating, when, annotator, img_id = row
    if isinstance(when, int):
        when = _iso(np.asarray([when]))[0] + RATING_OFFSET
    return rating, when, annotator, img_id


def _iso(us: np.ndarray) -> list[str]:
    """ISO timestamps with microseconds and no offset, e.g. 2022-12-14T23:01:11.924645."""
    return np.datetime_as_string(START + us.astype("timedelta64[us]"), unit="us").tolist()


@functools.cache
def _day_folders() -> tuple[str, ...]:
    """``YYYY/M/D`` folder (no zero padding, like the real paths) for each day index."""
    first = dt.date(2022, 10, 1)
    days = (first + dt.timedelta(days=k) for k in range(GENERATION_DAYS))
    return tuple(f"{d.year}/{d.month}/{d.day}" for d in days)


def _chunk_bounds(day: np.ndarray) -> Iterator[tuple[int, int]]:
    """[lo, hi) row ranges of about CHUNK_ROWS made of whole days.

    Whole days let name clashes (same folder, same name) be settled inside one chunk.
    """
    starts = np.searchsorted(day, np.arange(GENERATION_DAYS + 1)).tolist()
    lo = 0
    for hi in starts[1:]:
        if hi - lo >= CHUNK_ROWS:
            yield lo, hi
            lo = hi
    if lo < len(day):
        yield lo, len(day)


def _chunk_prompts(
    rng: np.random.Generator, plan: _Plan, lo: int, hi: int
) -> tuple[list[str], list[str]]:
    """Prompts and names for ids lo+1..hi, unique per day folder, CC0 prompts kept as is.

    Two images in one folder with one name would be one file, so later clashes get a
    freshly drawn prompt until every (day, name) is unique.
    """
    prefixes = plan.prefix[lo:hi]
    days = plan.day[lo:hi].tolist()
    prompts = build_prompts(rng, prefixes)
    fixed = [img_id - 1 - lo for img_id in plan.cc0 if lo < img_id <= hi]
    for pos in fixed:
        prompts[pos] = plan.cc0[lo + pos + 1].prompt
    names = [image_name(p) for p in prompts]
    seen = {(days[pos], names[pos]) for pos in fixed}
    pending = []
    for pos, key in enumerate(zip(days, names, strict=True)):
        if key in seen and pos not in fixed:
            pending.append(pos)
        seen.add(key)
    for _attempt in range(50):
        if not pending:
            break
        clashing, pending = pending, []
        for pos, prompt in zip(clashing, build_prompts(rng, prefixes[clashing]), strict=True):
            key = (days[pos], image_name(prompt))
            if key in seen:
                pending.append(pos)
                continue
            seen.add(key)
            prompts[pos], names[pos] = prompt, key[1]
    else:
        raise RuntimeError("could not make image names unique; the word lists are too small")
    # Guarantee the rare line-break quirk even in small samples; names use the first
    # line only, so this cannot create a clash.
    pos = plan.line_break_id - 1 - lo
    if 0 <= pos < hi - lo and "\n" not in prompts[pos]:
        prompts[pos] += "\n" + AFTER_LINE_BREAK[0].replace(" ", "_")
    return prompts, names


def _img_info_chunks(
    rng: np.random.Generator, plan: _Plan, image_root: Path, file_names: dict[int, str]
) -> Iterator[list[tuple]]:
    """img_info rows in id order, chunk by chunk; records the name of every file row."""
    folders = _day_folders()
    has_file = np.zeros(plan.rows + 1, dtype=bool)
    has_file[plan.file_ids] = True
    local_root = str(image_root)
    for lo, hi in _chunk_bounds(plan.day):
        prompts, names = _chunk_prompts(rng, plan, lo, hi)
        ids = range(lo + 1, hi + 1)
        paths = []
        for img_id, day, name, local in zip(
            ids, plan.day[lo:hi].tolist(), names, has_file[lo + 1 : hi + 1].tolist(), strict=True
        ):
            relative = f"{folders[day]}/{name}"
            paths.append(f"{local_root if local else SERVER_ROOT}/{relative}")
            if local:
                file_names[img_id] = relative
        dates = _iso(plan.gen_us[lo:hi])
        model_ids = plan.model_id[lo:hi].tolist()
        if lo < plan.bad_generation_date_id <= hi:
            dates[plan.bad_generation_date_id - 1 - lo] = "not a date"
        if lo < plan.bad_model_id_id <= hi:
            model_ids[plan.bad_model_id_id - 1 - lo] = "abc"
        yield list(
            zip(
                ids,
                paths,
                names,
                dates,
                model_ids,
                plan.experiment_number[lo:hi].tolist(),
                prompts,
                strict=True,
            )
        )


def _write_database(
    path: Path,
    plan: _Plan,
    ratings: list[tuple],
    n_annotators: int,
    rng: np.random.Generator,
    image_root: Path,
    say: Callable[[str], None],
) -> dict[int, str]:
    """Write all three tables to a new SQLite file; return ``id -> YYYY/M/D/name`` of file rows."""
    file_names: dict[int, str] = {}
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as con:
        # A scratch file has nothing to protect; journaling and fsync only cost time.
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.executescript(SCHEMA)
        con.execute(MARKER_DDL)
        con.execute(f"INSERT INTO {MARKER_TABLE} VALUES (?, ?, ?, ?)",
                    ("neurostock sample", plan.rows, plan.seed, PLANTED_SIGNALS))
        con.execute("BEGIN")
        done = 0
        for chunk in _img_info_chunks(rng, plan, image_root, file_names):
            con.executemany(INSERT_IMG_INFO, chunk)
            done += len(chunk)
            say(f"img_info: {done:,} / {plan.rows:,} rows")
        con.executemany(INSERT_METADATA, ratings)
        con.executemany(INSERT_USER, enumerate(ANNOTATOR_NAMES[:n_annotators], start=1))
        con.execute("COMMIT")
    say(f"metadata: {len(ratings):,} rows, user: {n_annotators} annotators")
    return file_names


def _publish(scratch: Path, db_path: Path) -> None:
    """Move the finished scratch database into place, still refusing to overwrite."""
    if db_path.exists():  # appeared while we were writing
        raise ValueError(f"{db_path} appeared while the sample was written; not overwriting it")
    os.replace(scratch, db_path)


def _write_images(
    plan: _Plan, file_names: dict[int, str], image_root: Path, say: Callable[[str], None]
) -> int:
    """Write every planned JPEG (CC0 assets re-encoded, the rest synthetic); return count."""
    jobs = [
        (img_id, image_root / file_names[img_id], int(plan.quality[img_id - 1]),
         plan.cc0[img_id].png if img_id in plan.cc0 else None)
        for img_id in plan.file_ids.tolist()
    ]
    for folder in sorted({target.parent for _, target, _, _ in jobs}):
        folder.mkdir(parents=True, exist_ok=True)
    return write_pictures(jobs, plan.seed, say, total=len(jobs))


def _write_readme(out_dir: Path, summary: SampleSummary) -> None:
    """Explain what the sample is and where its only non-synthetic content comes from."""
    text = f"""\
Synthetic sample of core.download.db (neurostock)
=================================================

Written by sampledata/source.py with rows={summary.rows}, seed={summary.seed}.
Rerunning with the same rows and seed gives the same tables and images.

core.download.db   SQLite copy of the team's source schema (img_info, metadata, user).
                   Prompts, dates, ratings and annotators are synthetic; the real
                   file's quirks and a few deliberately broken rows are included
                   (see sample_manifest.json, "defect_rows").
core/YYYY/M/D/     JPEG files for the {summary.rated_images} rated images and up to
                   {UNRATED_WITH_FILES} unrated ones. Every other img_path points to a
                   server path that does not exist here.

All pictures are synthetic except {summary.cc0_images} real AI-generated images taken
from Simulacra Aesthetic Captions (JD-P/simulacrabot, crowsonkb/simulacra-aesthetic-
models), released under CC0 1.0 (public domain dedication). They were re-encoded
as JPEG. See sampledata/assets/sac_cc0/ for the manifest, the dataset README and
the LICENSE files of the source repositories.

PLANTED SIGNALS: the synthetic pictures' blur, noise, contrast and exposure follow
their rating by construction, so a score that measures them (technical_*) agrees with
the ratings because of how this sample was made; it is not a finding. The table
{MARKER_TABLE} in core.download.db says so, and the report and the demo repeat it.
"""
    (out_dir / "README.txt").write_text(text, encoding="utf-8")


def _write_manifest(out_dir: Path, summary: SampleSummary) -> None:
    """Save the summary as JSON (paths as strings)."""
    fields = dataclasses.asdict(summary)
    fields["db_path"] = str(summary.db_path)
    (out_dir / "sample_manifest.json").write_text(
        json.dumps(fields, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
