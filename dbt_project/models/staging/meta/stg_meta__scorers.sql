with

source as (

    select * from {{ source('meta', 'scorers') }}

),

final as (

    select
        scorer_id,
        kind,
        source_file,
        source_sha256,
        version,
        higher_is,
        expected_min,
        expected_max,
        is_valid,
        invalid_reason,
        n_scored,
        description,
        created_at,

    from source

)

select * from final
