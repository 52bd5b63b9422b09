-- One row per number of annotators of an image (1, 2, 3 or more): how often
-- repeated ratings agree.
with

rated as (select * from {{ ref('image_ratings') }}),

final as (

    select
        least(n_annotators, 3) as n_annotators,
        case when n_annotators >= 3 then '3 or more' else n_annotators::varchar end as label,
        count(*) as n_images,
        count(*) filter (where is_conflicting) as n_conflicting,
        count(*) filter (where min_rating = max_rating) as n_unanimous,
        count(*) filter (where n_exact_duplicates > 0) as n_with_exact_duplicates,
        avg(max_rating - min_rating) as mean_spread,
    from rated
    group by least(n_annotators, 3), label

)

select * from final order by n_annotators
