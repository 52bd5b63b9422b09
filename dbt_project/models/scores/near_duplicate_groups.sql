{{ config(materialized='table', tags=['score']) }}
-- One row per image that has a near-duplicate: its group (the smallest image id
-- connected to it through near-duplicate pairs) and the group's size. Near-duplicates
-- are the perceptual-hash pairs and, for image embedders with real weights, the
-- embedding pairs at the policy's cosine (image_embedding_pairs: an index, never every
-- pair compared). The rating queue keeps one image per group.
with recursive

pairs as (
    select image_id_a, image_id_b from {{ ref('near_duplicate_pairs') }}
    union
    select image_id_a, image_id_b from {{ ref('image_embedding_pairs') }}
),

{{ connected_groups('pairs') }}

select * from groups
