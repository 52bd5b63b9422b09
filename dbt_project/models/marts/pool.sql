-- One row per image to check, embed and score: every rated image (unusable ones
-- included: half of what a filter must learn to reject) plus the unrated images
-- var('pool_unrated') chooses (set by neurostock from neurostock.yml's `pool:`):
--   sample  the reproducible sample big_set (the default)
--   all     every valid unrated image
--   since   unrated images generated on or after var('pool_since')
--   newest  the var('pool_newest') most recently generated unrated images
-- Unrated names starting with var('big_set_excluded_name_prefix') are left out in
-- every mode (the team's unreadable files), as in big_set.
{%- set mode = var('pool_unrated', 'sample') %}
{%- if mode not in ('sample', 'all', 'since', 'newest') %}
{{ exceptions.raise_compiler_error("var pool_unrated must be sample, all, since or newest, not " ~ mode) }}
{%- endif %}
with

images as (

    select * from {{ ref('int_images_checked') }} where is_valid

),

ratings as (

    select image_id, rating, is_unusable from {{ ref('image_ratings') }}

),

rated as (

    select
        images.image_id,
        case when ratings.is_unusable then 'unusable' else 'full_set' end as image_set,
        ratings.rating as source_rating,
        images.img_path,
        images.img_name,
        images.generated_at,
        images.prompt_raw,

    from images
    inner join ratings using (image_id)

),

{% if mode == 'sample' -%}
unrated as (

    select image_id, 'big_set' as image_set, null::integer as source_rating,
           img_path, img_name, generated_at, prompt_raw,
    from {{ ref('big_set') }}

),
{%- else -%}
candidates as (

    select images.*
    from images
    anti join ratings using (image_id)
    where not starts_with(coalesce(images.img_name, ''), '{{ var("big_set_excluded_name_prefix") }}')
    {%- if mode == 'since' %}
      and images.generated_at >= cast('{{ var("pool_since") }}' as timestamp)
    {%- endif %}

),

unrated as (

    select image_id, 'unrated' as image_set, null::integer as source_rating,
           img_path, img_name, generated_at, prompt_raw,
    from candidates
    {%- if mode == 'newest' %}
    order by generated_at desc nulls last, image_id desc
    limit {{ var('pool_newest') | int }}
    {%- endif %}

),
{%- endif %}

members as (

    select * from rated
    union all
    select * from unrated

),

final as (

    -- The cleaned prompt from int_prompts_cleaned (cleaned once per distinct prompt) and
    -- its prompt group (macro prompt_group): the unit every grouped split keeps together.
    select
        members.image_id,
        members.image_set,
        members.source_rating,
        members.img_path,
        members.img_name,
        members.generated_at,
        cleaned.prompt,
        {{ prompt_group('cleaned.prompt', 'members.image_id') }} as prompt_group,

    from members
    left join {{ ref('int_prompts_cleaned') }} as cleaned using (prompt_raw)

)

select * from final
