-- One row per (image, feature): the embedding-derived features in the shape of
-- `scores`, so agreement metrics treat them like any outside score. Scorer ids:
-- image_prompt_similarity@<embedder>, centroid_distance@<embedder> (chosen k),
-- zero_shot_<group>@<embedder>.
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
        'centroid_distance@' || embedder_id,
        'centroid_distance',
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

)

select * from final
