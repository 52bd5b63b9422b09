"""Names of the embedding tables: one per (kind, embedder)."""

from __future__ import annotations

KINDS = ("image", "prompt", "keyword")
# What one row of each kind's table is keyed by.
KEYS = {"image": "image_id", "prompt": "content_sha256", "keyword": "keyword"}


def model_name(kind: str, embedder_id: str) -> str:
    """`emb_<kind>__<embedder id>`: the dbt model (and the imported table) of that kind."""
    return f"emb_{kind}__{embedder_id}"
