"""Computed scorers on Ray Data: the runner of embed/ray_engine.py with a scorer actor.

Each actor loads the scorer once (score/catalog.py, as the UDF does), decodes with the
UDF's decode, and writes each batch's results as one shard of JSON results in the form
the scoring UDF caches them (compute/shards.py, kind `scores`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurostock.compute.decode_pool import process_pool
from neurostock.compute.shards import SCORES, score_table, shard_folder, write_shard
from neurostock.core.errors import NeurostockError
from neurostock.score.catalog import load_scorer
from neurostock.score.udfs import BATCH, _decode_one, scorer_fingerprint


def result_json(scored) -> str:
    """A scorer's ImageScore as the JSON text score/udfs.py caches."""
    return json.dumps({"score": scored.score, "components": scored.components or None,
                       "text": scored.text, "error": scored.error})


def failed_json(error: str | None) -> str:
    """The cached result of an image that could not be decoded."""
    return json.dumps({"score": None, "components": None, "text": None, "error": error})


class ImageScoreActor:
    """One scorer actor: the scorer loaded once; each call scores a batch of images in
    the UDF's batches of 16 and writes the results as one shard."""

    def __init__(self, scorer_id: str, fingerprint: str, shards: str,
                 decode_workers: int) -> None:
        self.scorer = load_scorer(scorer_id)
        found = scorer_fingerprint(self.scorer)
        if found != fingerprint:
            raise NeurostockError(
                f"scorer {scorer_id}: this Ray worker's fingerprint {found} is not the "
                f"warehouse's {fingerprint} (install the same requirements.lock there)")
        self.scorer_id, self.fingerprint = scorer_id, fingerprint
        self.folder = shard_folder(Path(shards), SCORES, fingerprint)
        self.decoders = process_pool(decode_workers)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        paths = [str(p) for p in batch["path"]]
        hashes = [str(h) for h in batch["content_sha256"]]
        results: list[str] = [""] * len(paths)
        n_failed = 0
        indices = list(range(len(paths)))
        groups = [indices[i : i + BATCH] for i in range(0, len(indices), BATCH)]
        for group, decoded in zip(groups, self.decoders.batches(lambda i: _decode_one(paths[i]),
                                                                 groups), strict=True):
            ok = [j for j, (image, _) in enumerate(decoded) if image is not None]
            scored = dict(zip(ok, self.scorer.score_images([decoded[j][0] for j in ok])
                              if ok else [], strict=True))
            for j, i in enumerate(group):
                if j in scored:
                    results[i] = result_json(scored[j])
                    n_failed += scored[j].error is not None
                else:
                    results[i] = failed_json(decoded[j][1])
                    n_failed += 1
        write_shard(self.folder, score_table(hashes, self.fingerprint, self.scorer_id, results))
        return {"n_done": np.array([len(paths) - n_failed]), "n_failed": np.array([n_failed])}
