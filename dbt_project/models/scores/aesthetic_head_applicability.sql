{{ config(materialized='view', tags=['score']) }}
-- One row per (aesthetic head, image embedder): may the head score these
-- embeddings? Only OpenAI CLIP weights of the head's architecture qualify.
with

heads as (select * from {{ ref('stg_meta__aesthetic_heads') }}),

embedders as (
    select * from {{ ref('stg_meta__embedding_models') }} where list_contains(kinds, 'image')
),

final as (
    select
        heads.head_id || '@' || embedders.embedder_id as scorer_id,
        heads.head_id,
        embedders.embedder_id,
        case
            when embedders.is_random_init then 'embedder has random weights'
            when embedders.library != 'open_clip'
                then 'embedder is ' || embedders.library || ', not OpenAI CLIP'
            when embedders.model not in (heads.clip_model, heads.clip_model || '-quickgelu')
                then 'head expects ' || heads.clip_model || ', embedder is ' || embedders.model
            when coalesce(embedders.pretrained, '') != heads.clip_pretrained
                then 'head expects ' || heads.clip_pretrained || ' weights, embedder has '
                    || coalesce(embedders.pretrained, 'none')
            when embedders.dim != heads.dim then 'dimensions differ'
        end as not_applicable_reason,
    from heads
    cross join embedders
)

select *, not_applicable_reason is null as is_applicable from final
