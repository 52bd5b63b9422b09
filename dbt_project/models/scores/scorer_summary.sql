{{ config(materialized='table', tags=['score']) }}
-- One row per scorer id in `scores`: its distribution and whether it is valid.
-- Invalid scorers stay visible; agreement metrics leave them out.
with

scores as (select * from {{ ref('scores') }}),

modal as (
    select scorer_id, max(n) as n_modal
    from (select scorer_id, score, count(*) as n from scores group by all)
    group by scorer_id
),

stats as (
    select
        scorer_id,
        any_value(base_scorer_id) as base_scorer_id,
        count(*) as n,
        count(distinct score) as n_distinct,
        min(score) as min_score,
        max(score) as max_score,
        avg(score) as mean_score,
        stddev_samp(score) as stddev_score,
        count(*) filter (where isnan(score) or isinf(score)) as n_not_finite,
    from scores
    group by scorer_id
),

registry as (select * from {{ source('meta', 'scorers') }}),

final as (
    select
        stats.*,
        registry.kind,
        registry.higher_is,
        nullif(concat_ws('; ',
            registry.invalid_reason,
            {{ distribution_problems('stats', 'modal.n_modal') }}
        ), '') as invalid_reason,
    from stats
    inner join modal using (scorer_id)
    left join registry on registry.scorer_id = stats.base_scorer_id
)

select *, invalid_reason is null as is_valid from final
