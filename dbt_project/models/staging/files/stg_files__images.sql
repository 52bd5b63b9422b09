with

source as (

    select * from {{ source('files', 'images') }}

),

final as (

    select
        image_id,
        set_name,
        img_path,
        resolved_path,
        status,
        status_detail,
        bytes,
        sha256,
        width,
        height,
        format,
        mode,
        dataset_path,
        dataset_sha256,
        checked_at,
        -- The file's size and mtime when it was last read: unchanged, it is not read again.
        file_size,
        file_mtime_ns,

    from source

)

select * from final
