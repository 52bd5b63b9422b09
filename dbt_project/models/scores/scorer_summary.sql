{{ config(materialized='table', tags=['score']) }}
-- One row per scorer id in `scores`: its distribution and whether it is valid.
-- Invalid scorers stay visible; agreement metrics leave them out.
with

scores as (select * from {{ ref('scores') }}),

distribution as ({{ distribution_summary('scores') }}),

bases as (select scorer_id, any_value(base_scorer_id) as base_scorer_id from scores group by all),

registry as (select * from {{ ref('stg_meta__scorers') }}),

final as (
    select
        distribution.scorer_id,
        bases.base_scorer_id,
        distribution.n,
        distribution.n_distinct,
        distribution.min_score,
        distribution.max_score,
        distribution.mean_score,
        distribution.stddev_score,
        distribution.n_not_finite,
        registry.kind,
        registry.higher_is,
        -- The importer's verdict first, then the distribution's.
        nullif(concat_ws('; ', registry.invalid_reason, distribution.distribution_problem), '')
            as invalid_reason,
    from distribution
    inner join bases using (scorer_id)
    left join registry on registry.scorer_id = bases.base_scorer_id
)

select *, invalid_reason is null as is_valid from final
