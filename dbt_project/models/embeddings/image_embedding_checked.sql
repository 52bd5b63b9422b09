{{ config(materialized='table', tags=['embedding']) }}
-- depends_on: {{ ref('image_embedding_pairs') }}
-- One row per image vector image_embedding_pairs indexed and searched in this build
-- (built after it), with the threshold it searched at: what the next build compares
-- the vectors with, so it searches only the new and changed ones.
select
    image_id,
    embedder_id,
    vector_hash,
    {{ embedding_pair_min_cosine() }} as min_cosine,
from {{ ref('int_image_vector_facts') }}
where problem is null
