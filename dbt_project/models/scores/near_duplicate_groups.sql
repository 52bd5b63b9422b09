{{ config(materialized='table', tags=['score']) }}
-- One row per image that has a near-duplicate: its group (the smallest image id
-- connected to it through near-duplicate pairs) and the group's size.
with recursive

{{ connected_groups(ref('near_duplicate_pairs')) }}

select * from groups
