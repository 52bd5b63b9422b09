-- One row per resolved rating of ann (1-4, 5 = unusable): images, share, and the
-- remapped rating full_set uses (0-3, null for 5).
with

ann as (select * from {{ ref('image_ratings') }}),  -- every rated image, 5 included

final as (

    select
        rating as source_rating,
        case when rating between 1 and 4 then rating - 1 end as rating,
        case rating
            when 1 then '1 - worst usable'
            when 4 then '4 - best'
            when 5 then '5 - unusable'
            else rating::varchar
        end as label,
        count(*) as n_images,
        count(*) / sum(count(*)) over () as share,
    from ann
    group by rating

)

select * from final order by source_rating
