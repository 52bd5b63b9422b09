"""What a learned model learns from: the chosen embedders' image and/or prompt
embeddings of every image, plus every valid score (not features derived from
embeddings, not other learned scores), read from the warehouse into one matrix."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np

from neurostock.core.config import LearnedConfig
from neurostock.core.errors import NeurostockError


@dataclass
class Features:
    """One row per image of `image_ids`; `names` name the columns; `blocks` say which
    embedding or score each group of columns holds and for how many images."""

    image_ids: np.ndarray
    matrix: np.ndarray
    names: list[str]
    blocks: list[dict] = field(default_factory=list)


def column_kinds(names: list[str]) -> tuple[list[bool], list[bool]]:
    """Per column name: (is an embedding dimension, is a score)."""
    embedding = [("[" in n and not n.startswith("score:")) for n in names]
    score = [n.startswith("score:") for n in names]
    return embedding, score


def _vectors(con: duckdb.DuckDBPyConnection, view: str, embedder: str,
             index: dict[int, int], n: int) -> np.ndarray | None:
    table = con.execute(f"select image_id, embedding from {view} where embedder_id = ?",
                        [embedder]).arrow()
    if hasattr(table, "read_all"):
        table = table.read_all()
    if table.num_rows == 0:
        return None
    ids = table.column("image_id").to_numpy()
    flat = table.column("embedding").combine_chunks()
    dim = len(flat[0])
    values = np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
    values = values.reshape(-1, dim)
    out = np.full((n, dim), np.nan)
    rows = [index.get(int(i), -1) for i in ids]
    keep = np.array([r >= 0 for r in rows])
    out[np.array(rows)[keep]] = values[keep]
    return out


def load_features(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig,
                  image_ids: np.ndarray, required: bool = True) -> Features:
    """The feature matrix of `image_ids`, NaN where an image lacks a block; one
    has_<block> column per block that can be missing. With no feature at all: a
    NeurostockError, or (not `required`: the model has other features) no columns."""
    index = {int(i): row for row, i in enumerate(image_ids)}
    n = len(image_ids)
    blocks, names, columns = [], [], []
    known = {r[0]: list(r[1]) for r in con.execute(
        "select embedder_id, kinds from meta.embedding_models").fetchall()}
    for embedder in cfg.embedders:
        if embedder not in known:
            raise NeurostockError(f"learned {cfg.name}: no embedder {embedder!r} in the "
                                  f"warehouse (known: {', '.join(sorted(known)) or 'none'})")
        for kind in cfg.kinds:
            if kind not in known[embedder]:
                continue
            matrix = _vectors(con, f"{kind}_embeddings", embedder, index, n)
            if matrix is None:
                continue
            present = ~np.isnan(matrix).any(axis=1)
            blocks.append({"block": f"{kind}:{embedder}", "dim": matrix.shape[1],
                           "n_present": int(present.sum())})
            columns += [matrix, present[:, None].astype(float)]
            names += [f"{kind}:{embedder}[{d}]" for d in range(matrix.shape[1])]
            names.append(f"has_{kind}:{embedder}")
    if cfg.use_scores:
        rows = con.execute("""
            select signals.image_id, signals.scorer_id, signals.score
            from image_signals as signals
            inner join signal_summary as summary using (scorer_id)
            where summary.is_valid and signals.signal_kind = 'score'
              and not starts_with(signals.scorer_id, 'learned_')
            order by signals.scorer_id""").fetchall()
        scorers = sorted({r[1] for r in rows})
        position = {s: j for j, s in enumerate(scorers)}
        matrix = np.full((n, len(scorers)), np.nan)
        for image_id, scorer_id, score in rows:
            row = index.get(int(image_id))
            if row is not None:
                matrix[row, position[scorer_id]] = score
        for j, scorer_id in enumerate(scorers):
            present = ~np.isnan(matrix[:, j])
            blocks.append({"block": f"score:{scorer_id}", "dim": 1,
                           "n_present": int(present.sum())})
            columns += [matrix[:, j:j + 1], present[:, None].astype(float)]
            names += [f"score:{scorer_id}", f"has_score:{scorer_id}"]
    if not columns and not required:
        return Features(image_ids=image_ids, matrix=np.zeros((n, 0)), names=[], blocks=[])
    if not columns:
        raise NeurostockError(f"learned {cfg.name}: none of the chosen features exist in the "
                              "warehouse yet (run `neurostock build`)")
    return Features(image_ids=image_ids, matrix=np.hstack(columns), names=names,
                    blocks=blocks)
