with

source as (

    select * from {{ source('meta', 'embedding_models') }}

),

final as (

    select
        embedder_id,
        library,
        library_version,
        model,
        pretrained,
        weights_path,
        weights_sha256,
        quick_gelu,
        preprocessing,
        dim,
        kinds,
        is_random_init,
        is_imported,
        fingerprint,
        registered_at,

    from source

)

select * from final
