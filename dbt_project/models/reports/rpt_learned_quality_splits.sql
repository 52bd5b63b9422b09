-- One row per (quality model learning the rating, split, part) and a pooled row per
-- split: the model judged on images it could not have seen (learn/context_ridge.py),
-- beside its grouped (random-fold) Spearman.
--   split 'forward'           a part is a period of generation months; its model was
--                             trained on every dated rated image generated before it
--   split 'unseen generator'  a part is one experiment model; its model was trained on
--                             every rated image of the other experiment models
-- The pooled row is the Spearman within each part weighted by the parts' sizes (each
-- part is ranked by its own model), with a grouped bootstrap 95% interval;
-- `disagrees`: it and the grouped interval do not overlap. A split without figures has
-- one row, part 'none', with the reason; a part with one rating only is not judged.
with

learned as (

    select * from {{ ref('stg_meta__learned_models') }}
    where model in ('ridge', 'ordinal')
        and coalesce(json_extract_string(config, '$.target'), 'rating') = 'rating'
        and json_extract(metrics, '$.forward') is not null

),

splits as (

    select scorer_id, 'forward' as split, 1 as split_order,
        json_extract(metrics, '$.forward') as result, 'periods' as parts_key,
    from learned
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
               "experiment_model": "VARCHAR", "n_train": "INTEGER", "n": "INTEGER",
               "spearman": "DOUBLE", "skipped": "VARCHAR"}]'), recursive := true),
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
        n_train, n, spearman,
        null::double as spearman_ci_low,
        null::double as spearman_ci_high,
        skipped as reason,
    from parts
    union all
    select
        scorer_id, split, split_order, 1000, 'pooled', null,
        json_extract(result, '$.pooled.n')::integer,
        json_extract(result, '$.pooled.spearman')::double,
        json_extract(result, '$.pooled.spearman_ci[0]')::double,
        json_extract(result, '$.pooled.spearman_ci[1]')::double,
        null,
    from splits
    where json_extract(result, '$.pooled') is not null
    union all
    select
        scorer_id, split, split_order, 0, 'none', null, null, null, null, null,
        json_extract_string(result, '$.skipped'),
    from splits
    where json_extract(result, '$.pooled') is null

),

final as (

    select
        rows_.*,
        json_extract(learned.metrics, '$.spearman_oof')::double as grouped_spearman,
        json_extract(learned.metrics, '$.spearman_oof_ci[0]')::double
            as grouped_spearman_ci_low,
        json_extract(learned.metrics, '$.spearman_oof_ci[1]')::double
            as grouped_spearman_ci_high,
        coalesce(rows_.spearman_ci_high < grouped_spearman_ci_low
            or rows_.spearman_ci_low > grouped_spearman_ci_high, false) as disagrees,
        learned.is_shuffled,
    from rows_
    inner join learned using (scorer_id)

)

select * from final order by scorer_id, split_order, position
