with

source as (

    select * from {{ source('meta', 'loads') }}

),

final as (

    select
        load_id,
        source_path,
        source_bytes,
        source_sha256,
        source_modified_at,
        started_at,
        finished_at,
        neurostock_version,
        duckdb_version,

    from source

)

select * from final
