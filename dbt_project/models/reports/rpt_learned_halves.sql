-- One row per (learned decision model, comparison): each half of the two-part score
-- against its rival, and the product against each half alone, out of fold on the same
-- grouped folds (learn/rivals.py, learn/decision_metrics.py):
--   P(usable) vs a logistic regression on the same design     (AUC of usable)
--   E[rating | usable] vs the ridge quality model              (Spearman, usable images)
--   the product vs P(usable) alone, vs E[rating | usable] alone (AUC of sellable)
-- difference = half - rival with its paired grouped bootstrap 95% interval.
with

learned as (

    select * from {{ ref('stg_meta__learned_models') }} where model = 'decision'

),

compared as (

    select
        scorer_id,
        is_shuffled,
        unnest(from_json(json_extract(metrics, '$.halves'),
            '[{"comparison": "VARCHAR", "measure": "VARCHAR", "half_name": "VARCHAR",
               "rival_name": "VARCHAR", "half": "DOUBLE", "rival": "DOUBLE",
               "difference": "DOUBLE", "ci_low": "DOUBLE", "ci_high": "DOUBLE",
               "at_least_as_good": "BOOLEAN", "significantly_worse": "BOOLEAN"}]'),
            recursive := true),
    from learned

),

final as (

    select
        scorer_id,
        is_shuffled,
        comparison,
        measure,
        half_name,
        rival_name,
        half,
        rival,
        difference,
        ci_low,
        ci_high,
        at_least_as_good,
        significantly_worse,
    from compared

)

select * from final order by scorer_id, comparison
