-- One row per (embedder, keyword group, rating 0-3): the mean zero-shot probability
-- of the group among full_set images of that rating.
with

groups as (select * from {{ ref('keyword_group_zero_shot') }}),

rated as (select image_id, rating from {{ ref('full_set') }}),

final as (

    select
        groups.embedder_id,
        groups.keyword_group,
        rated.rating,
        any_value(groups.is_random_init) as is_random_init,
        count(*) as n,
        avg(groups.probability) as mean_probability,
    from groups
    inner join rated using (image_id)
    group by all

)

select * from final order by embedder_id, keyword_group, rating
