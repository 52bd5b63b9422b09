-- One row per experiment model id: images, rated images and their mean rating.
with

images as (select * from {{ ref('int_images_checked') }} where is_valid),

rated as (select image_id, rating from {{ ref('full_set') }}),

final as (

    select
        coalesce(images.experiment_model_id::varchar, 'unknown') as experiment_model,
        count(*) as n_images,
        count(rated.image_id) as n_full_set,
        avg(rated.rating) as mean_rating,
        min(images.generated_at) as first_generated_at,
        max(images.generated_at) as last_generated_at,
    from images
    left join rated using (image_id)
    group by 1

)

select * from final order by experiment_model
