{{ config(materialized='table', tags=['embedding']) }}
-- int_image_vectors without the vectors: one row per image and embedder with an image
-- vector, its hash, length and problem. The view hashes and checks every vector when it
-- is read; this table reads it once per build, and the incremental models that compare
-- vectors (the zero-shot models, image_embedding_checked) read the facts here, then
-- fetch from image_embeddings only the vectors they compute.
select image_id, embedder_id, is_random_init, vector_hash, dim, problem
from {{ ref('int_image_vectors') }}
