-- One row per (image, embedder, keyword) kept: zero-shot probability of the keyword,
-- a softmax over the whole keyword list of logit_scale x cosine similarity (both sides
-- L2-normalised), as CLIP is trained to be read. Every keyword of a rated image (what
-- the metrics read; and of every image with var zero_shot_keyword_signals, where each
-- keyword is a signal); the var zero_shot_pool_top_k most probable keywords of an
-- unrated pool image (is_complete false): at pool size every keyword of every image
-- would be ~300 M rows per embedder. keyword_rank: 1 = the image's most probable.
-- Incremental (macros/zero_shot.sql): only new or changed pairs are computed.
{{ config(materialized='incremental', unique_key=['image_id', 'embedder_id'],
          incremental_strategy='delete+insert', on_schema_change='append_new_columns',
          post_hook=["{{ zero_shot_stale_delete() }}"]) }}
with

{{ zero_shot_pairs(with_completeness=true) }},

ranked as (

    select
        *,
        row_number() over (partition by image_id, embedder_id
                           order by probability desc, keyword) as keyword_rank,
    from probabilities

),

final as (

    select
        image_id,
        embedder_id,
        is_random_init,
        keyword,
        keyword_group,
        logit,
        probability,
        keyword_rank,
        is_complete,
        vector_hash,
        keyword_list_hash,
        now() as computed_at,
    from ranked
    where is_complete or keyword_rank <= {{ var('zero_shot_pool_top_k') }}

)

select * from final
