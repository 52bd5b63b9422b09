"""One row per (full_set image, embedder, rank): its nearest full_set images by
cosine similarity (the vectors its embedder's clusters use), for the image pages."""

from neurostock.analysis.clusters import load_full_set_vectors
from neurostock.analysis.neighbours import neighbours_table


def model(dbt, session):
    dbt.config(materialized="table")
    vectors = load_full_set_vectors(
        session, dbt.ref("image_embeddings"), dbt.ref("prompt_embeddings"), dbt.ref("full_set"))
    return neighbours_table(vectors, k=int(dbt.config.get("k")))
