-- One row per (learned decision model, forward period), then its pooled row: the
-- decision judged forward in time (learn/forward.py): trained on every dated rated image
-- generated before the period, judged on the period's images. AUC of sellable and the
-- precision of sellable among the top keep_share of the period, each with a grouped
-- bootstrap 95% interval; beside them the grouped (random-fold) AUC of the same model.
-- `disagrees`: the two AUC intervals do not overlap (the grouped folds promise what
-- later generations do not keep). A model without a forward figure has one row,
-- period 'none', with the reason.
with

learned as (

    select * from {{ ref('stg_meta__learned_models') }}
    where model = 'decision' and json_extract(metrics, '$.forward') is not null

),

periods as (

    select
        scorer_id,
        unnest(from_json(json_extract(metrics, '$.forward.periods'),
            '[{"first_month": "VARCHAR", "last_month": "VARCHAR", "n_train": "INTEGER",
               "n": "INTEGER", "n_sellable": "INTEGER", "auc_sellable": "DOUBLE",
               "auc_sellable_ci": "DOUBLE[]", "keep_share": "DOUBLE",
               "precision_sellable": "DOUBLE", "precision_sellable_ci": "DOUBLE[]",
               "skipped": "VARCHAR"}]'), recursive := true),
    from learned

),

pooled as (

    select
        scorer_id,
        unnest(from_json(json_extract(metrics, '$.forward.pooled'),
            '{"n": "INTEGER", "n_sellable": "INTEGER", "auc_sellable": "DOUBLE",
              "auc_sellable_ci": "DOUBLE[]", "keep_share": "DOUBLE",
              "precision_sellable": "DOUBLE", "precision_sellable_ci": "DOUBLE[]"}'),
            recursive := true),
    from learned
    where json_extract(metrics, '$.forward.pooled') is not null

),

rows_ as (

    select
        scorer_id,
        row_number() over (partition by scorer_id order by first_month) as position,
        first_month || case when last_month != first_month then ' .. ' || last_month
            else '' end as period,
        n_train, n, n_sellable, auc_sellable,
        auc_sellable_ci[1] as auc_sellable_ci_low,
        auc_sellable_ci[2] as auc_sellable_ci_high,
        keep_share, precision_sellable,
        precision_sellable_ci[1] as precision_sellable_ci_low,
        precision_sellable_ci[2] as precision_sellable_ci_high,
        skipped as reason,
    from periods
    union all
    select
        scorer_id, 1000, 'pooled', null, n, n_sellable, auc_sellable,
        auc_sellable_ci[1], auc_sellable_ci[2], keep_share, precision_sellable,
        precision_sellable_ci[1], precision_sellable_ci[2], null,
    from pooled
    union all
    select
        scorer_id, 0, 'none', null, null, null, null, null, null, null, null, null, null,
        json_extract_string(metrics, '$.forward.skipped'),
    from learned
    where json_extract(metrics, '$.forward.pooled') is null

),

final as (

    select
        rows_.*,
        cast(json_extract(learned.metrics, '$.auc_sellable') as double) as grouped_auc_sellable,
        cast(json_extract(learned.metrics, '$.auc_sellable_ci[0]') as double)
            as grouped_auc_sellable_ci_low,
        cast(json_extract(learned.metrics, '$.auc_sellable_ci[1]') as double)
            as grouped_auc_sellable_ci_high,
        coalesce(rows_.auc_sellable_ci_high
            < cast(json_extract(learned.metrics, '$.auc_sellable_ci[0]') as double)
            or rows_.auc_sellable_ci_low
            > cast(json_extract(learned.metrics, '$.auc_sellable_ci[1]') as double),
            false) as disagrees,
        learned.is_shuffled,
    from rows_
    inner join learned using (scorer_id)

)

select * from final order by scorer_id, position
