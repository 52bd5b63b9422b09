-- One row per (valid signal, rating 0-3): the distribution of the signal among the
-- images of that rating (box-plot statistics), over full_set.
with

pairs as (select * from {{ ref('int_agreement_pairs') }} where subset = 'all'),

final as (

    select
        scorer_id,
        rating,
        count(*) as n,
        min(score) as min_score,
        quantile_cont(score, 0.25) as q1,
        quantile_cont(score, 0.5) as median,
        quantile_cont(score, 0.75) as q3,
        max(score) as max_score,
        avg(score) as mean_score,
    from pairs
    group by scorer_id, rating

)

select * from final order by scorer_id, rating
