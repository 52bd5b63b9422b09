-- One row per image of a reproducible random sample of unrated images: the
-- pool the research scores and filters. Names starting with
-- var('big_set_excluded_name_prefix') are left out (unreadable files).
-- Order by md5(seed/id): the same seed gives the same rows on any machine and
-- any DuckDB version, unlike sampling, which depends on threads.
with

images as (

    select * from {{ ref('int_images_checked') }} where is_valid

),

rated as (

    select image_id from {{ ref('image_ratings') }}

),

candidates as (

    select images.*
    from images
    anti join rated using (image_id)
    where not starts_with(coalesce(images.img_name, ''), '{{ var("big_set_excluded_name_prefix") }}')

),

sampled as (

    select
        row_number() over (
            order by md5('{{ var("big_set_seed") }}/' || image_id), image_id
        ) as sample_rank,
        image_id,
        img_path,
        img_name,
        generated_at,
        experiment_model_id,
        experiment_number,
        prompt_raw,
        generation_date_text,

    from candidates
    qualify sample_rank <= {{ var("big_set_size") }}

),

final as (

    -- Cleaned after sampling: only the sampled prompts need it.
    select
        * exclude (prompt_raw, generation_date_text),
        prompt_raw,
        {{ clean_prompt('prompt_raw') }} as prompt,
        generation_date_text,

    from sampled
    order by sample_rank

)

select * from final
