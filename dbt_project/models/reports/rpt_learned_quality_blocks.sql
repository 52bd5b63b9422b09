-- One row per (ridge quality model with context blocks, split, feature block): what
-- the block adds to the model's Spearman with the rating (Spearman with it minus
-- without it, the other parameters as chosen) with its paired grouped bootstrap
-- interval (learn/context_ridge.py), measured three ways:
--   split 'grouped'  out of fold, grouped K-fold by prompt (random over time)
--   split 'forward'  pooled over the forward periods: each period judged by models
--                    fitted on every dated image generated before it
--   split 'unseen generator'  pooled over the held-out experiment models: each judged
--                    by models fitted on every other image
-- `only_grouped`: the block helps across random folds (interval above 0) but not on
-- later generations (its forward interval is not above 0; without dates, on a
-- held-out generator): it is not to be trusted for new images (false where there is
-- nothing to compare). A split without figures has one row, block 'none', with the
-- reason.
with

learned as (

    select * from {{ ref('stg_meta__learned_models') }}
    where model = 'ridge' and json_extract(metrics, '$.contributions') is not null

),

grouped as (

    select
        scorer_id,
        'grouped' as split,
        1 as split_order,
        json_extract(metrics, '$.spearman_oof')::double as spearman,
        json_extract(metrics, '$.spearman_oof_ci[0]')::double as spearman_ci_low,
        json_extract(metrics, '$.spearman_oof_ci[1]')::double as spearman_ci_high,
        json_extract(metrics, '$.contributions') as contributions,
        null::varchar as reason,
    from learned

),

forward as (

    select
        scorer_id,
        'forward' as split,
        2 as split_order,
        json_extract(metrics, '$.forward.pooled.spearman')::double as spearman,
        json_extract(metrics, '$.forward.pooled.spearman_ci[0]')::double as spearman_ci_low,
        json_extract(metrics, '$.forward.pooled.spearman_ci[1]')::double as spearman_ci_high,
        json_extract(metrics, '$.forward.pooled.contributions') as contributions,
        json_extract_string(metrics, '$.forward.skipped') as reason,
    from learned

),

unseen as (

    select
        scorer_id,
        'unseen generator' as split,
        3 as split_order,
        json_extract(metrics, '$.unseen_generator.pooled.spearman')::double as spearman,
        json_extract(metrics, '$.unseen_generator.pooled.spearman_ci[0]')::double
            as spearman_ci_low,
        json_extract(metrics, '$.unseen_generator.pooled.spearman_ci[1]')::double
            as spearman_ci_high,
        json_extract(metrics, '$.unseen_generator.pooled.contributions') as contributions,
        json_extract_string(metrics, '$.unseen_generator.skipped') as reason,
    from learned
    where json_extract(metrics, '$.unseen_generator') is not null

),

splits as (

    select * from grouped
    union all
    select * from forward
    union all
    select * from unseen

),

measured as (

    select
        scorer_id, split, split_order, spearman, spearman_ci_low, spearman_ci_high,
        unnest(from_json(contributions,
            '[{"block": "VARCHAR", "spearman_without": "DOUBLE",
               "delta_spearman": "DOUBLE", "ci_low": "DOUBLE", "ci_high": "DOUBLE"}]'),
            recursive := true),
    from splits
    where reason is null and contributions is not null

),

blocks as (

    select
        scorer_id, split, split_order, block, spearman, spearman_ci_low, spearman_ci_high,
        spearman_without, delta_spearman, ci_low, ci_high,
        coalesce(ci_low > 0, false) as is_helping,
        null::varchar as reason,
    from measured
    union all
    select
        scorer_id, split, split_order, 'none', null, null, null, null, null, null, null,
        false, reason,
    from splits
    where reason is not null

),

final as (

    select
        b.*,
        b.split = 'grouped' and b.is_helping
            and not coalesce(f.is_helping, u.is_helping, true) as only_grouped,
    from blocks b
    left join blocks f
        on f.scorer_id = b.scorer_id and f.block = b.block and f.split = 'forward'
    left join blocks u
        on u.scorer_id = b.scorer_id and u.block = b.block
        and u.split = 'unseen generator'

)

select * from final order by scorer_id, split_order, delta_spearman desc nulls last, block
