-- One row per (image, embedder, keyword group): the group's probability, the sum
-- of its keywords' probabilities (the groups of one image sum to 1).
with

keywords as (select * from {{ ref('keyword_zero_shot') }}),

final as (

    select
        image_id,
        embedder_id,
        keyword_group,
        any_value(is_random_init) as is_random_init,
        sum(probability) as probability,
        count(*) as n_keywords,
    from keywords
    group by image_id, embedder_id, keyword_group

)

select * from final
