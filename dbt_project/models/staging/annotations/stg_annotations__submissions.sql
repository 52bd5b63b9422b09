with

source as (

    select * from {{ source('annotations', 'submissions') }}

),

final as (

    select
        pack_id,
        event,
        recorded_at,
        policy,
        policy_version,
        image_id,
        file_name,
        file_sha256,
        title,
        keywords,
        category_id,
        motif,
        out_dir,

    from source

)

select * from final
