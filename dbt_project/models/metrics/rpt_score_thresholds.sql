-- One row per (valid signal, threshold): over all rated images, what keeping the
-- images on the good side of the threshold (score >= t when higher is better,
-- score <= t when lower is) would keep: keep rate, precision and recall of
-- "good" (rating >= var good_rating_min). Thresholds are the distinct scores.
with

pairs as (select * from {{ ref('int_agreement_pairs') }} where subset = 'all'),

directions as (

    select scorer_id, direction, n, n_good from {{ ref('rpt_score_agreement') }}
    where subset = 'all'

),

score_values as (

    select
        scorer_id,
        score,
        count(*) as n_value,
        count(*) filter (where is_good) as n_good_value,
    from pairs
    group by scorer_id, score

),

below as (

    select
        *,
        coalesce(sum(n_value) over strictly_below, 0) as n_below,
        coalesce(sum(n_good_value) over strictly_below, 0) as n_good_below,
    from score_values
    window strictly_below as (
        partition by scorer_id order by score rows between unbounded preceding and 1 preceding
    )

),

kept as (

    select
        below.scorer_id,
        below.score as threshold,
        directions.direction,
        directions.n,
        directions.n_good,
        {{ kept_at_threshold('directions.direction', 'directions.n',
                             'below.n_below', 'below.n_value') }} as n_kept,
        {{ kept_at_threshold('directions.direction', 'directions.n_good',
                             'below.n_good_below', 'below.n_good_value') }} as n_good_kept,
    from below
    inner join directions using (scorer_id)

),

final as (

    select
        scorer_id,
        threshold,
        direction,
        n,
        n_kept,
        n_good_kept,
        n_kept::double / n as keep_rate,
        n_good_kept::double / n_kept as precision,
        case when n_good > 0 then n_good_kept::double / n_good end as recall,
    from kept

)

select * from final
