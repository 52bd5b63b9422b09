"""One row per pair of images whose perceptual hashes differ in at most var
near_duplicate_max_distance bits, directly or with one of them mirrored (a flipped
copy): image_id_a < image_id_b, hamming_distance (the smallest of the direct and the
mirrored distances), mirrored (only a mirror brings them that close).

Found by multi-index hashing (neurostock/analysis/hamming.py), never by comparing every
hash with every other, and incrementally: near_duplicate_checked holds the hashes the
last build searched; only images whose hash is new or changed are searched again
(against every hash), the pairs between unchanged images are kept. A changed distance
searches everything again."""

import numpy as np
import pandas as pd

from neurostock.analysis.hamming import near_pairs
from neurostock.core.progress import say

COLUMNS = ["image_id_a", "image_id_b", "hamming_distance", "mirrored"]


def _table_exists(session, name: str) -> bool:
    return bool(session.execute(
        "select count(*) from duckdb_tables() where schema_name = 'main' "
        "and table_name = ?", [name]).fetchone()[0])


def model(dbt, session):
    dbt.config(materialized="table", tags=["score"])
    max_distance = int(dbt.config.get("max_distance"))
    hashes = dbt.ref("int_phash_hashes").df()
    ids = hashes["image_id"].to_numpy(dtype=np.int64)
    current = dict(zip(hashes["image_id"].tolist(), hashes["score_text"].tolist(),
                       strict=True))
    # What the last build searched (absent: the first build, or a changed distance).
    changed = None
    kept = pd.DataFrame(columns=COLUMNS)
    if _table_exists(session, "near_duplicate_checked") and \
            _table_exists(session, "near_duplicate_pairs"):
        checked = session.execute(
            "select image_id, score_text, max_distance from near_duplicate_checked").df()
        if len(checked) and (checked["max_distance"] == max_distance).all():
            before = dict(zip(checked["image_id"].tolist(), checked["score_text"].tolist(),
                              strict=True))
            changed_ids = [i for i, text in current.items() if before.get(i) != text]
            gone = set(before) - set(current)
            stale = set(changed_ids) | gone
            previous = session.execute(
                f"select {', '.join(COLUMNS)} from near_duplicate_pairs").df()
            keep = ~(previous["image_id_a"].isin(stale) | previous["image_id_b"].isin(stale))
            kept = previous[keep]
            changed = np.array(changed_ids, dtype=np.int64)
    if changed is None or len(changed):
        low, high, distance, mirrored = near_pairs(
            ids, hashes["phash"].to_numpy(dtype=np.uint64),
            hashes["mirror_phash"].fillna(0).to_numpy(dtype=np.uint64), max_distance,
            changed=changed, progress=say)
        found = pd.DataFrame({"image_id_a": low, "image_id_b": high,
                              "hamming_distance": distance, "mirrored": mirrored})
    else:
        found = pd.DataFrame(columns=COLUMNS)
    say(f"near-duplicate pairs: {len(kept):,} kept, {len(found):,} found "
        f"({'all' if changed is None else f'{len(changed):,} new or changed'} images "
        "searched)")
    frames = [f for f in (kept, found) if len(f)]
    pairs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return session.from_df(pairs).project(
        "image_id_a::bigint as image_id_a, image_id_b::bigint as image_id_b, "
        "hamming_distance::bigint as hamming_distance, mirrored::boolean as mirrored")
