{{ config(materialized='table', tags=['score']) }}
-- One row per image that has a near-duplicate: its group (the smallest image id
-- connected to it through near-duplicate pairs) and the group's size.
with recursive

edges as (
    select image_id_a as source, image_id_b as target from {{ ref('near_duplicate_pairs') }}
    union all
    select image_id_b, image_id_a from {{ ref('near_duplicate_pairs') }}
),

reach(image_id, reached) as (
    select source, source from edges
    union
    select reach.image_id, edges.target
    from reach inner join edges on edges.source = reach.reached
),

groups as (
    select image_id, min(reached) as group_id from reach group by image_id
)

select image_id, group_id, count(*) over (partition by group_id) as group_size from groups
