-- One row per rated image: every fact about its ratings, and the one rating
-- the marts use. The rule (docs/ratings.md):
--   1. per annotator, only their latest rating counts (a re-rating corrects);
--      exact duplicate rows therefore count once;
--   2. the image is unusable (5) when at least half of its annotators say 5;
--   3. otherwise its rating is the lower median of the annotators' 1-4 ratings
--      (on a tie between two values, the worse one: a stock filter errs on the
--      side of not publishing).
-- The rule applies alike to the source file's ratings and the rating app's
-- (int_ratings_unioned); rating_sources says which an image's ratings came from.
with

ratings as (

    select * from {{ ref('int_ratings_unioned') }} where is_valid

),

latest_per_annotator as (

    select *
    from ratings
    qualify row_number() over (
        partition by image_id, annotator_id
        order by rated_at desc nulls last, rating_source = 'local' desc, rating_id desc
    ) = 1

),

votes as (

    select
        image_id,
        count(*) as n_annotators,
        count(*) filter (where rating = 5) as n_unusable_votes,
        quantile_disc(rating, 0.5) filter (where rating between 1 and 4) as median_usable_rating,

    from latest_per_annotator
    group by image_id

),

facts as (

    select
        image_id,
        count(*) as n_ratings,
        count(distinct rating) as n_distinct_ratings,
        min(rating) as min_rating,
        max(rating) as max_rating,
        list(distinct annotator_id order by annotator_id) as annotator_ids,
        count(*) - count(distinct (rating, rated_at, annotator_id)) as n_exact_duplicates,
        min(rated_at) as first_rated_at,
        max(rated_at) as last_rated_at,
        count(*) filter (where rating_source = 'source') as n_source_ratings,
        count(*) filter (where rating_source = 'local') as n_local_ratings,
        list(distinct rating_source order by rating_source) as rating_sources,

    from ratings
    group by image_id

),

final as (

    select
        facts.*,
        votes.n_annotators,
        votes.n_unusable_votes,
        case
            when votes.n_unusable_votes * 2 >= votes.n_annotators then 5
            else votes.median_usable_rating
        end as rating,
        facts.n_distinct_ratings > 1 as is_conflicting,

    from facts
    inner join votes using (image_id)

)

select * from final
