"""One row per (embedder, k): a seeded k-means fit of full_set's embeddings,
its silhouette, and whether it is the chosen k (best silhouette). The fitting
is Python (scikit-learn); everything built on it is SQL."""

from analysis.clusters import load_full_set_vectors, solutions_table


def model(dbt, session):
    dbt.config(materialized="table")
    vectors = load_full_set_vectors(
        session, dbt.ref("image_embeddings"), dbt.ref("prompt_embeddings"), dbt.ref("full_set"))
    return solutions_table(
        vectors,
        k_values=list(dbt.config.get("k_values")),
        seed=int(dbt.config.get("seed")),
        silhouette_sample=int(dbt.config.get("silhouette_sample")),
    )
