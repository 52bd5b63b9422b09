{% macro connected_groups(pairs) %}
{#- CTEs (to follow `with recursive ...,`) ending in `groups`: one row per image of the
    pair relation `pairs` (columns image_id_a, image_id_b), its group (the smallest image
    id connected to it through pairs) and the group's size. Used by near_duplicate_groups
    and submission_similar_groups. -#}
edges as (
    select image_id_a as source, image_id_b as target from {{ pairs }}
    union all
    select image_id_b, image_id_a from {{ pairs }}
),

reach(image_id, reached) as (
    select source, source from edges
    union
    select reach.image_id, edges.target
    from reach inner join edges on edges.source = reach.reached
),

linked as (
    select image_id, min(reached) as group_id from reach group by image_id
),

groups as (
    select image_id, group_id, count(*) over (partition by group_id) as group_size
    from linked
)
{% endmacro %}
