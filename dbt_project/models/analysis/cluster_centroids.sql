-- One row per (embedder, input, k, cluster): the centroid of a fitted k-means solution.
with

solutions as (

    select * from {{ ref('cluster_solutions') }} where centroids is not null

),

final as (

    select
        embedder_id,
        embedding_kind,
        k,
        is_chosen as is_chosen_k,
        is_default_input,
        unnest(range(len(centroids)::bigint))::integer as cluster_id,
        unnest(centroids)::double[] as centroid,

    from solutions

)

select * from final
