"""The digest that lets a rebuild keep a cluster map or k-means fit of an unchanged
input (neurostock/analysis/clusters.py): it changes with anything the fit depends on,
and only then. The rebuild itself, on a built warehouse: tests/test_analysis.py."""

from __future__ import annotations

import numpy as np

from neurostock.analysis.clusters import EmbedderVectors, input_digest


def _vectors(embedder_id="minilm", kind="prompt", ids=None, vectors=None) -> EmbedderVectors:
    rng = np.random.default_rng(3)
    ids = np.arange(1, 21, dtype=np.int64) if ids is None else ids
    vectors = rng.normal(size=(len(ids), 8)) if vectors is None else vectors
    return EmbedderVectors(embedder_id, kind, ids, vectors)


def test_the_digest_follows_the_input_and_the_parameters():
    base = _vectors()
    same = input_digest(_vectors(), "map", 42, 20000)
    assert input_digest(base, "map", 42, 20000) == same
    nudged = base.vectors.copy()
    nudged[7, 3] += 1e-9  # one coordinate of one image
    changed = [
        input_digest(_vectors(vectors=nudged), "map", 42, 20000),
        input_digest(_vectors(ids=base.image_ids + 1, vectors=base.vectors), "map", 42, 20000),
        input_digest(_vectors(embedder_id="tiny", vectors=base.vectors), "map", 42, 20000),
        input_digest(_vectors(kind="image", vectors=base.vectors), "map", 42, 20000),
        input_digest(base, "map", 43, 20000),
        input_digest(base, "map", 42, 100),
        input_digest(base, "kmeans", 42, 20000),
    ]
    assert same not in changed and len(set(changed)) == len(changed)


def test_assignments_are_the_nearest_centroid_and_unusable_vectors_are_left_out(capfd):
    """assignment_batches (the dbt model cluster_assignments) on a real DuckDB: every
    member's nearest centroid per k against numpy's, and a vector of another length, a
    NaN one and (for "both") an all-zero half counted and left out, not a crash."""
    import duckdb

    from neurostock.analysis.clusters import assignment_batches

    rng = np.random.default_rng(8)
    con = duckdb.connect()
    centroids = {3: rng.normal(size=(3, 4)), 5: rng.normal(size=(5, 4))}
    con.execute("create table cluster_centroids (embedder_id varchar, embedding_kind "
                "varchar, k bigint, is_chosen_k boolean, is_default_input boolean, "
                "cluster_id integer, centroid double[])")
    for k, rows in centroids.items():
        for cluster_id, centroid in enumerate(rows):
            con.execute("insert into cluster_centroids values ('e', 'image', ?, ?, true, ?, ?)",
                        [k, k == 5, cluster_id, centroid.tolist()])
    both = rng.normal(size=(2, 8))
    for cluster_id, centroid in enumerate(both):
        con.execute("insert into cluster_centroids values ('e', 'both', 2, true, false, ?, ?)",
                    [cluster_id, centroid.tolist()])
    vectors = rng.normal(size=(60, 4)).astype(np.float32)
    rows = [(i + 1, v.tolist()) for i, v in enumerate(vectors)]
    rows += [(61, [1.0, 2.0]), (62, [float("nan")] * 4)]
    con.execute("create table image_embeddings (image_id bigint, embedder_id varchar, "
                "embedding float[])")
    con.executemany("insert into image_embeddings values (?, 'e', ?)", rows)
    prompts = rng.normal(size=(62, 4)).astype(np.float32)
    prompts[4] = 0  # image 5: an all-zero prompt half
    con.execute("create table prompt_embeddings as select image_id, embedder_id, "
                "embedding from image_embeddings where false")
    con.executemany("insert into prompt_embeddings values (?, 'e', ?)",
                    [(i + 1, p.tolist()) for i, p in enumerate(prompts)])
    con.execute("create table full_set as select range + 1 as image_id from range(40)")
    con.execute("create table pool as select range + 41 as image_id, 'pool' as image_set, "
                "null::integer as source_rating from range(22)")
    names = {"centroids": "cluster_centroids", "full_set": "full_set", "pool": "pool",
             "images": "image_embeddings", "prompts": "prompt_embeddings"}
    tables = [table for table, _ in assignment_batches(con, names)]
    out = {(r["image_id"], r["embedding_kind"], r["k"]): r for table in tables
           for r in table.to_pylist()}
    for k, rows in centroids.items():
        distances = np.linalg.norm(vectors[:, None, :].astype(np.float64) - rows[None], axis=2)
        for i in range(60):
            got = out[(i + 1, "image", k)]
            assert got["cluster_id"] == int(distances[i].argmin())
            assert abs(got["centroid_distance"] - distances[i].min()) < 1e-9
            assert got["image_set"] == ("full_set" if i < 40 else "pool")
            assert got["is_chosen_k"] == (k == 5)
    assert not {i for i, kind, _ in out if i in (61, 62) and kind == "image"}
    joined = {i for i, kind, _ in out if kind == "both"}
    assert joined == set(range(1, 61)) - {5}
    unit = np.concatenate([
        vectors / np.sqrt(2 * (vectors.astype(np.float64) ** 2).sum(axis=1))[:, None],
        prompts[:60] / np.sqrt(2 * (prompts[:60].astype(np.float64) ** 2).sum(
            axis=1, keepdims=True).clip(1e-300))], axis=1)
    expected = np.linalg.norm(unit[:, None, :] - both[None], axis=2).argmin(axis=1)
    assert all(out[(i + 1, "both", 2)]["cluster_id"] == expected[i]
               for i in range(60) if i + 1 != 5)
    said = capfd.readouterr().err
    assert "cluster_assignments: e image: 2 vectors left out" in said
    assert "cluster_assignments: e both: 3 vectors left out" in said
