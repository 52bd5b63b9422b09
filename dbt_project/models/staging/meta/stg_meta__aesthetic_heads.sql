with

source as (

    select * from {{ source('meta', 'aesthetic_heads') }}

),

final as (

    select
        head_id,
        clip_model,
        clip_pretrained,
        dim,
        weights,
        bias,
        source_file,
        source_sha256,
        licence,
        higher_is,
        description,

    from source

)

select * from final
