-- One row per (population, attribute, value): the share of each name prefix (the
-- team's batches: 3_, 6_, 7_, ...) and each experiment model among the rated images
-- (every rated image) and the pool's unrated images (mart pool, source_rating null),
-- side by side.
with

images as (

    select
        image_id,
        {{ image_batch_columns() }}
    from {{ ref('int_images_checked') }}
    where is_valid

),

members as (

    select 'rated' as population, images.*
    from images semi join {{ ref('image_ratings') }} using (image_id)
    union all
    select 'pool' as population, images.*
    from images semi join (select image_id from {{ ref('pool') }} where source_rating is null) as unrated using (image_id)

),

counted as (

    select population, 'name_prefix' as attribute, name_prefix as value, count(*) as n,
    from members group by all
    union all
    select population, 'experiment_model', experiment_model, count(*),
    from members group by all

),

final as (

    select
        population,
        attribute,
        value,
        n,
        n::double / sum(n) over (partition by population, attribute) as share,
    from counted

)

select * from final
