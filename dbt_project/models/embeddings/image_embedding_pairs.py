"""One row per pair of images whose image vectors under one embedder with real weights
have cosine at or above the policy's near_duplicate_min_cosine (config min_cosine):
embedder_id, image_id_a < image_id_b, cosine (list_cosine_similarity of the stored
vectors, as an exact comparison of every pair would compute it). A random-weight
embedder's vectors are indexed (for `neurostock similar`) but not searched for pairs:
they say nothing about similarity, and such a model tends to map every image close to
every other.

Found without comparing every vector with every other: each embedder's vectors live in
a nearest-neighbour index beside the warehouse (`<warehouse>.index/`,
neurostock/compute/vector_index.py); every searched vector's neighbours above the
threshold less a margin are candidates, and each candidate is verified on the stored
vectors here. Incremental like near_duplicate_pairs: image_embedding_checked holds the
vectors the last build indexed and searched; only new and changed vectors are added and
searched (against all), pairs between unchanged images are kept. A changed threshold
searches everything again; a missing or mismatched index is rebuilt. Vectors of the
wrong dimension or with NaN (int_image_vectors.problem) are counted and left out."""

import numpy as np
import pandas as pd

from neurostock.compute.vector_index import VectorIndex, candidate_pairs, verified_pairs
from neurostock.core.paths import connection_warehouse, image_index_file
from neurostock.core.progress import say

COLUMNS = ["embedder_id", "image_id_a", "image_id_b", "cosine"]
BATCH = 50_000


def _table_exists(session, name: str) -> bool:
    return bool(session.execute(
        "select count(*) from duckdb_tables() where schema_name = 'main' "
        "and table_name = ?", [name]).fetchone()[0])


def _batches(session, vectors, embedder_id: str, ids: np.ndarray, dim: int):
    """(ids, float32 matrix) of the embedder's vectors for `ids`, BATCH rows at a time."""
    session.register("ns_wanted_ids", pd.DataFrame({"image_id": ids}))
    try:
        relation = vectors.query("vectors", (
            "select image_id, embedding from vectors semi join ns_wanted_ids using (image_id) "
            f"where embedder_id = '{embedder_id}' and problem is null"))
        reader = relation.fetch_record_batch(BATCH)
        for batch in reader:
            if batch.num_rows:
                values = batch.column("embedding").flatten().to_numpy(zero_copy_only=False)
                yield (batch.column("image_id").to_numpy(),
                       values.astype(np.float32).reshape(-1, dim))
    finally:
        session.unregister("ns_wanted_ids")


def _embedder_pairs(session, vectors, embedder_id: str, current: pd.DataFrame,
                    before: pd.DataFrame | None, min_cosine: float, index_file) -> tuple:
    """The embedder's candidate pairs and which of its images were searched (None: all)."""
    dim = int(current["dim"].iloc[0])
    ids = current["image_id"].to_numpy(dtype=np.int64)
    if before is not None and len(before):
        hashes = dict(zip(before["image_id"].tolist(), before["vector_hash"].tolist(),
                          strict=True))
        same = np.array([hashes.get(i) == h for i, h in zip(
            current["image_id"].tolist(), current["vector_hash"].tolist(), strict=True)],
            dtype=bool)
        changed = ids[~same]
        gone = np.setdiff1d(before["image_id"].to_numpy(dtype=np.int64), ids)
        unchanged = ids[same]
    else:
        changed, gone, unchanged = ids, np.zeros(0, np.int64), np.zeros(0, np.int64)
    rethreshold = before is None or not len(before) or \
        not np.allclose(before["min_cosine"].to_numpy(dtype=float), min_cosine)
    if not len(changed) and not len(gone) and index_file.is_file() and (
            not rethreshold or bool(current["is_random_init"].iloc[0])):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), changed
    index = VectorIndex.load(index_file, dim)
    if index is None or not index.contains(unchanged).all():
        say(f"{embedder_id}: building its image index ({len(ids):,} vectors)")
        index, add = VectorIndex(dim), ids
    else:
        index.remove(np.concatenate([changed, gone]))
        add = changed
    for batch_ids, batch in _batches(session, vectors, embedder_id, add, dim):
        index.add(batch_ids, batch)
        if len(add) > BATCH:
            say(f"  {embedder_id}: indexed {len(index):,} of {len(ids):,} vectors")
    index.save(index_file)
    if bool(current["is_random_init"].iloc[0]):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), None
    searched = ids if rethreshold else changed
    lows, highs = [], []
    done = 0
    for batch_ids, batch in _batches(session, vectors, embedder_id, searched, dim):
        low, high = candidate_pairs(index, batch_ids, batch, min_cosine)
        lows.append(low)
        highs.append(high)
        done += len(batch_ids)
        if len(searched) > BATCH:
            say(f"  {embedder_id}: searched {done:,} of {len(searched):,} vectors")
    low = np.concatenate(lows) if lows else np.zeros(0, np.int64)
    high = np.concatenate(highs) if highs else np.zeros(0, np.int64)
    return low, high, None if rethreshold else changed


