"""One row per (embedder, input, k): a seeded k-means fit of full_set's embeddings,
its silhouette, and whether it is the chosen k of that input (best silhouette).
The input (embedding_kind) is the embedder's default one, plus "both" (image and
prompt vectors end to end) with var cluster_both_input. The fitting is Python
(scikit-learn); everything built on it is SQL. An input unchanged since the last
build keeps its rows (input_sha: neurostock/analysis/clusters.py)."""

from neurostock.analysis.clusters import load_full_set_vectors, previous_rows, solutions_table


def model(dbt, session):
    dbt.config(materialized="table")
    # A statement of its own: dbt finds the config keys a model reads by parsing it,
    # and does not look inside an expression such as a comparison.
    both_input = dbt.config.get("both_input")
    vectors = load_full_set_vectors(
        session, dbt.ref("image_embeddings"), dbt.ref("prompt_embeddings"), dbt.ref("full_set"),
        both=str(both_input).lower() == "true")
    return solutions_table(
        vectors,
        k_values=list(dbt.config.get("k_values")),
        seed=int(dbt.config.get("seed")),
        silhouette_sample=int(dbt.config.get("silhouette_sample")),
        previous=previous_rows(session, "cluster_solutions"),
    )
