-- One row per usable annotated image (resolved rating 1-4 on the file's scale):
-- the team's ann.csv, which kept ratings 1-4 only. Images resolved to 5
-- (unusable) stay in image_ratings; full_set is ann remapped to 0-3.
with

images as (

    select * from {{ ref('int_images_checked') }} where is_valid

),

ratings as (

    select * from {{ ref('image_ratings') }} where rating between 1 and 4

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
        -- The cleaned prompt from int_prompts_cleaned (cleaned once per distinct prompt).
        cleaned.prompt,
        ratings.rating,
        ratings.n_ratings,
        ratings.n_annotators,
        ratings.is_conflicting,

    from ratings
    inner join images using (image_id)
    left join {{ ref('int_prompts_cleaned') }} as cleaned
        on cleaned.prompt_raw = images.prompt_raw

)

select * from final
