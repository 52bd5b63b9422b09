-- One row per (image, feature): the embedding-derived features in the shape of
-- `scores`, so agreement metrics treat them like any outside score. Scorer ids:
-- image_prompt_similarity@<embedder>, centroid_distance@<embedder> (chosen k),
-- zero_shot_<group>@<embedder>, and with var zero_shot_keyword_signals also
-- zero_shot_kw_<keyword>@<embedder> (off by default: ~100 signals per embedder
-- would swamp the report). Spaces in names become `_`.
with

similarity as (select * from {{ ref('image_prompt_similarity') }}),

assignments as (select * from {{ ref('cluster_assignments') }} where is_chosen_k),

groups as (select * from {{ ref('keyword_group_zero_shot') }}),

final as (

    select
        image_id,
        'image_prompt_similarity@' || embedder_id as scorer_id,
        'image_prompt_similarity' as base_scorer_id,
        embedder_id,
        similarity as score,
    from similarity
    union all
    select
        image_id,
        -- The default input keeps its name; another one says which (centroid_distance_both@E).
        'centroid_distance' || case when is_default_input then '' else '_' || embedding_kind end
            || '@' || embedder_id,
        'centroid_distance' || case when is_default_input then '' else '_' || embedding_kind end,
        embedder_id,
        centroid_distance,
    from assignments
    union all
    select
        image_id,
        'zero_shot_' || replace(keyword_group, ' ', '_') || '@' || embedder_id,
        'zero_shot_' || replace(keyword_group, ' ', '_'),
        embedder_id,
        probability,
    from groups
    {%- if var('zero_shot_keyword_signals', false) %}
    union all
    select
        image_id,
        'zero_shot_kw_' || replace(keyword, ' ', '_') || '@' || embedder_id,
        'zero_shot_kw_' || replace(keyword, ' ', '_'),
        embedder_id,
        probability,
    from {{ ref('keyword_zero_shot') }}
    {%- endif %}

)

select * from final
