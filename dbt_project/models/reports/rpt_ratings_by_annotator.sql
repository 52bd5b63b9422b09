-- One row per (rating source, annotator): how many valid ratings and images, when.
with

ratings as (

    select * from {{ ref('int_ratings_unioned') }} where is_valid

),

names as (

    select annotator_id, annotator_name as name from {{ ref('stg_annotations__annotators') }}

),

final as (

    select
        ratings.rating_source,
        ratings.annotator_id,
        any_value(names.name) as annotator_name,
        count(*) as n_ratings,
        count(distinct ratings.image_id) as n_images,
        count(*) filter (where ratings.rating = 5) as n_unusable,
        round(avg(ratings.rating) filter (where ratings.rating between 1 and 4), 3)
            as mean_usable_rating,
        min(ratings.rated_at) as first_rated_at,
        max(ratings.rated_at) as last_rated_at,

    from ratings
    left join names using (annotator_id)
    group by ratings.rating_source, ratings.annotator_id
    order by ratings.rating_source, ratings.annotator_id

)

select * from final
