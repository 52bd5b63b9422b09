-- The source rows of the newest load whose text was not valid UTF-8: ingest wrote those
-- values into raw.* with their bad bytes escaped (bad\xff\xfe) and names the columns
-- here; int_images_checked and int_ratings_checked quarantine the rows.
with

source as (

    select * from {{ source('meta', 'load_invalid_text') }}

),

final as (

    select
        load_id,
        table_name,
        source_rowid,
        column_names,
        'not valid UTF-8, kept with its bad bytes escaped: '
            || array_to_string(column_names, ', ') as invalid_reason,

    from source

)

select * from final
