{{ config(materialized='view', tags=['score']) }}
-- One row per (image, scorer) with a numeric score: computed scorers (technical
-- metrics each as their own scorer id), imported scores, aesthetic heads.
with

computed as (
    {%- for scorer_id in var('ns_scorers', []) %}
    select image_id, scorer_id, score, components
    from {{ ref('score__' ~ scorer_id) }}
    where score_error is null
    union all
    {%- endfor %}
    select null::bigint as image_id, null::varchar as scorer_id, null::double as score,
           null::map(varchar, double) as components
    where false
),

expanded as (
    -- Each technical measure (sharpness, exposure, noise, ...) is a feature of its own.
    select image_id, 'technical_' || part.key as scorer_id, 'technical' as base_scorer_id,
           part.value::double as score, null::map(varchar, double) as components
    from computed, unnest(map_entries(components)) as t(part)
    where computed.scorer_id = 'technical'
    union all
    select image_id, scorer_id, scorer_id, score, components
    from computed
    where scorer_id not in ('technical', 'phash')
),

imported as (
    select image_id, scorer_id, scorer_id as base_scorer_id, score, components
    from {{ ref('stg_imported__scores') }}
),

heads as (
    select image_id, scorer_id, head_id as base_scorer_id, score,
           null::map(varchar, double) as components
    from {{ ref('aesthetic_head_scores') }}
),

final as (
    select * from expanded
    union all
    select * from imported
    union all
    select * from heads
)

select * from final where score is not null
