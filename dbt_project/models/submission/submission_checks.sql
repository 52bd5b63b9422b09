-- One row per (gate image, rule of the policy, near_duplicate aside): `pass`, `fail` or
-- `unknown` (the warehouse cannot tell: no file, no score), the value the rule saw and
-- what a failure means (`on_fail`: hold, reject, or label for people_present).
with

images as (
    select * from {{ ref('submission_images') }}
),

texts as (
    select * from {{ ref('submission_prompt_texts') }}
),

evidence as (
    select images.*, texts.prohibited_terms, texts.artist_references
    from images
    left join texts on texts.prompt_raw is not distinct from images.prompt_raw
),

checks as (
    select image_id, 'min_megapixels' as rule_id,
        case when megapixels is null then 'unknown'
             when megapixels >= {{ submission_param('min_megapixels') }} then 'pass'
             else 'fail' end as status,
        case when megapixels is null then 'no image file (' || file_status || ')'
             when megapixels >= {{ submission_param('min_megapixels') }}
                 then round(megapixels, 2) || ' MP'
             else 'needs x' || ceil(sqrt({{ submission_param('min_megapixels') }} / megapixels) * 100) / 100
                 || ' upscaling to reach ' || {{ submission_param('min_megapixels') }} || ' MP ('
                 || width || 'x' || height || ')' end as detail,
        case when megapixels < {{ submission_param('min_megapixels') }}
             then ceil(sqrt({{ submission_param('min_megapixels') }} / megapixels) * 100) / 100
             end as value
    from evidence
    union all
    select image_id, 'max_megapixels',
        case when megapixels is null then 'unknown'
             when megapixels <= {{ submission_param('max_megapixels') }} then 'pass'
             else 'fail' end,
        case when megapixels is null then 'no image file (' || file_status || ')'
             else round(megapixels, 2) || ' MP (at most ' || {{ submission_param('max_megapixels') }}
                 || ')' end,
        megapixels
    from evidence
    union all
    select image_id, 'max_file_mb',
        case when bytes is null or file_status != 'ok' then 'unknown'
             when bytes / 1e6 <= {{ submission_param('max_file_mb') }} then 'pass'
             else 'fail' end,
        case when bytes is null or file_status != 'ok' then 'no image file (' || file_status || ')'
             else round(bytes / 1e6, 2) || ' MB (at most ' || {{ submission_param('max_file_mb') }}
                 || ')' end,
        bytes / 1e6
    from evidence
    union all
    select image_id, 'text_in_image',
        case when text_area_fraction is null then 'unknown'
             when text_area_fraction <= {{ submission_param('max_text_area_fraction') }}
                 and text_boxes <= {{ submission_param('max_text_boxes') }} then 'pass'
             else 'fail' end,
        case when text_area_fraction is null then 'no text_in_image score'
             else text_boxes::integer || ' text box(es) over '
                 || round(100 * text_area_fraction, 1) || '% of the image' end,
        text_area_fraction
    from evidence
    union all
    select image_id, 'nsfw',
        case when nsfw_score is null then 'unknown'
             when nsfw_score <= {{ submission_param('max_nsfw') }} then 'pass'
             else 'fail' end,
        case when nsfw_score is null then 'no nsfw score'
             else 'nudity ' || round(nsfw_score, 2) || ' (at most '
                 || {{ submission_param('max_nsfw') }} || ')' end,
        nsfw_score
    from evidence
    union all
    select image_id, 'people_present',
        case when face_confidence is null then 'unknown'
             when face_confidence >= {{ submission_param('min_face_confidence') }} then 'fail'
             else 'pass' end,
        case when face_confidence is null then 'no nsfw score (its face classes tell)'
             when face_confidence >= {{ submission_param('min_face_confidence') }}
                 then 'a face at ' || round(face_confidence, 2)
                     || ': label "People and Property are fictional"'
             else 'no face' end,
        face_confidence
    from evidence
    union all
    select image_id, 'prohibited_names',
        case when prompt is null then 'unknown'
             when len(coalesce(prohibited_terms, [])) = 0 then 'pass' else 'fail' end,
        case when prompt is null then 'no prompt'
             when len(coalesce(prohibited_terms, [])) = 0 then 'none'
             else 'names ' || array_to_string(prohibited_terms, '; ') end,
        len(prohibited_terms)
    from evidence
    union all
    select image_id, 'artist_reference',
        case when prompt_raw is null then 'unknown'
             when len(coalesce(artist_references, [])) = 0 then 'pass' else 'fail' end,
        case when prompt_raw is null then 'no prompt'
             when len(coalesce(artist_references, [])) = 0 then 'none'
             else array_to_string(artist_references, '; ') end,
        len(artist_references)
    from evidence
    union all
    select image_id, 'quality',
        case when quality_percentile is null then 'unknown'
             when quality_percentile >= {{ submission_param('quality_min_percentile') }}
                 then 'pass'
             else 'fail' end,
        case when quality_percentile is null
                 then 'no valid ' || coalesce({{ submission_param('quality_score') }}, 'quality')
                     || ' score'
             else {{ submission_param('quality_score') }} || ' at percentile '
                 || round(quality_percentile, 3) || ' (at least '
                 || {{ submission_param('quality_min_percentile') }} || ')' end,
        quality_percentile
    from evidence
),

final as (
    select
        checks.image_id,
        checks.rule_id,
        checks.status,
        case checks.rule_id
        {%- for rule in submission_rules() %}
            when '{{ rule }}' then {{ submission_action(rule) }}
        {%- endfor %}
        end as on_fail,
        checks.detail,
        checks.value::double as value,
    from checks
)

select * from final
