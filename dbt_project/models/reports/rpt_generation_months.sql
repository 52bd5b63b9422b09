-- One row per generation month (UTC): images, rated images, mean rating.
with

images as (select * from {{ ref('int_images_checked') }} where is_valid),

rated as (select image_id, rating from {{ ref('full_set') }}),

final as (

    select
        coalesce(strftime(images.generated_at at time zone 'UTC', '%Y-%m'), 'unknown') as month,
        count(*) as n_images,
        count(rated.image_id) as n_full_set,
        avg(rated.rating) as mean_rating,
    from images
    left join rated using (image_id)
    group by 1

)

select * from final order by month
