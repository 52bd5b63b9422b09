-- One row per gate image that has a near-duplicate among the gate's images: its group
-- (the smallest image id connected to it) and the group's size. Near-duplicates are the
-- perceptual-hash pairs (near_duplicate_pairs) and, for every image embedder with real
-- weights, pairs whose image embeddings have cosine >= the policy's
-- near_duplicate_min_cosine (random weights say nothing about similarity: left out).
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

vectors as (
    select embeddings.image_id, embeddings.embedder_id, embeddings.embedding
    from {{ ref('image_embeddings') }} as embeddings
    semi join members using (image_id)
    where not embeddings.is_random_init
),

embedding_pairs as (
    select a.image_id as image_id_a, b.image_id as image_id_b
    from vectors as a
    inner join vectors as b
        on a.embedder_id = b.embedder_id and a.image_id < b.image_id
    where list_cosine_similarity(a.embedding, b.embedding)
        >= {{ submission_param('near_duplicate_min_cosine') }}
),

pairs as (
    select * from hash_pairs
    union
    select * from embedding_pairs
),

{{ connected_groups('pairs') }}

select * from groups
