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

{%- set policy = var('ns_submission', none) %}
{%- set by_percentile = policy is not none and policy['params'].get('quality_rule') == 'percentile' %}
{%- set p = submission_param %}
decision as (
    select * from {{ ref('submission_decision_rule') }}
),

quality as (
    {%- if by_percentile %}
    -- The percentile override: the named score's percentile among the images it scores.
    select
        image_id,
        score as quality_score,
        percentile as quality_percentile,
        percentile as quality_rank,
        percentile >= {{ p('quality_min_percentile') }} as quality_passes,
        {{ p('quality_score') }} || ' at percentile ' || round(percentile, 3)
            || ' (at least ' || {{ p('quality_min_percentile') }} || ')' as quality_detail,
    from {{ ref('score_percentiles') }}
    where scorer_id = {{ p('quality_score') }}
    {%- else %}
    -- The sell decision (submission_decision_rule): the image's score on the kept side
    -- of the threshold chosen out of sample. No threshold reaching the target: unknown
    -- for every image (held, with the reason), never passed.
    select
        signals.image_id,
        signals.score as quality_score,
        percentiles.percentile as quality_percentile,
        case decision.direction when 'lower' then -signals.score else signals.score end
            as quality_rank,
        case
            when not decision.is_reached then null
            when decision.direction = 'higher' then signals.score >= decision.threshold
            else signals.score <= decision.threshold
        end as quality_passes,
        case
            when not decision.is_reached then decision.reason
            else decision.scorer_id || ' ' || round(signals.score, 4)
                -- quality_passes: the column above (DuckDB's lateral alias).
                || case when quality_passes then ' keeps' else ' misses' end
                || ' the sell threshold ' || round(decision.threshold, 4) || ' ('
                || decision.direction || ' is better; precision '
                || coalesce(round(decision.oos_precision, 3)::varchar,
                            'at least ' || round(decision.oos_precision_low, 3))
                || ' out of sample'
                || case when decision.measured_by = 'forward in time'
                    then ' forward in time' else '' end
                || ', target ' || decision.target_precision || ')'
        end as quality_detail,
    from {{ ref('image_signals') }} as signals
    inner join decision using (scorer_id)
    left join {{ ref('score_percentiles') }} as percentiles
        on percentiles.image_id = signals.image_id and percentiles.scorer_id = signals.scorer_id
    {%- endif %}
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
        quality.quality_rank,
        quality.quality_passes,
        case
            when quality.quality_detail is not null then quality.quality_detail
            {%- if by_percentile %}
            else 'no valid ' || coalesce({{ p('quality_score') }}, 'quality') || ' score'
            {%- else %}
            when (select count(*) from decision where not is_reached) > 0
                then (select any_value(reason) from decision)
            else 'no ' || coalesce((select any_value(scorer_id) from decision), 'decision')
                || ' score'
            {%- endif %}
        end as quality_detail,
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
