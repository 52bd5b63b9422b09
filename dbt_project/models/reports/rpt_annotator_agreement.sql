-- One row per pair of annotators with images in common (each annotator's latest
-- rating of an image, source and app ratings alike): exact agreement, agreement
-- within one step of 1-4, and agreement on "unusable" (5).
with

latest as (

    select image_id, annotator_id, rating
    from {{ ref('int_ratings_unioned') }}
    where is_valid
    qualify row_number() over (
        partition by image_id, annotator_id
        order by rated_at desc nulls last, rating_source = 'local' desc, rating_id desc
    ) = 1

),

pairs as (

    select
        a.annotator_id as annotator_a,
        b.annotator_id as annotator_b,
        a.rating as rating_a,
        b.rating as rating_b,
    from latest as a
    inner join latest as b
        on a.image_id = b.image_id and a.annotator_id < b.annotator_id

),

final as (

    select
        annotator_a,
        annotator_b,
        count(*) as n_images,
        round(avg((rating_a = rating_b)::int), 3) as exact_agreement,
        round(avg((abs(rating_a - rating_b) <= 1)::int)
            filter (where rating_a <= 4 and rating_b <= 4), 3) as within_one_agreement,
        round(avg(((rating_a = 5) = (rating_b = 5))::int), 3) as unusable_agreement,

    from pairs
    group by annotator_a, annotator_b
    order by n_images desc, annotator_a, annotator_b

)

select * from final
