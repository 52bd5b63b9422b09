-- One row per rated image (valid ratings only): how often and by whom it was
-- rated, whether the ratings agree, and the single rating the marts use.
with

aggregated as (

    select * from {{ ref('int_ratings_aggregated') }}

),

final as (

    select
        image_id,
        rating,
        n_ratings,
        n_annotators,
        n_distinct_ratings,
        n_exact_duplicates,
        n_unusable_votes,
        min_rating,
        max_rating,
        annotator_ids,
        is_conflicting,
        first_rated_at,
        last_rated_at,
        'latest per annotator; 5 if at least half say 5; else lower median of 1-4'
            as rating_rule,

    from aggregated

)

select * from final
