with

source as (

    select * from {{ source('meta', 'load_tables') }}

),

final as (

    select
        load_id,
        table_name,
        source_rows,
        copied_rows,
        column_names,
        invalid_utf8_rows,

    from source

)

select * from final
