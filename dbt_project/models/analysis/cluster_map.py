"""One row per (full_set image, embedder): 2-D coordinates for the reports' maps
(PCA to 50 dimensions, then t-SNE; PCA alone above a size limit), of each
embedder's default clustering input only: one map per embedder. An input unchanged
since the last build keeps its map (input_sha: neurostock/analysis/clusters.py)."""

from neurostock.analysis.clusters import load_full_set_vectors, map_table, previous_rows


def model(dbt, session):
    dbt.config(materialized="table")
    vectors = load_full_set_vectors(
        session, dbt.ref("image_embeddings"), dbt.ref("prompt_embeddings"), dbt.ref("full_set"))
    return map_table(vectors, seed=int(dbt.config.get("seed")),
                     tsne_max=int(dbt.config.get("tsne_max")),
                     previous=previous_rows(session, "cluster_map"))
