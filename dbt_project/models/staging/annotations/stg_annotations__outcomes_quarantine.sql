with

source as (

    select * from {{ source('annotations', 'outcomes_quarantine') }}

),

final as (

    select
        import_id,
        imported_at,
        source_file,
        line_no,
        problem,
        detail,
        raw_row,

    from source

)

select * from final
