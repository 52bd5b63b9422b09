{{ config(materialized='table', tags=['score']) }}
-- One row per (image, applicable head x embedder): the head's score, in SQL.
select
    embeddings.image_id,
    applicability.scorer_id,
    applicability.head_id,
    applicability.embedder_id,
    list_dot_product(embeddings.embedding, heads.weights) + heads.bias as score,
from {{ ref('aesthetic_head_applicability') }} as applicability
inner join {{ ref('stg_meta__aesthetic_heads') }} as heads using (head_id)
inner join {{ ref('image_embeddings') }} as embeddings using (embedder_id)
where applicability.is_applicable
