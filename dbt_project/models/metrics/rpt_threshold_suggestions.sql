-- One row per valid signal: the threshold that reaches var target_precision of
-- "good" while keeping the most rated images (null, with a note, when none does
-- on at least var agreement_min_n kept images), the balanced-accuracy-best
-- threshold, and the share of the pool's unrated images (mart pool) each would keep.
with

thresholds as (select * from {{ ref('rpt_score_thresholds') }}),

agreement as (select * from {{ ref('rpt_score_agreement') }} where subset = 'all'),

reaching as (

    select
        scorer_id,
        arg_max(threshold, (keep_rate, case when direction = 'higher' then -threshold
                                           else threshold end)) as precision_threshold,
        max(keep_rate) as precision_keep_rate,
    from thresholds
    where precision >= {{ var('target_precision') }}
        and n_kept >= {{ var('agreement_min_n') }}
    group by scorer_id

),

at_target as (

    select reaching.*, thresholds.precision, thresholds.recall,
    from reaching
    inner join thresholds
        on thresholds.scorer_id = reaching.scorer_id
        and thresholds.threshold = reaching.precision_threshold

),

unrated as (

    select signals.scorer_id, signals.score
    from {{ ref('image_signals') }} as signals
    semi join (select image_id from {{ ref('pool') }} where source_rating is null) as pool using (image_id)

),

unrated_kept as (

    select
        agreement.scorer_id,
        count(unrated.score) as n_pool_scored,
        avg(case when agreement.direction = 'higher'
                 then (unrated.score >= at_target.precision_threshold)::int
                 else (unrated.score <= at_target.precision_threshold)::int end)
            as pool_keep_rate,
    from agreement
    left join at_target using (scorer_id)
    left join unrated using (scorer_id)
    group by agreement.scorer_id

),

final as (

    select
        agreement.scorer_id,
        agreement.signal_kind,
        agreement.embedder_id,
        agreement.is_random_init,
        agreement.direction,
        agreement.n,
        agreement.n_good::double / agreement.n as base_precision,
        {{ var('target_precision') }}::double as target_precision,
        at_target.precision_threshold,
        at_target.precision as precision_at_threshold,
        at_target.recall as recall_at_threshold,
        at_target.precision_keep_rate as keep_rate_at_threshold,
        agreement.best_threshold as balanced_accuracy_threshold,
        agreement.balanced_accuracy,
        unrated_kept.n_pool_scored,
        unrated_kept.pool_keep_rate,
        case when at_target.precision_threshold is null
            then 'no threshold reaches precision ' || {{ var('target_precision') }}
                || ' on at least ' || {{ var('agreement_min_n') }} || ' kept images' end
            as note,
    from agreement
    left join at_target using (scorer_id)
    inner join unrated_kept using (scorer_id)

)

select * from final