def model(dbt, session):
    dbt.config(materialized="table", tags=["embedding"])
    min_cosine = float(dbt.config.get("min_cosine"))
    vectors = dbt.ref("int_image_vectors")
    warehouse = connection_warehouse(session)
    # The facts (hashes, problems) from their table: the view would hash and check
    # every vector again.
    state = dbt.ref("int_image_vector_facts").project(
        "image_id, embedder_id, is_random_init, vector_hash, dim, problem").df()
    for (embedder_id, problem), n in state[state["problem"].notna()].groupby(
            ["embedder_id", "problem"]).size().items():
        say(f"image_embedding_pairs: {n:,} {embedder_id} vectors left out ({problem})")
    state = state[state["problem"].isna()]
    checked = previous = None
    if _table_exists(session, "image_embedding_checked") and \
            _table_exists(session, "image_embedding_pairs"):
        checked = session.execute(
            "select image_id, embedder_id, vector_hash, min_cosine "
            "from image_embedding_checked").df()
        previous = session.execute(
            f"select {', '.join(COLUMNS)} from image_embedding_pairs").df()
    kept, candidates = [], []
    for embedder_id, current in state.groupby("embedder_id"):
        before = None if checked is None else checked[checked["embedder_id"] == embedder_id]
        low, high, searched = _embedder_pairs(
            session, vectors, embedder_id, current, before, min_cosine,
            image_index_file(warehouse, embedder_id))
        candidates.append(pd.DataFrame({"embedder_id": embedder_id, "image_id_a": low,
                                        "image_id_b": high}))
        if searched is not None and previous is not None:
            stale = set(searched.tolist()) | (
                set(before["image_id"].tolist()) - set(current["image_id"].tolist()))
            mine = previous[previous["embedder_id"] == embedder_id]
            kept.append(mine[~(mine["image_id_a"].isin(stale) | mine["image_id_b"].isin(stale))])
        if bool(current["is_random_init"].iloc[0]):
            say(f"image_embedding_pairs: {embedder_id}: {len(current):,} vectors indexed, "
                "no pairs searched (RANDOM WEIGHTS)")
            continue
        say(f"image_embedding_pairs: {embedder_id}: "
            f"{'all' if searched is None else f'{len(searched):,} new or changed'} of "
            f"{len(current):,} vectors searched, {len(low):,} candidate pairs")
    found = pd.concat(candidates, ignore_index=True) if candidates else pd.DataFrame(
        {"embedder_id": pd.Series(dtype=str), "image_id_a": pd.Series(dtype="int64"),
         "image_id_b": pd.Series(dtype="int64")})
    found = found.drop_duplicates()
    # Every candidate verified on the stored vectors (an id the index still holds but
    # the warehouse no longer has drops out in the join).
    verified = verified_pairs(session, vectors, found, min_cosine)
    frames = [f for f in (*kept, verified) if len(f)]
    pairs = pd.concat(frames, ignore_index=True) if frames else verified
    say(f"image_embedding_pairs: {len(pairs):,} pairs at cosine >= {min_cosine} "
        f"({sum(len(f) for f in kept):,} kept, {len(verified):,} found)")
    return session.from_df(pairs[COLUMNS]).project(
        "embedder_id::varchar as embedder_id, "
        "image_id_a::bigint as image_id_a, image_id_b::bigint as image_id_b, "
        "cosine::double as cosine")
