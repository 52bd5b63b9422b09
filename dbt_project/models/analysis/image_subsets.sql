-- One row per (full_set image, subset) over which agreement is measured: 'all',
-- each cluster of each embedder's chosen k ('cluster:<embedder>:<id>'), each
-- experiment model ('experiment_model:<id>'), each generation month
-- ('generation_month:YYYY-MM', UTC). Unknown values form their own subset.
with

images as (select * from {{ ref('full_set') }}),

clusters as (

    select * from {{ ref('cluster_assignments') }}
    where is_chosen_k and image_set = 'full_set'

),

final as (

    select image_id, 'all' as subset, 'all' as subset_kind, null::varchar as subset_embedder_id,
    from images
    union all
    -- A second input (var cluster_both_input) is named: cluster:<embedder>:both:<id>.
    select image_id,
           'cluster:' || embedder_id || ':'
               || case when is_default_input then '' else embedding_kind || ':' end
               || cluster_id,
           'cluster', embedder_id,
    from clusters
    union all
    select
        image_id,
        'experiment_model:' || coalesce(experiment_model_id::varchar, 'unknown'),
        'experiment_model',
        null,
    from images
    union all
    select
        image_id,
        'generation_month:' || coalesce(strftime(generated_at at time zone 'UTC', '%Y-%m'),
                                        'unknown'),
        'generation_month',
        null,
    from images

)

select * from final
