-- One row per image the marketplace gate judges: the pool's unrated images (mart pool,
-- source_rating null: whichever neurostock.yml's `pool:` chose) and every
-- rated image (rating 1-5, so the report can set the verdicts beside the ratings), with
-- its file, its text-in-image, NSFW and quality evidence. Empty when neurostock passed
-- no policy (the committed project built by hand).
with

pool as (
    select pool.image_id, 'pool' as image_set, null::integer as rating, images.prompt_raw,
           pool.prompt
    from {{ ref('pool') }} as pool
    inner join {{ ref('int_images_checked') }} as images using (image_id)
    where pool.source_rating is null
),

rated as (
    -- The cleaned prompt from int_prompts_cleaned (cleaned once per distinct prompt).
    select ratings.image_id, 'rated' as image_set, ratings.rating, images.prompt_raw,
           cleaned.prompt
    from {{ ref('image_ratings') }} as ratings
    inner join {{ ref('int_images_checked') }} as images using (image_id)
    left join {{ ref('int_prompts_cleaned') }} as cleaned
        on cleaned.prompt_raw = images.prompt_raw
    where images.is_valid
),

members as (
    select * from pool
    union all
    select * from rated
),

files as (
    -- One row per image: files.images is keyed by image_id (stg_files__images tests it).
    select image_id, status as file_status, resolved_path, bytes, width, height
    from {{ ref('stg_files__images') }}
),

components as (
    select image_id, scorer_id, score, components from {{ ref('scores') }}
    where scorer_id in ('text_in_image', 'nsfw')
),

quality as (
    select image_id, score as quality_score, percentile as quality_percentile
    from {{ ref('score_percentiles') }}
    where scorer_id = {{ submission_param('quality_score') }}
),

final as (
    select
        members.image_id,
        {{ submission_policy_name() }} as policy,
        {{ submission_policy_version() }} as policy_version,
        members.image_set,
        members.rating,
        members.prompt_raw,
        members.prompt,
        coalesce(files.file_status, 'not synced') as file_status,
        files.resolved_path,
        files.bytes,
        files.width,
        files.height,
        case when files.file_status = 'ok' then files.width * files.height / 1e6 end
            as megapixels,
        text.components['n_boxes'] as text_boxes,
        text.components['area_fraction'] as text_area_fraction,
        nsfw.score as nsfw_score,
        greatest(nsfw.components['face_female'], nsfw.components['face_male'])
            as face_confidence,
        quality.quality_score,
        quality.quality_percentile,
    from members
    left join files using (image_id)
    left join components as text
        on text.image_id = members.image_id and text.scorer_id = 'text_in_image'
    left join components as nsfw
        on nsfw.image_id = members.image_id and nsfw.scorer_id = 'nsfw'
    left join quality on quality.image_id = members.image_id
    where {{ submission_enabled() }}
)

select * from final
