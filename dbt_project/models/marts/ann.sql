-- One row per annotated image: its info and its resolved rating on the file's
-- scale (1-4, 5 = unusable). full_set drops the 5s.
with

images as (

    select * from {{ ref('int_images_checked') }} where is_valid

),

ratings as (

    select * from {{ ref('image_ratings') }}

),

final as (

    select
        images.image_id,
        images.img_path,
        images.img_name,
        images.generated_at,
        images.experiment_model_id,
        images.experiment_number,
        images.prompt_raw,
        {{ clean_prompt('images.prompt_raw') }} as prompt,
        ratings.rating,
        ratings.rating = 5 as is_unusable,
        ratings.n_ratings,
        ratings.n_annotators,
        ratings.is_conflicting,

    from ratings
    inner join images using (image_id)

)

select * from final
