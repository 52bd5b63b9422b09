-- One row per rated image (valid ratings only): how often and by whom it was
-- rated, whether the ratings agree, the single rating the marts use, and whether
-- that rating makes the image sellable (the decision population is every row).
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
        n_source_ratings,
        n_local_ratings,
        -- ['source'], ['local'] or both: the source file, the rating app (neurostock rate).
        rating_sources,
        'latest per annotator; 5 if at least half say 5; else lower median of 1-4'
            as rating_rule,
        -- The sell decision (docs/analysis.md): 3 or 4 on the file's scale by
        -- default; 5 (unusable) and 1-2 are not sellable.
        rating between {{ var('sellable_min_rating') }} and 4 as is_sellable,
        -- Resolved to 5 on the file's scale: the image cannot be used at all (the
        -- marts ann / full_set leave it out; the decision population keeps it).
        rating = 5 as is_unusable,

    from aggregated

)

select * from final
