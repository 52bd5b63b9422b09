"""One row per (valid signal, operating point): seeded cluster-bootstrap 95% intervals
(prompt groups resampled) of the cross-fitted precision, keep rate, recall and balanced
accuracy of the sell decision (analysis/decision_bootstrap.py says how)."""

from neurostock.analysis.decision_bootstrap import decision_bootstrap


def _arrow(relation):
    table = relation.arrow()
    return table.read_all() if hasattr(table, "read_all") else table


def model(dbt, session):
    dbt.config(materialized="table")
    folds = int(dbt.config.get("folds"))
    pairs = _arrow(dbt.ref("int_decision_pairs")
                   .order("scorer_id, image_id")
                   .select("scorer_id, score, is_sellable, fold, prompt_group"))
    choices = _arrow(dbt.ref("int_decision_folds")
                     .filter("not is_in_sample")
                     .select("scorer_id, held_out, rule, target_precision, direction, threshold"))
    return decision_bootstrap(pairs, choices, folds=folds,
                              replicates=int(dbt.config.get("replicates")),
                              seed=int(dbt.config.get("seed")))
