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

top as (

    -- A top-N (ORDER BY ... LIMIT), not a window over every candidate: DuckDB keeps
    -- N rows instead of sorting 2 million.
    select
        md5('{{ var("big_set_seed") }}/' || image_id) as sample_key,
        image_id,
        img_path,
        img_name,
        generated_at,
        experiment_model_id,
        experiment_number,
        prompt_raw,
        generation_date_text,

    from candidates
    order by sample_key, image_id
    limit {{ var("big_set_size") }}

),

sampled as (

    select
        row_number() over (order by sample_key, image_id) as sample_rank,
        * exclude (sample_key),
    from top

),

final as (

    -- The cleaned prompt from int_prompts_cleaned (cleaned once per distinct prompt).
    select
        sampled.* exclude (prompt_raw, generation_date_text),
        sampled.prompt_raw,
        cleaned.prompt,
        sampled.generation_date_text,

    from sampled
    left join {{ ref('int_prompts_cleaned') }} as cleaned using (prompt_raw)
    order by sampled.sample_rank

)

select * from final
