-- Nothing is lost: for each source table, raw rows = usable rows + quarantined rows.
-- (Staging is one row per raw row: its counts are raw's.)
-- Returns the tables where that fails.
with

counts as (

    select
        'img_info' as source_table,
        (select count(*) from {{ ref('stg_core__img_info') }}) as raw_rows,
        (select count(*) from {{ ref('int_images_checked') }} where is_valid) as usable_rows,
    union all
    select
        'metadata',
        (select count(*) from {{ ref('stg_core__ratings') }}),
        (select count(*) from {{ ref('int_ratings_checked') }} where is_valid),

),

quarantined as (

    select source_table, count(*) as quarantined_rows
    from {{ ref('quarantine') }}
    group by source_table

)

select counts.*, coalesce(quarantined.quarantined_rows, 0) as quarantined_rows
from counts
left join quarantined using (source_table)
where raw_rows != usable_rows + coalesce(quarantined.quarantined_rows, 0)
