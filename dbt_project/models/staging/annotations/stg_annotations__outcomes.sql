with

source as (

    select * from {{ source('annotations', 'outcomes') }}

),

final as (

    select
        import_id,
        imported_at,
        source_file,
        line_no,
        image_id,
        pack_id,
        file_name,
        status,
        rejection_reason,
        downloads,
        earnings::double as earnings,
        outcome_date,

    from source

)

select * from final
