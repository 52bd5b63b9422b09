-- One row per gate image that has a near-duplicate among the gate's images: its group
-- (the smallest image id connected to it) and the group's size. Near-duplicates are the
-- perceptual-hash pairs (near_duplicate_pairs) and, for every image embedder with real
-- weights, pairs whose image embeddings have cosine >= the policy's
-- near_duplicate_min_cosine (image_embedding_pairs; random weights say nothing about
-- similarity: left out).
with recursive

members as (
    select image_id from {{ ref('submission_images') }}
),

hash_pairs as (
    select pairs.image_id_a, pairs.image_id_b
    from {{ ref('near_duplicate_pairs') }} as pairs
    semi join members as a on a.image_id = pairs.image_id_a
    semi join members as b on b.image_id = pairs.image_id_b
),

embedding_pairs as (
    -- Found through each embedder's nearest-neighbour index, never by comparing every
    -- pair (image_embedding_pairs: real-weight embedders only).
    select pairs.image_id_a, pairs.image_id_b
    from {{ ref('image_embedding_pairs') }} as pairs
    semi join members as a on a.image_id = pairs.image_id_a
    semi join members as b on b.image_id = pairs.image_id_b
),

pairs as (
    select * from hash_pairs
    union
    select * from embedding_pairs
),

{{ connected_groups('pairs') }}

select * from groups
