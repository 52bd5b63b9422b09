"""LAION / Simulacra aesthetic heads: tiny linear models over OpenAI CLIP image embeddings.

Every head shipped here is linear in the embedding (the improved predictor's
MLP has no activations, so its five layers multiply out to one), so a head is
stored as one effective weight vector and bias in `meta.aesthetic_heads`, and
scoring is SQL: `list_dot_product(embedding, weights) + bias` over L2-normalised
image embeddings (dbt model `aesthetic_head_scores`).

A head is only applied to embeddings of the CLIP model it was trained on
(OpenAI weights of ViT-B/32 or ViT-L/14); any other embedder is recorded as not
applicable with the reason (`aesthetic_head_applicability`), never scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurostock.core.fileio import file_sha256
from neurostock.core.meta import ensure_heads_table

HEADS_DIR = Path(__file__).resolve().parent / "heads"


@dataclass(frozen=True)
class HeadSpec:
    head_id: str
    file: str
    clip_model: str  # open_clip architecture name it expects
    input_scale: str  # "unit": L2-normalised; "unit_sqrt_dim": normalised then * sqrt(dim)
    licence: str
    description: str


_LAION = "LAION-Aesthetics predictor V1 (linear, AVA+SAC)"
_SAC = "Simulacra Aesthetic Captions linear head"
HEADS = (
    HeadSpec("laion_aesthetic_v1_b32", "laion-aesthetic-predictor/sa_0_4_vit_b_32_linear.pth",
             "ViT-B-32", "unit", "MIT", _LAION),
    HeadSpec("laion_aesthetic_v1_l14", "laion-aesthetic-predictor/sa_0_4_vit_l_14_linear.pth",
             "ViT-L-14", "unit", "MIT", _LAION),
    HeadSpec("simulacra_b32",
             "simulacra-aesthetic-models/sac_public_2022_06_29_vit_b_32_linear.pth",
             "ViT-B-32", "unit_sqrt_dim", "MIT", _SAC),
    HeadSpec("simulacra_l14",
             "simulacra-aesthetic-models/sac_public_2022_06_29_vit_l_14_linear.pth",
             "ViT-L-14", "unit_sqrt_dim", "MIT", _SAC),
    HeadSpec("improved_aesthetic_l14",
             "improved-aesthetic-predictor/sac+logos+ava1-l14-linearMSE.pth",
             "ViT-L-14", "unit", "Apache-2.0",
             "improved aesthetic predictor (SAC+LOGOS+AVA, MLP without activations), ~1-10"),
)


def effective_linear(state: dict) -> tuple[np.ndarray, float]:
    """(w, b) with score = w . x + b, from a linear head or an activation-free MLP."""
    weight_keys = sorted((k for k in state if k.endswith("weight")),
                         key=lambda k: _layer_index(k))
    weight = None
    bias = None
    for key in weight_keys:
        w = state[key].double().numpy()
        b = state[key[: -len("weight")] + "bias"].double().numpy()
        # Compose y = W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2).
        weight = w if weight is None else w @ weight
        bias = b if bias is None else w @ bias + b
    assert weight is not None and weight.shape[0] == 1, "a head must end in one output"
    return weight[0], float(bias[0])


def _layer_index(key: str) -> int:
    parts = [p for p in key.split(".") if p.isdigit()]
    return int(parts[0]) if parts else 0


def load_head(spec: HeadSpec) -> tuple[np.ndarray, float, str]:
    """Effective (weights, bias) for unit-length input, and the file's sha256."""
    import torch

    path = HEADS_DIR / spec.file
    state = torch.load(path, map_location="cpu", weights_only=True)
    weights, bias = effective_linear(state)
    if spec.input_scale == "unit_sqrt_dim":
        weights = weights * np.sqrt(weights.shape[0])
    return weights, bias, file_sha256(path)


def register_heads(con) -> int:
    """Write every shipped head into meta.aesthetic_heads (idempotent); returns the count."""
    ensure_heads_table(con)
    registered = dict(con.execute(
        "select head_id, source_sha256 || '|' || source_file || '|' || coalesce(description, '') "
        "from meta.aesthetic_heads").fetchall())
    for spec in HEADS:
        path = HEADS_DIR / spec.file
        sha = file_sha256(path)
        if registered.get(spec.head_id) == f"{sha}|{path}|{spec.description}":
            continue  # unchanged: no torch import on every build
        weights, bias, sha = load_head(spec)
        con.execute(
            "insert or replace into meta.aesthetic_heads values (?, ?, 'openai', ?, ?, ?, ?, ?, ?, "
            "'more aesthetic', ?)",
            [spec.head_id, spec.clip_model, len(weights), weights.astype(np.float32).tolist(),
             bias, str(HEADS_DIR / spec.file), sha, spec.licence, spec.description],
        )
    return len(HEADS)
