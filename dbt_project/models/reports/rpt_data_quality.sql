-- One row per data-quality finding: quarantined source rows by table and reason,
-- and image files by status.
with

quarantined as (

    select
        'quarantine' as area,
        source_table || ': ' || primary_reason as finding,
        count(*) as n,
    from {{ ref('quarantine') }}
    group by all

),

files as (

    select 'image files' as area, status as finding, count(*) as n,
    from {{ ref('stg_files__images') }}
    group by all

),

final as (select * from quarantined union all select * from files)

select * from final order by area, n desc, finding
