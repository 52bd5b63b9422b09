-- One row per (image, embedder, k) for full_set images, the unusable rated images
-- (image_set 'unusable': so embedding features such as centroid_distance cover the
-- whole decision population) and the pool's unrated images (mart pool, source_rating
-- null; image_set 'pool'): the nearest centroid of
-- full_set's fit and the Euclidean distance to it (vectors are unit length). The
-- pool's images are assigned to full_set's clusters, never refitted.
with

centroids as (select * from {{ ref('cluster_centroids') }}),

members as (

    select image_id, 'full_set' as image_set from {{ ref('full_set') }}
    union all
    select image_id, 'unusable' from {{ ref('pool') }} where image_set = 'unusable'
    union all
    select image_id, 'pool' from {{ ref('pool') }} where source_rating is null

),

vectors as (

    select image_id, embedder_id, 'image' as embedding_kind, embedding
    from {{ ref('image_embeddings') }}
    union all
    select image_id, embedder_id, 'prompt' as embedding_kind, embedding
    from {{ ref('prompt_embeddings') }}
    {%- if var('cluster_both_input', false) %}
    union all
    -- Input "both": unit image vector, then unit prompt vector (as analysis/clusters.py),
    -- the whole made unit length (each half / sqrt(2)).
    select i.image_id, i.embedder_id, 'both',
           list_concat(
               list_transform(i.embedding::double[], lambda x: x / sqrt(
                   2 * list_dot_product(i.embedding::double[], i.embedding::double[]))),
               list_transform(p.embedding::double[], lambda x: x / sqrt(
                   2 * list_dot_product(p.embedding::double[], p.embedding::double[])))),
    from {{ ref('image_embeddings') }} as i
    inner join {{ ref('prompt_embeddings') }} as p using (embedder_id, image_id)
    where list_dot_product(i.embedding::double[], i.embedding::double[]) > 0
      and list_dot_product(p.embedding::double[], p.embedding::double[]) > 0
    {%- endif %}

),

clustered as (

    select distinct embedder_id, embedding_kind from centroids

),

candidates as (

    select members.image_id, members.image_set, vectors.embedder_id, vectors.embedding_kind,
           vectors.embedding::double[] as embedding,
    from members
    inner join vectors using (image_id)
    inner join clustered using (embedder_id, embedding_kind)

),

distances as (

    select
        candidates.image_id,
        candidates.image_set,
        candidates.embedder_id,
        candidates.embedding_kind,
        centroids.k,
        centroids.is_chosen_k,
        centroids.is_default_input,
        centroids.cluster_id,
        list_distance(candidates.embedding, centroids.centroid) as distance,
    from candidates
    inner join centroids using (embedder_id, embedding_kind)

),

final as (

    select
        image_id,
        embedder_id,
        k,
        embedding_kind,
        any_value(image_set) as image_set,
        any_value(is_chosen_k) as is_chosen_k,
        any_value(is_default_input) as is_default_input,
        arg_min(cluster_id, (distance, cluster_id)) as cluster_id,
        min(distance) as centroid_distance,
    from distances
    group by image_id, embedder_id, embedding_kind, k

)

select * from final
