-- One row per learned model of kind `decision` (learn/decision.py): how well its
-- out-of-fold score makes the sell decision over the whole decision population (every
-- rated image, unusable included), with grouped bootstrap intervals.
with

learned as (

    select * from {{ ref('stg_meta__learned_models') }} where model = 'decision'

),

final as (

    select
        scorer_id,
        is_shuffled,
        cast(json_extract(metrics, '$.population.n') as integer) as n,
        cast(json_extract(metrics, '$.population.n_unusable') as integer) as n_unusable,
        cast(json_extract(metrics, '$.population.n_sellable') as integer) as n_sellable,
        cast(json_extract(metrics, '$.population.sellable_rate') as double) as sellable_rate,
        cast(json_extract(metrics, '$.auc_sellable') as double) as auc_sellable,
        cast(json_extract(metrics, '$.auc_sellable_ci[0]') as double) as auc_sellable_ci_low,
        cast(json_extract(metrics, '$.auc_sellable_ci[1]') as double) as auc_sellable_ci_high,
        cast(json_extract(metrics, '$.precision_sellable_keep_share') as double) as keep_share,
        cast(json_extract(metrics, '$.precision_sellable') as double) as precision_sellable,
        cast(json_extract(metrics, '$.precision_sellable_ci[0]') as double)
            as precision_sellable_ci_low,
        cast(json_extract(metrics, '$.precision_sellable_ci[1]') as double)
            as precision_sellable_ci_high,
        cast(json_extract(metrics, '$.auc_usable') as double) as auc_usable,
        cast(json_extract(metrics, '$.spearman_rating_usable') as double)
            as spearman_rating_usable,
        json_extract_string(metrics, '$.target') as target,
        json_extract_string(metrics, '$.bootstrap') as bootstrap,
        trained_at,

    from learned

)

select * from final
