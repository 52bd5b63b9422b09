-- One row per (embedder, cluster, ranking, side, position): the team's collages.
-- For each cluster of the chosen k, the var report_examples best and worst
-- full_set images by rating (ranking 'rating'; ties broken by image id) and by
-- each valid signal (best = the signal's good side).
with

assignments as (

    select image_id, embedder_id, cluster_id
    from {{ ref('cluster_assignments') }}
    where is_chosen_k and is_default_input and image_set = 'full_set'

),

rated as (select image_id, rating from {{ ref('full_set') }}),

signals as (

    select pairs.scorer_id, pairs.image_id, pairs.score, agreement.direction
    from {{ ref('int_agreement_pairs') }} as pairs
    inner join {{ ref('rpt_score_agreement') }} as agreement
        on agreement.scorer_id = pairs.scorer_id and agreement.subset = 'all'
    where pairs.subset = 'all'

),

candidates as (

    select assignments.*, 'rating' as ranking, rated.rating::double as value,
           rated.rating::double as goodness,
    from assignments
    inner join rated using (image_id)
    union all
    select assignments.*, signals.scorer_id, signals.score,
           case when signals.direction = 'higher' then signals.score else -signals.score end,
    from assignments
    inner join signals using (image_id)

),

ranked as (

    select
        *,
        row_number() over (partition by embedder_id, cluster_id, ranking
                           order by goodness desc, image_id) as best_position,
        row_number() over (partition by embedder_id, cluster_id, ranking
                           order by goodness asc, image_id) as worst_position,
    from candidates

),

final as (

    select embedder_id, cluster_id, ranking, 'best' as side, best_position as position,
           image_id, value,
    from ranked
    where best_position <= {{ var('report_examples', 4) }}
    union all
    select embedder_id, cluster_id, ranking, 'worst', worst_position, image_id, value,
    from ranked
    where worst_position <= {{ var('report_examples', 4) }}

)

select * from final
