"""One row per (learned decision model, target precision): the operating point chosen
on its forward scores, the way the decision is used on new generations
(learn/forward.forward_operating_point). Each rated image a forward period judged
carries, in its scores row's components, the score from the model fitted on what was
generated before its period (`forward`) and the period (`forward_period`). For each
period after the first, a threshold is chosen on the earlier periods' forward scores
(the highest keep rate whose precision of sellable reaches the target, at least
var agreement_min_n kept) and applied to it; the precision of what it keeps, pooled
over those periods, is the out-of-sample figure with a grouped (prompt) bootstrap 95%
interval. `threshold` is chosen on every forward score: the one the gate applies when
the forward figure is the one it relies on (submission_decision_rule). Targets: var
decision_target_precisions, var target_precision and the policy's target_precision."""

import pandas as pd

from neurostock.learn.forward import forward_operating_point

COLUMNS = ["scorer_id", "target_precision", "threshold", "direction", "oos_precision",
           "oos_precision_ci_low", "oos_precision_ci_high", "oos_keep_rate", "oos_n_kept",
           "measured_on", "n_forward", "n_periods", "reason"]


def model(dbt, session):
    dbt.config(materialized="table")
    learned = dbt.ref("stg_meta__learned_models")
    scores = dbt.ref("scores")
    ratings = dbt.ref("image_ratings")
    pool = dbt.ref("pool")
    # Plain calls: dbt passes a config value only where it sees dbt.config.get("name").
    targets_text = dbt.config.get("targets")
    min_kept = int(dbt.config.get("min_kept"))
    targets = sorted({float(t) for t in str(targets_text).split(",") if t})
    decision = learned.filter("model = 'decision'").project("scorer_id").df()["scorer_id"]
    forward = scores.query("s", (
        "select scorer_id, image_id, components['forward'] as score, "
        "components['forward_period']::integer as period from s "
        "where components['forward'] is not null")).df()
    forward = forward[forward["scorer_id"].isin(set(decision))]
    labels = ratings.project("image_id, is_sellable").df()
    groups = pool.filter("source_rating is not null").project(
        "image_id, prompt_group").df()
    rows = []
    if len(forward):
        frame = forward.merge(labels, on="image_id").merge(groups, on="image_id", how="left")
        # An image without a prompt group is a group of its own (macro prompt_group).
        frame["prompt_group"] = frame["prompt_group"].fillna(
            "#" + frame["image_id"].astype(str))
        for scorer_id, part in frame.groupby("scorer_id", sort=True):
            part = part.sort_values("image_id")
            for target in targets:
                point = forward_operating_point(
                    part["score"].to_numpy(float), part["is_sellable"].to_numpy(bool),
                    part["period"].to_numpy(int), part["prompt_group"].to_numpy(object),
                    target, min_kept=min_kept)
                rows.append({
                    "scorer_id": scorer_id, "target_precision": target,
                    "threshold": point["threshold"], "direction": "higher",
                    "oos_precision": point["precision"],
                    "oos_precision_ci_low": point["precision_ci"][0],
                    "oos_precision_ci_high": point["precision_ci"][1],
                    "oos_keep_rate": point["keep_rate"], "oos_n_kept": point["n_kept"],
                    "measured_on": point["measured_on"], "n_forward": int(len(part)),
                    "n_periods": point["n_periods"], "reason": point["reason"]})
    out = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("threshold", "oos_precision", "oos_precision_ci_low",
                   "oos_precision_ci_high", "oos_keep_rate"):
        out[column] = out[column].astype(float)
    return session.from_df(out).project(
        "scorer_id::varchar as scorer_id, target_precision::double as target_precision, "
        "threshold::double as threshold, direction::varchar as direction, "
        "oos_precision::double as oos_precision, "
        "oos_precision_ci_low::double as oos_precision_ci_low, "
        "oos_precision_ci_high::double as oos_precision_ci_high, "
        "oos_keep_rate::double as oos_keep_rate, oos_n_kept::integer as oos_n_kept, "
        "measured_on::integer as measured_on, n_forward::integer as n_forward, "
        "n_periods::integer as n_periods, reason::varchar as reason")

