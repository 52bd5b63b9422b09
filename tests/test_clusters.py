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
