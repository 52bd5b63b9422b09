-- One row per (image, embedder, keyword group): the group's probability, the sum of
-- its keywords' probabilities over the whole keyword list (the groups of one image sum
-- to 1), for every embedded image: a handful of rows per image at any pool size.
-- Incremental (macros/zero_shot.sql): only new or changed pairs are computed.
{{ config(materialized='incremental', unique_key=['image_id', 'embedder_id'],
          incremental_strategy='delete+insert', on_schema_change='append_new_columns',
          post_hook=["{{ zero_shot_stale_delete() }}"]) }}
with

{{ zero_shot_pairs(with_completeness=false) }},

final as (

    select
        image_id,
        embedder_id,
        keyword_group,
        any_value(is_random_init) as is_random_init,
        sum(probability) as probability,
        count(*) as n_keywords,
        any_value(vector_hash) as vector_hash,
        any_value(keyword_list_hash) as keyword_list_hash,
        now() as computed_at,
    from probabilities
    group by image_id, embedder_id, keyword_group

)

select * from final
