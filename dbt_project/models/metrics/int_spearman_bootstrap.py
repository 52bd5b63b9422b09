"""One row per (valid signal, subset): a seeded percentile-bootstrap 95% interval of
Spearman's rho (analysis/bootstrap.py says how, and why this step is Python)."""

from neurostock.analysis.bootstrap import bootstrap_table


def model(dbt, session):
    dbt.config(materialized="table")
    columns = "scorer_id, subset, score, rating, image_id"
    pairs = dbt.ref("int_agreement_pairs").select(columns).order(columns).arrow()
    if hasattr(pairs, "read_all"):
        pairs = pairs.read_all()
    return bootstrap_table(
        pairs,
        replicates=int(dbt.config.get("replicates")),
        seed=int(dbt.config.get("seed")),
        min_n=int(dbt.config.get("min_n")),
    )
