-- One row per (learned decision model, feature block): what the block adds to the
-- out-of-fold AUC of sellable (AUC with it minus without it, the other parameters as
-- chosen, same folds) with its paired grouped bootstrap interval; and the blocks left
-- out before training, with the reason (status 'left out').
with

learned as (

    select * from {{ ref('stg_meta__learned_models') }} where model = 'decision'

),

measured as (

    select
        scorer_id,
        unnest(from_json(json_extract(metrics, '$.contributions'),
            '[{"block": "VARCHAR", "auc_without": "DOUBLE", "delta_auc": "DOUBLE",
               "ci_low": "DOUBLE", "ci_high": "DOUBLE"}]'), recursive := true),
    from learned

),

left_out as (

    select
        scorer_id,
        unnest(from_json(json_extract(features, '$.left_out'),
            '[{"block": "VARCHAR", "reason": "VARCHAR"}]'), recursive := true),
    from learned

),

final as (

    select
        scorer_id,
        block,
        'measured' as status,
        auc_without,
        delta_auc,
        ci_low,
        ci_high,
        coalesce(ci_low > 0, false) as is_helping,
        null::varchar as reason,
    from measured
    union all
    select
        scorer_id,
        block,
        'left out',
        null,
        null,
        null,
        null,
        false,
        reason,
    from left_out

)

select * from final order by scorer_id, status desc, delta_auc desc nulls last, block
