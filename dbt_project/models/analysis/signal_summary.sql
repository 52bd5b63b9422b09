-- One row per signal (score or feature): its distribution over all images and
-- whether it can carry agreement metrics (is_valid, invalid_reason). Scores take
-- their verdict from scorer_summary (which also knows import problems); features
-- are judged by the same rules (macro distribution_summary).
with

signals as (select * from {{ ref('image_signals') }}),

distribution as ({{ distribution_summary('signals') }}),

attributes as (

    select
        scorer_id,
        any_value(base_scorer_id) as base_scorer_id,
        any_value(signal_kind) as signal_kind,
        any_value(embedder_id) as embedder_id,
        bool_or(is_random_init) as is_random_init,
    from signals
    group by scorer_id

),

scorers as (select scorer_id, invalid_reason from {{ ref('scorer_summary') }}),

final as (

    select
        attributes.*,
        distribution.n,
        distribution.n_distinct,
        distribution.min_score,
        distribution.max_score,
        distribution.mean_score,
        distribution.n_not_finite,
        case
            when attributes.signal_kind = 'score' then scorers.invalid_reason
            else distribution.distribution_problem
        end as invalid_reason,
    from attributes
    inner join distribution using (scorer_id)
    left join scorers using (scorer_id)

)

select *, invalid_reason is null as is_valid from final
