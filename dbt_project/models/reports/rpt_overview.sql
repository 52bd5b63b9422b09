-- One row: the warehouse at a glance, for the report's overview.
with

images as (select * from {{ ref('int_images_checked') }}),

ratings as (select * from {{ ref('stg_core__ratings') }}),

rated as (select * from {{ ref('image_ratings') }}),

files as (select * from {{ ref('stg_files__images') }}),

loads as (

    select source_path, source_sha256, finished_at
    from {{ ref('stg_meta__loads') }}
    order by load_id desc
    limit 1

),

final as (

    select
        (select count(*) from images where is_valid) as n_images,
        (select count(*) from rated) as n_rated_images,
        (select count(*) from images where is_valid) - (select count(*) from rated)
            as n_unrated_images,
        (select count(*) from {{ ref('image_ratings') }} where is_unusable) as n_unusable,
        (select count(*) from {{ ref('full_set') }}) as n_full_set,
        (select count(*) from {{ ref('big_set') }}) as n_big_set,
        -- The unrated images scored and decided over (neurostock.yml `pool:`).
        (select count(*) from {{ ref('pool') }} where source_rating is null)
            as n_pool_unrated,
        (select count(*) from ratings) as n_rating_rows,
        (select count(distinct annotator_id) from ratings where annotator_id is not null)
            as n_annotators,
        (select count(*) from {{ ref('quarantine') }}) as n_quarantined,
        (select count(*) from files where status = 'ok') as n_files_ok,
        (select count(*) from files where status != 'ok') as n_files_not_ok,
        loads.source_path,
        loads.source_sha256,
        loads.finished_at as loaded_at,
    from loads

)

select * from final
