{{ config(materialized='view', tags=['embedding']) }}
-- One row per image and embedder with an image vector: the vector, its hash (what tells
-- a later build that it changed) and, for a vector no index may hold, why: a length
-- other than the embedder's usual one ('wrong dimension') or a NaN or infinite value
-- ('not finite') or all zeros (no direction: 'all zeros'). image_embedding_pairs and the
-- zero-shot models count those and leave them out.
with

vectors as (

    select
        image_id,
        embedder_id,
        is_random_init,
        embedding,
        hash(embedding) as vector_hash,
        len(embedding) as dim,
    from {{ ref('image_embeddings') }}
    where embedding is not null

),

usual as (

    select embedder_id, mode(dim) as usual_dim from vectors group by embedder_id

)

select
    vectors.*,
    case
        when vectors.dim != usual.usual_dim then 'wrong dimension'
        when not isfinite(list_sum(vectors.embedding)) then 'not finite'
        when list_dot_product(vectors.embedding, vectors.embedding) = 0 then 'all zeros'
    end as problem,
from vectors
inner join usual using (embedder_id)
