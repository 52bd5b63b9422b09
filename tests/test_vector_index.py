"""compute.vector_index: the image-vector index proposes, the stored vectors decide; on
planted near-copies the pairs it finds are every pair an all-pairs comparison finds."""

from __future__ import annotations

import numpy as np

from neurostock.compute import vector_index
from neurostock.compute.vector_index import VectorIndex, candidate_pairs


def planted(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Clustered unit vectors (cosine ~0.7 within a cluster) with groups of 2-5 copies
    whose cosine to their original straddles 0.97."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, dim))
    vectors = centres[rng.integers(0, 50, n)] + 0.6 * rng.standard_normal((n, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for start in range(0, n // 10, 5):
        size = 2 + start % 4
        cosine = rng.uniform(0.95, 0.995, size - 1)
        sigma = np.sqrt((1 / cosine ** 2 - 1) / dim)
        copies = vectors[start] + sigma[:, None] * rng.standard_normal((size - 1, dim))
        vectors[start + 1:start + size] = copies / np.linalg.norm(copies, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def verified(ids: np.ndarray, vectors: np.ndarray, low, high, min_cosine: float) -> set:
    """What image_embedding_pairs keeps of the candidates: cosine on the stored vectors."""
    row = {i: r for r, i in enumerate(ids.tolist())}
    return {(a, b) for a, b in zip(low.tolist(), high.tolist(), strict=True)
            if float(vectors[row[a]] @ vectors[row[b]]) >= min_cosine}


def every_pair(ids: np.ndarray, vectors: np.ndarray, min_cosine: float) -> set:
    sims = vectors @ vectors.T
    a, b = np.nonzero(np.triu(sims >= min_cosine, k=1))
    return set(zip(ids[a].tolist(), ids[b].tolist(), strict=True))


def test_exact_search_finds_every_pair_compared():
    """Up to EXACT_BELOW vectors (the demo, the tests, a small warehouse) the search is
    exact: every pair, on every run."""
    vectors = planted(3000, 48)
    ids = np.arange(3000, dtype=np.int64) * 7 + 3
    index = VectorIndex(48)
    index.add(ids, vectors)
    truth = every_pair(ids, vectors, 0.97)
    assert len(truth) > 100
    low, high = candidate_pairs(index, ids, vectors, 0.97, batch=1000)
    assert (low < high).all()
    assert len(set(zip(low.tolist(), high.tolist(), strict=True))) == len(low)
    assert verified(ids, vectors, low, high, 0.97) == truth


def test_the_graph_search_finds_nearly_every_pair(monkeypatch):
    """Above EXACT_BELOW the HNSW graph is searched: approximate, so measured as recall
    (benchmarks/bench_embedding_index.py: 1.0 on 100k x 512). Built with two threads the
    graph differs from run to run; here, 3,000 tightly clustered 48-d vectors, it has
    missed at most 3 of ~105 pairs over 15 seeds."""
    monkeypatch.setattr(vector_index, "EXACT_BELOW", 0)
    vectors = planted(3000, 48)
    ids = np.arange(3000, dtype=np.int64)
    index = VectorIndex(48)
    index.add(ids, vectors)
    truth = every_pair(ids, vectors, 0.97)
    low, high = candidate_pairs(index, ids, vectors, 0.97, batch=1000)
    found = verified(ids, vectors, low, high, 0.97)
    assert found <= truth
    assert len(found) >= 0.95 * len(truth)


def test_a_large_group_of_copies_is_found_whole():
    """Sixty copies of one image: more than the first search's k neighbours each."""
    rng = np.random.default_rng(1)
    vectors = planted(500, 32)
    vectors[100:160] = vectors[100] + 0.001 * rng.standard_normal((60, 32))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(500, dtype=np.int64)
    index = VectorIndex(32)
    index.add(ids, vectors)
    low, high = candidate_pairs(index, ids, vectors, 0.97)
    assert verified(ids, vectors, low, high, 0.97) == every_pair(ids, vectors, 0.97)


def test_only_new_vectors_are_searched_and_old_pairs_stay(tmp_path):
    """The incremental step: save, reload, replace one vector, add new ones; searching
    only those finds exactly the pairs that involve them."""
    vectors = planted(1200, 32, seed=2)
    ids = np.arange(1200, dtype=np.int64)
    index = VectorIndex(32)
    index.add(ids[:1000], vectors[:1000])
    path = tmp_path / "warehouse.duckdb.index" / "image__e.usearch"
    index.save(path)
    assert path.is_file() and not path.with_name(path.name + ".partial").exists()

    again = VectorIndex.load(path, 32)
    assert len(again) == 1000 and again.contains(ids[:1000]).all()
    assert VectorIndex.load(path, 16) is None  # another dimension: built anew
    changed = vectors.copy()
    changed[10] = vectors[500]  # image 10 now copies image 500
    again.remove(ids[[10]])
    new = np.r_[10, np.arange(1000, 1200)]
    again.add(ids[new], changed[new])
    low, high = candidate_pairs(again, ids[new], changed[new], 0.97)
    found = verified(ids, changed, low, high, 0.97)
    truth = every_pair(ids, changed, 0.97)
    involving = {p for p in truth if p[0] in set(new.tolist()) or p[1] in set(new.tolist())}
    assert (10, 500) in found
    assert found == involving


def test_a_saved_index_opens_as_a_read_only_view(tmp_path):
    vectors = planted(200, 16, seed=3)
    ids = np.arange(200, dtype=np.int64) + 1
    index = VectorIndex(16)
    index.add(ids, vectors)
    path = tmp_path / "image__e.usearch"
    index.save(path)
    view = VectorIndex.load(path, 16, view=True)
    keys, sims = view.search(vectors[:3], 5)
    assert keys[:, 0].tolist() == [1, 2, 3]
    assert np.allclose(sims[:, 0], 1, atol=1e-3)
    assert VectorIndex.load(tmp_path / "absent.usearch", 16) is None
    (tmp_path / "broken.usearch").write_bytes(b"not an index")
    assert VectorIndex.load(tmp_path / "broken.usearch", 16) is None
    # An index saved with another storage kind (int8) is not taken up: the build makes
    # a new one, of the measured kind.
    other = VectorIndex(16, dtype="i8")
    other.add(ids, vectors)
    other.save(tmp_path / "other.usearch")
    assert VectorIndex.load(tmp_path / "other.usearch", 16) is None
    assert vector_index.DTYPE == "f16"


def test_one_query_is_answered_like_many():
    vectors = planted(100, 16, seed=4)
    ids = np.arange(100, dtype=np.int64)
    index = VectorIndex(16)
    index.add(ids, vectors)
    one_keys, one_sims = index.search(vectors[5:6], 4)
    keys, sims = index.search(vectors[4:7], 4)
    assert one_keys.shape == (1, 4) and one_keys.tolist() == keys[1:2].tolist()
    assert np.allclose(one_sims, sims[1:2])


def test_a_wider_search_for_one_call_only(tmp_path, monkeypatch):
    """`similar`'s wider graph search (SIMILAR_EXPANSION) on a saved view: as many true
    top-20 neighbours as the default width finds, at least, and the index's own width is
    back to the default after the call (the build's pair search keeps it)."""
    monkeypatch.setattr(vector_index, "EXACT_BELOW", 0)
    vectors = planted(4000, 32, seed=5)
    ids = np.arange(4000, dtype=np.int64)
    index = VectorIndex(32)
    index.add(ids, vectors)
    index.save(tmp_path / "image__e.usearch")
    view = VectorIndex.load(tmp_path / "image__e.usearch", 32, view=True)
    queries = np.arange(0, 4000, 80)
    exact = np.argsort(-(vectors[queries] @ vectors.T), axis=1)[:, :20]
    hits = {}
    for width in (None, vector_index.SIMILAR_EXPANSION):
        keys, _ = view.search(vectors[queries], 20, expansion=width)
        hits[width] = sum(len(set(k) & set(e)) for k, e in zip(keys.tolist(), exact.tolist(),
                                                               strict=True))
        assert view.index.expansion_search == vector_index.EXPANSION_SEARCH
    assert hits[vector_index.SIMILAR_EXPANSION] >= hits[None]
    assert hits[vector_index.SIMILAR_EXPANSION] >= 0.95 * 20 * len(queries)


def _vectors_view(n: int, dim: int = 16):
    """A DuckDB session with a view shaped like int_image_vectors (one embedder, its
    usual dimension by `mode`, a problem column) over n planted vectors."""
    import duckdb
    import pandas as pd

    con = duckdb.connect()
    vectors = planted(n, dim)
    con.register("raw", pd.DataFrame({"image_id": np.arange(1, n + 1),
                                      "embedding": list(vectors.astype(np.float32))}))
    con.execute(f"""create table stored as select image_id, 'e' as embedder_id,
                    embedding::float[]::float[{dim}]::float[] as embedding from raw""")
    con.execute("""create view int_image_vectors as
        with v as (select *, len(embedding) as dim from stored),
        usual as (select embedder_id, mode(dim) as usual_dim from v group by embedder_id)
        select v.*, case when v.dim != usual.usual_dim then 'wrong dimension' end as problem
        from v inner join usual using (embedder_id)""")
    return con, vectors


def _joins(plan: dict) -> list[tuple[str, str, tuple[str, ...]]]:
    """(operator, its join conditions, its inputs' operators) of every join in a DuckDB
    JSON plan."""
    found = []
    name = plan.get("name", "")
    children = plan.get("children", [])
    if "JOIN" in name or "CROSS_PRODUCT" in name:
        found.append((name, str(plan.get("extra_info", {}).get("Conditions", "")),
                      tuple(child.get("name", "") for child in children)))
    for child in children:
        found += _joins(child)
    return found


def test_pairs_are_verified_by_joins_on_the_image_id_only():
    """verified_pairs keeps exactly the candidates whose stored vectors are at the
    threshold, and its plan joins every vector on an image id: never the two sides of
    the vectors on the embedder alone (every vector with every other), which the same
    question written as one three-way join gets from DuckDB's planner."""
    import json

    import pandas as pd

    con, vectors = _vectors_view(3000)
    rng = np.random.default_rng(1)
    low = np.concatenate([np.arange(1, 300, 5), rng.integers(1, 3001, 400)])
    high = np.concatenate([np.arange(2, 301, 5), rng.integers(1, 3001, 400)])
    keep = low != high
    candidates = pd.DataFrame({"embedder_id": "e", "image_id_a": low[keep],
                               "image_id_b": high[keep]}).drop_duplicates()
    relation = con.view("int_image_vectors")
    got = vector_index.verified_pairs(con, relation, candidates, 0.97)
    cosine = (vectors[candidates["image_id_a"] - 1] * vectors[candidates["image_id_b"] - 1]).sum(1)
    expected = set(zip(candidates["image_id_a"][cosine >= 0.97],
                       candidates["image_id_b"][cosine >= 0.97], strict=True))
    assert len(expected) >= 20
    assert set(zip(got["image_id_a"], got["image_id_b"], strict=True)) == expected

    def plan_joins(sql: str) -> list[tuple[str, str]]:
        con.register("ns_candidate_pairs", candidates)
        con.execute("create or replace temp view vectors as select * from int_image_vectors")
        plan = json.loads(con.execute("explain (format json) " + sql).fetchall()[0][1])
        return [j for node in plan for j in _joins(node)]

    def only_embedder(joins):
        # A join without an image id, other than the view's own join of each vector
        # with its embedder's usual dimension (a grouped input): vectors with vectors.
        return [j for j in joins if "image_id" not in j[1] and "HASH_GROUP_BY" not in j[2]]

    assert only_embedder(plan_joins(vector_index.VERIFY_SQL.format(min_cosine=0.97))) == []
    three_way = """select c.embedder_id, list_cosine_similarity(a.embedding, b.embedding)
        from ns_candidate_pairs as c
        inner join vectors as a on a.embedder_id = c.embedder_id and a.image_id = c.image_id_a
        inner join vectors as b on b.embedder_id = c.embedder_id and b.image_id = c.image_id_b
        where a.problem is null and b.problem is null
            and list_cosine_similarity(a.embedding, b.embedding) >= 0.97"""
    assert only_embedder(plan_joins(three_way)), "the hazard this plan check guards against"
