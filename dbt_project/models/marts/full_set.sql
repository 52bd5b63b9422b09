-- One row per annotated, usable image (rating 1-4), the labelled set of the
-- research: rating remapped 1-4 -> 0-3 (higher is better), prompt cleaned.
with

ann as (

    select * from {{ ref('ann') }}

),

final as (

    select
        image_id,
        prompt,
        rating - 1 as rating,
        rating as source_rating,
        img_path,
        '{{ var("dataset_image_root") }}/' || (rating - 1) || '/' || image_id || '.jpg'
            as dataset_img_path,
        img_name,
        prompt_raw,
        generated_at,
        experiment_model_id,
        experiment_number,
        n_ratings,
        is_conflicting,

    from ann
    where rating between 1 and 4

)

select * from final
