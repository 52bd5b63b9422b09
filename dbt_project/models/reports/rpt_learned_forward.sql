-- One row per (learned decision model, split, part) and a pooled row per split: the
-- decision judged on images it could not have seen, the way it is used
-- (learn/forward.py).
--   split 'forward'           a part is a period of generation months; its model was
--                             trained on every dated rated image generated before it
--   split 'unseen generator'  a part is one experiment model; its model was trained on
--                             every rated image of the other experiment models
-- AUC of sellable and the precision of sellable among the top keep_share of the part,
-- each with a grouped bootstrap 95% interval (the pooled row: each part's figure
-- weighted by its size, each part being scored by its own model); beside them the grouped (random-fold)
-- AUC of the same model. `disagrees`: the two AUC intervals do not overlap (the random
-- folds promise what new images do not keep, or the reverse). A split without figures
-- has one row, part 'none', with the reason.
with

learned as (

    select * from {{ ref('stg_meta__learned_models') }} where model = 'decision'

),

splits as (

    select scorer_id, 'forward' as split, 1 as split_order,
        json_extract(metrics, '$.forward') as result, 'periods' as parts_key,
    from learned where json_extract(metrics, '$.forward') is not null
    union all
    select scorer_id, 'unseen generator', 2,
        json_extract(metrics, '$.unseen_generator'), 'generators',
    from learned where json_extract(metrics, '$.unseen_generator') is not null

),

parts as (

    select
        scorer_id, split, split_order,
        unnest(from_json(json_extract(result, '$.' || parts_key),
            '[{"first_month": "VARCHAR", "last_month": "VARCHAR",
               "experiment_model": "VARCHAR", "n_train": "INTEGER",
               "n": "INTEGER", "n_sellable": "INTEGER", "auc_sellable": "DOUBLE",
               "auc_sellable_ci": "DOUBLE[]", "keep_share": "DOUBLE",
               "precision_sellable": "DOUBLE", "precision_sellable_ci": "DOUBLE[]",
               "skipped": "VARCHAR"}]'), recursive := true),
    from splits

),

pooled as (

    select
        scorer_id, split, split_order,
        unnest(from_json(json_extract(result, '$.pooled'),
            '{"n": "INTEGER", "n_sellable": "INTEGER", "auc_sellable": "DOUBLE",
              "auc_sellable_ci": "DOUBLE[]", "keep_share": "DOUBLE",
              "precision_sellable": "DOUBLE", "precision_sellable_ci": "DOUBLE[]"}'),
            recursive := true),
    from splits
    where json_extract(result, '$.pooled') is not null

),

rows_ as (

    select
        scorer_id, split, split_order,
        row_number() over (partition by scorer_id, split
            order by first_month, n desc, experiment_model) as position,
        coalesce(first_month || case when last_month != first_month
            then ' .. ' || last_month else '' end,
            'experiment model ' || experiment_model) as part,
        n_train, n, n_sellable, auc_sellable,
        auc_sellable_ci[1] as auc_sellable_ci_low,
        auc_sellable_ci[2] as auc_sellable_ci_high,
        keep_share, precision_sellable,
        precision_sellable_ci[1] as precision_sellable_ci_low,
        precision_sellable_ci[2] as precision_sellable_ci_high,
        skipped as reason,
    from parts
    union all
    select
        scorer_id, split, split_order, 1000, 'pooled', null, n, n_sellable, auc_sellable,
        auc_sellable_ci[1], auc_sellable_ci[2], keep_share, precision_sellable,
        precision_sellable_ci[1], precision_sellable_ci[2], null,
    from pooled
    union all
    select
        scorer_id, split, split_order, 0, 'none', null, null, null, null, null, null, null,
        null, null, null, json_extract_string(result, '$.skipped'),
    from splits
    where json_extract(result, '$.pooled') is null

),

final as (

    select
        rows_.*,
        cast(json_extract(learned.metrics, '$.auc_sellable') as double)
            as grouped_auc_sellable,
        cast(json_extract(learned.metrics, '$.auc_sellable_ci[0]') as double)
            as grouped_auc_sellable_ci_low,
        cast(json_extract(learned.metrics, '$.auc_sellable_ci[1]') as double)
            as grouped_auc_sellable_ci_high,
        coalesce(rows_.auc_sellable_ci_high < grouped_auc_sellable_ci_low
            or rows_.auc_sellable_ci_low > grouped_auc_sellable_ci_high, false)
            as disagrees,
        learned.is_shuffled,
    from rows_
    inner join learned using (scorer_id)

)

select * from final order by scorer_id, split_order, position
