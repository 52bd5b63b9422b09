-- One row per signal (score or feature): its distribution over all images and
-- whether it can carry agreement metrics (is_valid, invalid_reason). Scores take
-- their verdict from scorer_summary (which also knows import problems); features
-- are checked by the same rules here.
with

signals as (select * from {{ ref('image_signals') }}),

modal as (

    select scorer_id, max(n) as n_modal
    from (select scorer_id, score, count(*) as n from signals group by all)
    group by scorer_id

),

stats as (

    select
        scorer_id,
        any_value(base_scorer_id) as base_scorer_id,
        any_value(signal_kind) as signal_kind,
        any_value(embedder_id) as embedder_id,
        bool_or(is_random_init) as is_random_init,
        count(*) as n,
        count(distinct score) as n_distinct,
        min(score) as min_score,
        max(score) as max_score,
        avg(score) as mean_score,
        count(*) filter (where isnan(score) or isinf(score)) as n_not_finite,
    from signals
    group by scorer_id

),

scorers as (select scorer_id, invalid_reason from {{ ref('scorer_summary') }}),

final as (

    select
        stats.*,
        case
            when stats.signal_kind = 'score' then scorers.invalid_reason
            else nullif(concat_ws('; ',
                {{ distribution_problems('stats', 'modal.n_modal') }}
            ), '')
        end as invalid_reason,
    from stats
    inner join modal using (scorer_id)
    left join scorers using (scorer_id)

)

select *, invalid_reason is null as is_valid from final
